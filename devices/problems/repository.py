"""The problem reports' queries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import defer
from sqlmodel import Session, col, func, select

from devices.models import Alert, ProblemReport


def get_report(session: Session, report_id: str) -> ProblemReport | None:
    """The report with this id (its photo included), or None."""
    return session.get(ProblemReport, report_id)


def report_of_alert(session: Session, alert_id: str) -> ProblemReport | None:
    """The report that opened the alert, or None."""
    return session.exec(select(ProblemReport).where(ProblemReport.alert_id == alert_id)).first()


def member_reports(
    session: Session, member_id: str, limit: int = 50
) -> Sequence[tuple[ProblemReport, Alert]]:
    """The member's reports with their alerts, newest first (photos not loaded)."""
    query = (
        select(ProblemReport, Alert)
        .join(Alert, col(Alert.id) == col(ProblemReport.alert_id))
        .where(ProblemReport.member_id == member_id)
        .options(defer(ProblemReport.photo))  # type: ignore[arg-type]
        .order_by(col(ProblemReport.created_at).desc())
        .limit(limit)
    )
    return session.exec(query).all()


def count_open_reports(session: Session, member_id: str) -> int:
    """How many of the member's reports are not resolved yet."""
    query = (
        select(func.count())
        .select_from(ProblemReport)
        .join(Alert, col(Alert.id) == col(ProblemReport.alert_id))
        .where(ProblemReport.member_id == member_id, col(Alert.resolved_at).is_(None))
    )
    return int(session.exec(query).one())


def alerts_with_photos(session: Session, alert_ids: Sequence[str]) -> set[str]:
    """Which of these alerts came from a report with a photo."""
    if not alert_ids:
        return set()
    query = select(ProblemReport.alert_id).where(
        col(ProblemReport.alert_id).in_(alert_ids), col(ProblemReport.photo_type).is_not(None)
    )
    return set(session.exec(query).all())
