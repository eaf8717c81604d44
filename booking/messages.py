"""Sentences for people: an English template and typed values, rendered in the reader's language.

A domain refusal, an alert or a notification carries a `Message`. Its template is English with
`{name}` fields and doubles as the message id of the translation catalogues (web/translations);
its values keep their type — an instant with its zone, a slot, a name in two languages, a word of
the domain's vocabulary — so that each language formats them its own way: "14:00–16:00 thứ Năm
04/12" in Vietnamese, "14:00–16:00 Thu 04/12" in English, never an ISO string. Nothing is rendered
where a message is made: alerts and notifications store it as JSON and render it when read, in the
reader's language, which is why a message must never be a sentence already composed in English.

The rendering is here (Babel is a plain library) so that the CLI, the logs, e-mails and pages all
format values alike; the catalogue lookup is the caller's (`translate`), English needing none.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal

LOCALES = {"vi": "vi_VN", "en": "en_GB"}

Translate = Callable[[str], str]


def english(text: str) -> str:
    """The English catalogue: message ids are English, so a message is its own translation."""
    return text


@dataclass(frozen=True, slots=True)
class At:
    """An instant shown as a local time and day: '14:00 thứ Năm 04/12'."""

    instant: datetime
    tz: str


@dataclass(frozen=True, slots=True)
class Slot:
    """A span shown as local times and day: '14:00–16:00 thứ Năm 04/12'."""

    start: datetime
    end: datetime
    tz: str


@dataclass(frozen=True, slots=True)
class TimeOfDay:
    """An instant shown as a local clock time only: '08:45'."""

    instant: datetime
    tz: str


@dataclass(frozen=True, slots=True)
class Day:
    """A calendar day: 'thứ Năm 04/12'."""

    day: date


@dataclass(frozen=True, slots=True)
class Minutes:
    """A number of minutes: '15 phút' / '15 min'."""

    minutes: int


@dataclass(frozen=True, slots=True)
class Hours:
    """A number of hours: '1,5 giờ' / '1.5 h'."""

    hours: float


@dataclass(frozen=True, slots=True)
class Name:
    """A name kept in both languages (a resource, a training, a plan); English falls back to Vietnamese."""

    vi: str
    en: str | None = None


@dataclass(frozen=True, slots=True)
class Term:
    """A word of the domain's vocabulary (a status, a period, a kind), translated by the catalogue."""

    word: str


Value: TypeAlias = (
    "str | int | float | At | Slot | TimeOfDay | Day | Minutes | Hours | Name | Term | Message | Items"
)


@dataclass(frozen=True, slots=True)
class Items:
    """Several messages shown one after another ('…; …')."""

    messages: tuple[Message, ...]


@dataclass(frozen=True, slots=True)
class Message:
    """An English template with `{field}`s and the typed values that fill them."""

    template: str
    values: Mapping[str, Value] = field(default_factory=dict)

    def render(self, language: str = "en", translate: Translate = english) -> str:
        """The sentence in `language`, the template looked up with `translate`."""
        text = translate(self.template)
        if not self.values:
            return text
        formatted = {name: _format(value, language, translate) for name, value in self.values.items()}
        try:
            return text.format_map(formatted)
        except (KeyError, IndexError, ValueError):
            # A translation that names a field the message lacks must not hide the message.
            return self.template.format_map(formatted)

    def english(self) -> str:
        """The sentence in English (logs, the command line, the API's default)."""
        return self.render("en", english)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form, for storing with an alert or a notification."""
        return {"t": self.template, "v": {name: _encode(value) for name, value in self.values.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        """The message stored by `to_json`."""
        values = data.get("v") or {}
        return cls(str(data["t"]), {str(name): _decode(value) for name, value in values.items()})


def message(template: str, /, **values: Value) -> Message:
    """A message from an English template and its values."""
    return Message(template, values)


# --- formatting ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _locale(language: str) -> Locale:
    return Locale.parse(LOCALES.get(language, LOCALES["en"]))


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def format_day(value: date, language: str) -> str:
    """'thứ Năm 04/12' / 'Thu 04/12'; the year is added when it is not this year's."""
    shown = f"{value.day:02d}/{value.month:02d}"
    if value.year != datetime.now(UTC).year:
        shown += f"/{value.year:04d}"
    return f"{_weekday(value.weekday(), language)} {shown}"


