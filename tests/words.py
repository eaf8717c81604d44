"""Expected sentences in tests: a slot or a day as the domain's messages show them in English.

The messages add the year only when it is not the current one, so tests build the expected text with
the same formatting instead of spelling it out.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from booking.messages import format_day, format_slot

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def en_slot(text: str, tz: ZoneInfo = HCM) -> str:
    """'2027-03-02 14:00–15:00' (local) as an English message shows it: '14:00–15:00 Tue 02/03/2027'."""
    first, _, last = text.partition("–")
    start = datetime.fromisoformat(first).replace(tzinfo=tz)
    end = (
        datetime.fromisoformat(last).replace(tzinfo=tz)
        if len(last) > 5
        else datetime.fromisoformat(f"{first[:10]} {'00:00' if last == '24:00' else last}").replace(tzinfo=tz)
    )
    if last == "24:00":
        end += timedelta(days=1)
    return format_slot(start, end, tz, "en")


def en_day(text: str) -> str:
    """'2027-03-01' as an English message shows it: 'Mon 01/03/2027'."""
    return format_day(date.fromisoformat(text), "en")
