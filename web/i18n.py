"""Languages of the pages: Vietnamese first, English second; Babel catalogues and local formats.

The catalogues are the `.po` files under web/translations/ (committed, reviewed as text). They are
compiled in memory when a process first needs them, so no binary `.mo` lives in git and no build step
can be forgotten. Message ids are English; Vietnamese is the default language of every page.

To refresh the catalogues after changing a template, a page or a domain message: `make messages`,
which extracts `_()`/`gettext()` calls and the first argument of every domain error and `message()`
(`MESSAGE_KEYWORDS` below), then updates the `.po` files;
and translate the new entries in web/translations/vi/LC_MESSAGES/messages.po; `tests/web` fails
while a message of the pages has no Vietnamese translation.

Domain sentences (refusals, alerts, notifications) are `booking.messages.Message`s: an English
template, which is their message id here too, and typed values; `say` renders one in a language.
The API answers in English unless `Accept-Language` asks for Vietnamese; pages in the reader's.

Formats: dates and times in the site's time zone in the page's language; money always as Vietnamese
đồng in Vietnamese notation (500.000 ₫); other numbers in the page language's notation.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent
from babel.support import Translations
from markupsafe import Markup

from booking.messages import Message

LANGUAGES: tuple[str, ...] = ("vi", "en")
# The calls whose first argument is a domain message template (extracted like `_()`).
MESSAGE_KEYWORDS = (
    "DomainError",
    "NotFound",
    "Conflict",
    "QuotaExceeded",
    "NotPermitted",
    "InvalidRequest",
    "Unauthenticated",
    "TooManyAttempts",
    "Unavailable",
    "message",
    "Term",
)
DEFAULT_LANGUAGE = "vi"
LOCALES = {"vi": "vi_VN", "en": "en_GB"}
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"


def normalise(language: str | None) -> str:
    """A language of the pages, the default for anything else."""
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


@functools.lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> Translations:
    """The compiled catalogue of a language (an empty one for English, whose ids are the text)."""
    po_path = TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po_path.is_file():
        return Translations()
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain="messages")


class Gettext:
    """The `_`, `gettext` and `ngettext` of one language, as templates and pages call them.

    Like Jinja's "new style" gettext: keyword arguments fill `%(name)s` placeholders, and in
    templates the values are escaped while the translated text is trusted.
    """

    def __init__(self, language: str) -> None:
        self.language = normalise(language)
        self._t = translations(self.language)

    def gettext(self, message: str, **values: Any) -> str:
        """The translation of `message`, with `values` filled in (plain text)."""
        text = self._t.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        """The singular or plural translation for `n` (`%(num)s` is `n`)."""
        text = self._t.ngettext(singular, plural, n)
        return text % {"num": n, **values}

    def markup(self, message: str, **values: Any) -> Markup:
        """For templates: the translation as trusted markup, the values escaped into it."""
        # The catalogues are ours and trusted; the values are escaped by Markup's % operator.
        text = Markup(self._t.gettext(message))  # noqa: S704
        return text % values if values else text

    def nmarkup(self, singular: str, plural: str, n: int, **values: Any) -> Markup:
        """For templates: ngettext with escaping."""
        return Markup(self._t.ngettext(singular, plural, n)) % {"num": n, **values}  # noqa: S704


def say(message: Message, language: str) -> str:
    """A domain message (a refusal, an alert, a notification) as a sentence in the language."""
    language = normalise(language)
    return message.render(language, translations(language).gettext)


def accept_language(header: str | None, default: str = "en") -> str:
    """The first of our languages that an `Accept-Language` header asks for, by weight; else `default`."""
    if not header:
        return default
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        primary = tag.strip().lower().split("-", 1)[0]
        if primary in LANGUAGES and weight > 0:
            ranked.append((-weight, position, primary))
    return min(ranked)[2] if ranked else default


@dataclass(frozen=True, slots=True)
class Formatter:
    """Dates, times, numbers and money for one language, dates shown in a given time zone."""

    language: str

    @property
    def locale(self) -> Locale:
        return Locale.parse(LOCALES[self.language])

    def when(self, value: datetime, tz: ZoneInfo) -> str:
        """'Th 2, 01/03/2027 09:00' / 'Mon 1 Mar 2027, 09:00' in the zone."""
        local = value.astimezone(tz)
        return f"{self.weekday_short(local.date())}, {self.short_date(local.date())} {local:%H:%M}"

    def short_date(self, value: date) -> str:
        """01/03/2027 (vi) or 1 Mar 2027 (en)."""
        return format_date(value, format="medium" if self.language == "en" else "dd/MM/y", locale=self.locale)

    def day(self, value: date) -> str:
        """A column heading: 'Thứ Hai 01/03' / 'Mon 1 Mar'."""
        pattern = "EEEE dd/MM" if self.language == "vi" else "EEE d MMM"
        return format_date(value, format=pattern, locale=self.locale)

    def weekday_short(self, value: date) -> str:
        """'Th 2' / 'Mon'."""
        return format_date(value, format="EEE", locale=self.locale)

    def weekday_name(self, weekday: int) -> str:
        """The name of a weekday (0 = Monday)."""
        return str(self.locale.days["format"]["wide"][weekday])

    def long_date(self, value: date) -> str:
        """'Thứ Hai, 1 tháng 3, 2027' / 'Monday, 1 March 2027'."""
        return format_date(value, format="full", locale=self.locale)

    def clock(self, value: datetime | time, tz: ZoneInfo | None = None) -> str:
        """24-hour HH:MM, in the zone when given an instant."""
        if isinstance(value, datetime) and tz is not None:
            value = value.astimezone(tz)
        return format_time(value, format="HH:mm", locale=self.locale)

    def span(self, start: datetime, end: datetime, tz: ZoneInfo) -> str:
        """'Th 2, 01/03/2027 09:00–10:30' (the end's date only when it differs)."""
        ls, le = start.astimezone(tz), end.astimezone(tz)
        if ls.date() == le.date():
            return f"{self.when(start, tz)}–{le:%H:%M}"
        return f"{self.when(start, tz)} – {self.when(end, tz)}"

    def month(self, value: date) -> str:
        """'tháng 3 2027' / 'March 2027'."""
        return format_date(value, format="LLLL y", locale=self.locale)

    def number(self, value: float, digits: int = 2) -> str:
        """A decimal in the language's notation with at most `digits` decimals (1,5 / 1.5)."""
        pattern = "#,##0" + ("." + "#" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    def hours(self, value: float) -> str:
        """'1,5 giờ' / '1.5 h'."""
        return f"{self.number(value)} {'giờ' if self.language == 'vi' else 'h'}"

    def percent(self, value: float) -> str:
        """'12 %' / '12%'."""
        return format_percent(
            value, format="#,##0 %" if self.language == "vi" else "#,##0%", locale=self.locale
        )

    def money(self, vnd: int) -> str:
        """Vietnamese đồng in Vietnamese notation whatever the page language: '500.000 ₫'."""
        return format_currency(vnd, "VND", locale="vi_VN")

    def iso_date(self, value: datetime, tz: ZoneInfo) -> str:
        """The local date as YYYY-MM-DD (for links and form values)."""
        return value.astimezone(tz).date().isoformat()
