"""The words of the CSV files people download from the pages: headers and values in the reader's
language (the API's CSV keeps its machine-readable columns; CONTRACT §3). Numbers keep a dot for
decimals, so a spreadsheet in any locale reads them."""

from __future__ import annotations

from collections.abc import Callable

# Message ids of the catalogues.
KIND_WORDS = {
    "room": "Meeting room",
    "desk_pool": "Co-working desks",
    "stem_space": "STEM space",
    "training_room": "Training room",
    "online_room": "Online-meeting room",
    "machine": "Machine",
}
REGISTRATION_WORDS = {
    "registered": "registered",
    "waitlisted": "on the waiting list",
    "cancelled": "cancelled",
}
SECTION_WORDS = {
    "events": "Events",
    "spaces": "Rooms and spaces",
    "machines": "Machines",
    "members": "Members",
    "trainings": "Trainings",
}
MEASURE_WORDS = {
    "events": "events",
    "sessions": "sessions",
    "registered": "registered",
    "attended": "attended",
    "judged": "judged",
    "absent": "absent",
    "bookings": "bookings",
    "booked_hours": "booked hours",
    "used_hours": "used hours",
    "no_shows": "no-shows",
    "runtime_hours": "runtime hours",
    "jobs": "jobs",
    "energy_kwh": "energy (kWh)",
    "members": "members",
    "granted": "granted",
}
ITEM_WORDS = {
    **KIND_WORDS,
    "workshop": "Workshop",
    "class": "Class",
    "training": "Training",
    "event": "Event",
    "active": "active",
    "new": "new",
}


def word(words: dict[str, str], value: str, gettext: Callable[[str], str]) -> str:
    """A value's word in the reader's language (itself when it has none: a name)."""
    return gettext(words[value]) if value in words else value


def yes_no(value: bool, gettext: Callable[[str], str]) -> str:
    return gettext("yes") if value else gettext("no")