@functools.lru_cache(maxsize=32)
def _weekday(weekday: int, language: str) -> str:
    """The weekday's name as a sentence shows it (asked of babel once per language and day: a call
    costs more than the rest of a booking's message)."""
    monday = date(2024, 1, 1)  # a Monday
    day = monday + timedelta(days=weekday)
    if language == "vi":
        name = format_date(day, format="EEEE", locale=_locale("vi"))
        # Inside a sentence: "thứ Năm", while "Chủ Nhật" keeps its capital.
        return "thứ" + name[3:] if name.startswith("Thứ") else name
    return format_date(day, format="EEE", locale=_locale("en"))


def _clock(local: datetime) -> str:
    """'14:05' (as strftime's '%H:%M', in a fraction of its time: a booking's words name four)."""
    return f"{local.hour:02d}:{local.minute:02d}"


def format_at(instant: datetime, tz: ZoneInfo, language: str) -> str:
    """'14:00 thứ Năm 04/12'."""
    local = instant.astimezone(tz)
    return f"{_clock(local)} {format_day(local.date(), language)}"


def format_slot(start: datetime, end: datetime, tz: ZoneInfo, language: str) -> str:
    """'14:00–16:00 thứ Năm 04/12'; a slot ending at midnight ends at 24:00; longer ones name both days."""
    ls, le = start.astimezone(tz), end.astimezone(tz)
    if ls.date() == le.date():
        return f"{_clock(ls)}–{_clock(le)} {format_day(ls.date(), language)}"
    if le.hour == 0 and le.minute == 0 and (le.date() - ls.date()).days == 1:
        return f"{_clock(ls)}–24:00 {format_day(ls.date(), language)}"
    return f"{format_at(start, tz, language)} – {format_at(end, tz, language)}"


def format_number(value: float, language: str, digits: int = 2) -> str:
    """A number in the language's notation (1,5 / 1.5)."""
    pattern = "#,##0" + ("." + "#" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=_locale(language))


def _format(value: Value, language: str, translate: Translate) -> str:
    match value:
        case bool():
            return str(value)
        case int() | float():
            return format_number(value, language)
        case str():
            return value
        case At(instant, tz):
            return format_at(instant, _zone(tz), language)
        case Slot(start, end, tz):
            return format_slot(start, end, _zone(tz), language)
        case TimeOfDay(instant, tz):
            return _clock(instant.astimezone(_zone(tz)))
        case Day(day):
            return format_day(day, language)
        case Minutes(minutes):
            return f"{minutes} {'phút' if language == 'vi' else 'min'}"
        case Hours(hours):
            return f"{format_number(hours, language)} {'giờ' if language == 'vi' else 'h'}"
        case Name(vi, en):
            return en if language == "en" and en else vi
        case Term(word):
            return translate(word)
        case Message():
            return value.render(language, translate)
        case Items(messages):
            return "; ".join(item.render(language, translate) for item in messages)
    raise TypeError(f"cannot show a {type(value).__name__} in a message")  # pragma: no cover


# --- storing ------------------------------------------------------------------------------------


def _encode(value: Value) -> Any:
    match value:
        case bool() | int() | float() | str():
            return value
        case At(instant, tz):
            return {"at": instant.isoformat(), "tz": tz}
        case Slot(start, end, tz):
            return {"slot": [start.isoformat(), end.isoformat()], "tz": tz}
        case TimeOfDay(instant, tz):
            return {"clock": instant.isoformat(), "tz": tz}
        case Day(day):
            return {"day": day.isoformat()}
        case Minutes(minutes):
            return {"min": minutes}
        case Hours(hours):
            return {"h": hours}
        case Name(vi, en):
            return {"name": vi, "en": en}
        case Term(word):
            return {"term": word}
        case Message():
            return {"msg": value.to_json()}
        case Items(messages):
            return {"items": [item.to_json() for item in messages]}
    raise TypeError(f"cannot store a {type(value).__name__} in a message")  # pragma: no cover


def _decode(data: Any) -> Value:
    if not isinstance(data, dict):
        return data if isinstance(data, int | float | str) else str(data)
    if "at" in data:
        return At(datetime.fromisoformat(data["at"]), data["tz"])
    if "slot" in data:
        start, end = data["slot"]
        return Slot(datetime.fromisoformat(start), datetime.fromisoformat(end), data["tz"])
    if "clock" in data:
        return TimeOfDay(datetime.fromisoformat(data["clock"]), data["tz"])
    if "day" in data:
        return Day(date.fromisoformat(data["day"]))
    if "min" in data:
        return Minutes(int(data["min"]))
    if "h" in data:
        return Hours(float(data["h"]))
    if "name" in data:
        return Name(str(data["name"]), data.get("en"))
    if "term" in data:
        return Term(str(data["term"]))
    if "msg" in data:
        return Message.from_json(data["msg"])
    if "items" in data:
        return Items(tuple(Message.from_json(item) for item in data["items"]))
    return str(data)
