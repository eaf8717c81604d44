"""Every query of alerts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, func, select

from devices.models import Alert, AlertKind


def get_alert(session: Session, alert_id: str) -> Alert | None:
    """The alert with this id, or None."""
    return session.get(Alert, alert_id)


def open_alert_by_key(session: Session, key: str) -> Alert | None:
    """The open alert for this condition, or None."""
    return session.exec(select(Alert).where(Alert.open_key == key)).first()


def list_alerts(
    session: Session,
    *,
    site_ids: Sequence[str] | None,
    open_only: bool,
    kind: AlertKind | None = None,
    machine_id: str | None = None,
    limit: int = 200,
) -> Sequence[Alert]:
    """Alerts, newest first."""
    query = select(Alert)
    if site_ids is not None:
        query = query.where(col(Alert.site_id).in_(site_ids))
    if open_only:
        query = query.where(col(Alert.resolved_at).is_(None))
    if kind is not None:
        query = query.where(Alert.kind == kind)
    if machine_id is not None:
        query = query.where(Alert.machine_id == machine_id)
    return session.exec(query.order_by(col(Alert.opened_at).desc()).limit(limit)).all()


def count_open_by_machine(session: Session, machine_ids: Sequence[str]) -> dict[str, int]:
    """How many open alerts each of these machines has (machines with none are left out)."""
    rows = session.exec(
        select(Alert.machine_id, func.count())
        .where(col(Alert.machine_id).in_(machine_ids), col(Alert.resolved_at).is_(None))
        .group_by(col(Alert.machine_id))
    ).all()
    return {machine_id: int(count) for machine_id, count in rows if machine_id is not None}
