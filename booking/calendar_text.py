"""iCalendar text (RFC 5545), written straight: the few properties our feeds and invitations carry.

A general iCalendar library builds an object per property and parameter and folds each line in
Python character by character; every booking's e-mail carries an invitation, so that cost more than
the rest of the e-mail. Here an entry is a list of (property, value) pairs, and a value is written by
its type: text is escaped (backslash, semicolon, comma, newline), an instant is UTC
(`20270301T020000Z`), a duration is `PT1H`, and each line is folded at 75 octets without splitting a
character.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

# A property's value: text, an instant, a duration, or a whole number.
Value = str | datetime | timedelta | int
Entry = list[tuple[str, Value]]

LINE_OCTETS = 75


def calendar(properties: Entry, components: Iterable[tuple[str, Entry]]) -> bytes:
    """A VCALENDAR of the properties and components (each a name such as VEVENT and its entry)."""
    lines = ["BEGIN:VCALENDAR"]
    lines.extend(_line(name, value) for name, value in properties)
    for kind, entry in components:
        lines.append(f"BEGIN:{kind}")
        lines.extend(_line(name, value) for name, value in entry)
        lines.append(f"END:{kind}")
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines).encode()


def _line(name: str, value: Value) -> str:
    name = name.upper()
    if isinstance(value, datetime):
        return f"{name}:{instant(value)}"
    if isinstance(value, timedelta):
        parameters = ";VALUE=DURATION" if name == "REFRESH-INTERVAL" else ""
        return f"{name}{parameters}:{duration(value)}"
    if isinstance(value, int):
        return f"{name}:{value}"
    return f"{name}:{escape(value)}"


def instant(value: datetime) -> str:
    """An aware instant as UTC DATE-TIME: 20270301T020000Z."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given where an aware instant is required")
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def duration(value: timedelta) -> str:
    """A non-negative DURATION in days and time: P1D, PT1H, PT1H30M, PT0S."""
    seconds = int(value.total_seconds())
    if seconds < 0:
        raise ValueError("a negative duration is not written here")
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    if days and not time:
        return f"P{days}D"
    return f"P{days}DT{time}" if days else f"PT{time or '0S'}"


def escape(text: str) -> str:
    """TEXT escaped: backslash, semicolon, comma and line breaks."""
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def _fold(line: str) -> str:
    """The line split into parts of at most 75 octets, each after the first led by a space."""
    data = line.encode()
    if len(data) <= LINE_OCTETS:
        return line
    parts: list[str] = []
    start, limit = 0, LINE_OCTETS
    while start < len(data):
        end = min(start + limit, len(data))
        # Never cut a UTF-8 character: step back over continuation bytes (10xxxxxx).
        while end < len(data) and data[end] & 0xC0 == 0x80:
            end -= 1
        parts.append(data[start:end].decode())
        start, limit = end, LINE_OCTETS - 1  # a continuation line spends one octet on its space
    return "\r\n ".join(parts)
