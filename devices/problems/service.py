"""Problem reports: a member (or a passer-by at the kiosk) tells the site's managers that a machine or
a room has a problem, with a photo if they like; each report opens its own alert, and the member
follows it to "resolved". Never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from booking.catalogue import service as catalogue
from booking.errors import InvalidRequest, NotFound
from booking.members.actors import Actor
from booking.messages import message
from booking.spans import zone
from devices.alerts import service as alerts
from devices.models import AlertKind, Machine, ProblemReport, new_id
from devices.problems import repository as repo
from devices.problems.rules import (
    MAX_OPEN_PER_MEMBER,
    ReportState,
    check_description,
    photo_type,
    state_of,
)


@dataclass(frozen=True, slots=True)
class ReportView:
    """A report as its member sees it: what, where, when, and how far the managers have got."""

    report: ProblemReport
    resource_name: str
    state: ReportState
    note: str
    tz: ZoneInfo


def report(
    session: Session,
    resource_id: str,
    description: str,
    now: datetime,
    *,
    member_id: str | None,
    reporter: str,
    photo: bytes | None = None,
) -> ProblemReport:
    """Record a problem with a resource and open an alert for its site's managers; `reporter` is the
    name the managers read (a member's name, or "at the kiosk")."""
    text = check_description(description)
    media_type = photo_type(photo) if photo else None
    resource = catalogue.get_resource_or_raise(session, resource_id)
    if member_id is not None and repo.count_open_reports(session, member_id) >= MAX_OPEN_PER_MEMBER:
        raise InvalidRequest(
            "you already have {count} problems reported that are not resolved yet; the managers will "
            "get to them",
            count=MAX_OPEN_PER_MEMBER,
        )
    report_id = new_id()
    machine_id = resource.id if session.get(Machine, resource.id) is not None else None
    alert = alerts.open_alert(
        session,
        AlertKind.reported,
        resource.site_id,
        machine_id,
        message(
            "{name} reports a problem with {resource}: {text}",
            name=reporter,
            resource=resource.name,
            text=text,
        ),
        now,
        key=f"reported:{report_id}",
        member_id=member_id,
    )
    if alert is None:  # A fresh id cannot already be open; say so rather than lose the report.
        raise InvalidRequest("the report could not be recorded; please try again")
    problem = ProblemReport(
        id=report_id,
        site_id=resource.site_id,
        resource_id=resource.id,
        member_id=member_id,
        description=text,
        photo=photo or None,
        photo_type=media_type,
        alert_id=alert.id,
        created_at=now,
    )
    session.add(problem)
    session.flush()
    return problem


def my_reports(session: Session, member_id: str) -> list[ReportView]:
    """The member's reports, newest first, each with where the managers have got."""
    views = []
    for problem, alert in repo.member_reports(session, member_id):
        resource = catalogue.get_resource_or_raise(session, problem.resource_id)
        views.append(
            ReportView(
                report=problem,
                resource_name=resource.name,
                state=state_of(alert.acknowledged_at, alert.resolved_at),
                note=alert.note,
                tz=zone(catalogue.get_site_or_raise(session, problem.site_id).timezone),
            )
        )
    return views


def photo_of(session: Session, actor: Actor, report_id: str) -> tuple[bytes, str]:
    """A report's photo and its media type, for the member who sent it and the site's managers."""
    problem = repo.get_report(session, report_id)
    allowed = problem is not None and (problem.member_id == actor.id or actor.manages(problem.site_id))
    if problem is None or not allowed or problem.photo is None or problem.photo_type is None:
        raise NotFound("there is no photo '{report}'", report=report_id)
    return problem.photo, problem.photo_type


def photo_of_alert(session: Session, actor: Actor, alert_id: str) -> tuple[bytes, str]:
    """The photo of the report that opened the alert (the site's managers)."""
    problem = repo.report_of_alert(session, alert_id)
    if problem is None:
        raise NotFound("there is no photo '{report}'", report=alert_id)
    return photo_of(session, actor, problem.id)


def alerts_with_photos(session: Session, alert_ids: list[str]) -> set[str]:
    """Which of the alerts have a reported photo to show."""
    return repo.alerts_with_photos(session, alert_ids)
