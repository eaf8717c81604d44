"""Every sentence the domain says to a person is a template with typed values, and has its Vietnamese.

A refusal composed as an f-string reaches a Vietnamese page in English, with ISO dates: the template
(an English message id) never matches the catalogue. These checks read the source, so a new refusal
that breaks the rule fails here before anyone meets it on a page.
"""

from __future__ import annotations

import ast
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from booking.messages import message
from web.i18n import MESSAGE_KEYWORDS, say

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("booking", "devices", "firmware_bridge", "web")
# Building a sentence out of pieces: the catalogue can never hold the result.
COMPOSED = (ast.JoinedStr, ast.BinOp)


def _composed_messages() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name not in MESSAGE_KEYWORDS or name == "Term":
                    continue
                first = node.args[0]
                joined = isinstance(first, ast.Call) and getattr(first.func, "attr", None) in (
                    "join",
                    "format",
                )
                if isinstance(first, COMPOSED) or joined:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(first)[:80]}")
    return found


def _templates() -> set[str]:
    keywords: dict[str, None] = dict.fromkeys(MESSAGE_KEYWORDS)
    found = set()
    for package in ("booking", "devices", "web"):
        for _file, _line, text, _comments, _context in extract_from_dir(
            str(ROOT / package), [("**.py", "python")], keywords=keywords
        ):
            found.add(text if isinstance(text, str) else text[0])
    return found


def test_no_domain_sentence_is_composed_from_pieces() -> None:
    assert _composed_messages() == []


def test_every_domain_sentence_has_its_vietnamese() -> None:
    with (ROOT / "web/translations/vi/LC_MESSAGES/messages.po").open("rb") as po:
        catalog = read_po(po)
    translated = {m.id for m in catalog if isinstance(m.id, str) and m.id and m.string}
    templates = _templates()
    assert len(templates) > 100, "the domain's templates were not found"
    assert sorted(templates - translated) == []


def test_a_refusal_reads_in_vietnamese_with_local_times() -> None:
    from datetime import UTC, datetime

    from booking.messages import Slot

    taken = message(
        "{resource} is booked {slot}",
        resource="Laser 1",
        slot=Slot(
            datetime(2031, 3, 6, 7, tzinfo=UTC), datetime(2031, 3, 6, 9, tzinfo=UTC), "Asia/Ho_Chi_Minh"
        ),
    )
    assert say(taken, "vi") == "Laser 1 đã có người đặt 14:00–16:00 thứ Năm 06/03/2031"
    assert say(taken, "en") == "Laser 1 is booked 14:00–16:00 Thu 06/03/2031"
