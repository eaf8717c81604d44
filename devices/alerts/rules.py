"""Pure rules of alerts: which condition an alert stands for, and how notes accumulate."""

from __future__ import annotations

from devices.models import AlertKind


def condition_key(kind: AlertKind, machine_id: str | None, plan_id: int | None = None) -> str:
    """The key of the condition an alert stands for: one open alert per key."""
    return f"{kind.value}:{machine_id}:{plan_id or ''}"


def add_note(notes: str, note: str) -> str:
    """The alert's notes with one more line (an empty note adds nothing)."""
    return (notes + "\n" + note).strip() if note else notes
