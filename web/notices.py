"""Notifications as people read them: a title per kind and the sentence in the reader's language.

Shared by the in-app inbox (pages and API) and the e-mails (web/outbox.py).
"""

from __future__ import annotations

from booking.messages import Message
from booking.models import Notification
from web.i18n import Gettext, say

# The title of each kind of message (message ids of the catalogues).
TITLES = {
    "confirmed": "Your booking is confirmed",
    "pending": "Your booking awaits approval",
    "series_booked": "Your recurring booking",
    "event_registered": "Your registration",
    "event_promoted": "A seat freed up for you",
    "event_cancelled": "An event was cancelled",
    "event_moved": "An event's times changed",
    "event_message": "A message about your event",
    "training_granted": "A training was granted to you",
    "no_show": "Your booking was released",
    "out_of_service": "Something you booked is out of service",
    "rejected": "Your booking was declined",
    "approved": "Your booking was approved",
    "cancelled": "Your booking was cancelled",
    "waitlist": "A slot freed up for you",
    "moved": "Your booking was moved",
    "closure": "A closure affects your booking",
    "reminder": "Reminder",
    "approval_needed": "A booking awaits your approval",
    "training_expiring": "A training of yours expires soon",
    "alert_fault": "A machine reported a fault",
    "alert_offline": "A machine went offline",
    "alert_due": "Maintenance is due",
    "alert_overdue": "Maintenance is overdue",
    "alert_unbooked_use": "A machine was used without a booking",
    "alert_quota": "A member ran out of quota",
    "alert_reported": "A problem was reported",
    "password_reset": "A link to choose a new password",
    "verify_email": "Confirm your e-mail address",
    "signup_exists": "Someone tried to sign up with your address",
    "email_change": "Confirm your new e-mail address",
    "email_change_asked": "Your account's address is being changed",
    "account_approved": "Your account was approved",
    "account_refused": "Your request for an account",
    "member_waiting": "A new member awaits your approval",
    "ending_soon": "Your booking ends soon",
    "digest": "Today at the center",
    "webhook_disabled": "A webhook was switched off",
}
DEFAULT_TITLE = "A message from FabLab Hub"
# Sent by e-mail whatever the member chose: what their account's safety depends on.
ESSENTIAL = frozenset(
    {
        "password_reset",
        "verify_email",
        "signup_exists",
        "email_change",
        "email_change_asked",
        "account_refused",
    }
)
# The kinds a member may choose to read in the app only, in the order the preferences list them.
OPTIONAL = tuple(kind for kind in TITLES if kind not in ESSENTIAL)


def title(kind: str, language: str) -> str:
    return Gettext(language).gettext(TITLES.get(kind, DEFAULT_TITLE))


def body(notification: Notification, language: str) -> str:
    """The sentence in the reader's language; an older row without its message stays in English."""
    if notification.data:
        return say(Message.from_json(notification.data), language)
    return notification.message
