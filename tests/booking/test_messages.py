"""Messages for people: typed values formatted per language, stored as JSON, translated by a catalogue."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from booking.errors import Conflict
from booking.messages import (
    At,
    Day,
    Hours,
    Items,
    Message,
    Minutes,
    Name,
    Slot,
    Term,
    TimeOfDay,
    Value,
    message,
)

HCM = "Asia/Ho_Chi_Minh"
YEAR = datetime.now(UTC).year
# 07:00 UTC is 14:00 in Hồ Chí Minh City; 4 December of this year.
START = datetime(YEAR, 12, 4, 7, 0, tzinfo=UTC)
END = datetime(YEAR, 12, 4, 9, 0, tzinfo=UTC)
WEEKDAY_VI = {0: "thứ Hai", 1: "thứ Ba", 2: "thứ Tư", 3: "thứ Năm", 4: "thứ Sáu", 5: "thứ Bảy", 6: "Chủ Nhật"}
WEEKDAY_EN = {0: "Mon", 1: "Tue", 2: "Wed", 3: "Thu", 4: "Fri", 5: "Sat", 6: "Sun"}
VI = {
    "{resource} is booked {slot}": "{resource} đã được đặt {slot}",
    "confirmed": "đã xác nhận",
    "the booking is {status}": "lượt đặt {status}",
}


def _vi(text: str) -> str:
    return VI.get(text, text)


class TestRender:
    @pytest.mark.parametrize(
        ("value", "vi", "en"),
        [
            (
                At(START, HCM),
                f"14:00 {WEEKDAY_VI[START.weekday()]} 04/12",
                f"14:00 {WEEKDAY_EN[START.weekday()]} 04/12",
            ),
            (
                Slot(START, END, HCM),
                f"14:00–16:00 {WEEKDAY_VI[START.weekday()]} 04/12",
                f"14:00–16:00 {WEEKDAY_EN[START.weekday()]} 04/12",
            ),
            (TimeOfDay(START, HCM), "14:00", "14:00"),
            (TimeOfDay(datetime(YEAR, 3, 1, 18, 5, tzinfo=UTC), HCM), "01:05", "01:05"),
            (Day(date(2031, 1, 2)), "thứ Năm 02/01/2031", "Thu 02/01/2031"),
            (Minutes(15), "15 phút", "15 min"),
            (Hours(1.5), "1,5 giờ", "1.5 h"),
            (Name("Máy cắt laser 1", "Laser cutter 1"), "Máy cắt laser 1", "Laser cutter 1"),
            (Name("Phòng họp A"), "Phòng họp A", "Phòng họp A"),
            (1234.5, "1.234,5", "1,234.5"),
        ],
    )
    def test_formats_each_value_in_each_language(self, value: Value, vi: str, en: str) -> None:
        assert Message("{v}", {"v": value}).render("vi", _vi) == vi
        assert Message("{v}", {"v": value}).english() == en

    def test_a_slot_ending_at_midnight_ends_at_24(self) -> None:
        start = datetime(2031, 1, 2, 15, 0, tzinfo=UTC)  # 22:00 local
        end = datetime(2031, 1, 2, 17, 0, tzinfo=UTC)  # 00:00 the next day
        assert Message("{s}", {"s": Slot(start, end, HCM)}).english() == "22:00–24:00 Thu 02/01/2031"

    def test_an_overnight_slot_names_both_days(self) -> None:
        start = datetime(2031, 1, 2, 15, 0, tzinfo=UTC)
        end = datetime(2031, 1, 2, 20, 0, tzinfo=UTC)
        assert (
            Message("{s}", {"s": Slot(start, end, HCM)}).render("vi", _vi)
            == "22:00 thứ Năm 02/01/2031 – 03:00 thứ Sáu 03/01/2031"
        )

    def test_the_template_and_terms_are_translated(self) -> None:
        taken = message("{resource} is booked {slot}", resource=Name("Laser 1"), slot=Slot(START, END, HCM))
        assert taken.render("vi", _vi).startswith("Laser 1 đã được đặt 14:00–16:00")
        assert message("the booking is {status}", status=Term("confirmed")).render("vi", _vi) == (
            "lượt đặt đã xác nhận"
        )

    def test_nested_messages_and_lists_render_in_the_same_language(self) -> None:
        inner = message("the booking is {status}", status=Term("confirmed"))
        outer = Message("{all}", {"all": Items((inner, inner))})
        assert outer.render("vi", _vi) == "lượt đặt đã xác nhận; lượt đặt đã xác nhận"

    def test_a_translation_naming_a_missing_field_falls_back_to_english(self) -> None:
        broken = {"{resource} is booked {slot}": "{resource} {nope}"}
        taken = message("{resource} is booked {slot}", resource="Laser 1", slot="x")
        assert taken.render("vi", lambda t: broken.get(t, t)) == "Laser 1 is booked x"

    def test_user_text_with_braces_is_shown_as_it_is(self) -> None:
        assert message("note: {note}", note="{slot} {0}").english() == "note: {slot} {0}"
        assert Message("a plain {sentence}").english() == "a plain {sentence}"


class TestStore:
    def test_every_kind_of_value_survives_json(self) -> None:
        original = message(
            "{a} {b} {c} {d} {e} {f} {g} {h} {i} {j} {k}",
            a=At(START, HCM),
            b=Slot(START, END, HCM),
            c=TimeOfDay(START, HCM),
            d=Day(date(2031, 1, 2)),
            e=Minutes(15),
            f=Hours(2.5),
            g=Name("Phòng", "Room"),
            h=Term("confirmed"),
            i=message("the booking is {status}", status=Term("confirmed")),
            j=Items((message("x {n}", n=3),)),
            k="plain",
        )
        restored = Message.from_json(original.to_json())
        assert restored == original
        assert restored.render("vi", _vi) == original.render("vi", _vi)


class TestDomainError:
    def test_carries_the_message_and_says_it_in_english(self) -> None:
        error = Conflict("{resource} is booked {slot}", resource=Name("Laser 1"), slot=Slot(START, END, HCM))
        assert error.detail.startswith("Laser 1 is booked 14:00–16:00")
        assert str(error) == error.detail
        assert error.message.render("vi", _vi).startswith("Laser 1 đã được đặt")

    def test_a_plain_sentence_still_works(self) -> None:
        assert Conflict("the slot is taken").detail == "the slot is taken"
