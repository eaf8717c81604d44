"""Check-in codes: short, from an alphabet without look-alike characters, every character as likely."""

from __future__ import annotations

from collections import Counter

from booking.security import CODE_ALPHABET, CODE_LENGTH, new_booking_code


def test_a_code_is_eight_characters_of_the_alphabet() -> None:
    codes = {new_booking_code() for _ in range(2000)}
    assert len(codes) == 2000  # 31⁸ codes: a repeat in 2,000 draws would mean a broken draw
    assert {len(code) for code in codes} == {CODE_LENGTH}
    assert set().union(*codes) <= set(CODE_ALPHABET)


def test_every_character_is_drawn_about_as_often_at_every_position() -> None:
    draws = [new_booking_code() for _ in range(31 * 300)]
    for position in range(CODE_LENGTH):
        counts = Counter(code[position] for code in draws)
        assert set(counts) == set(CODE_ALPHABET)
        # 300 expected each; a biased draw (e.g. a modulo of a byte) leaves some far from it.
        assert min(counts.values()) > 200, counts
        assert max(counts.values()) < 400, counts
