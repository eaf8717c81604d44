"""Settling a long-running process (web.process): what exists at start-up leaves the collector's passes,
what the process makes afterwards is still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from web import process


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.fixture
def settled() -> Iterator[None]:
    started = _Node()
    started.other = started  # a cycle alive at start-up
    process.settle()
    try:
        yield
    finally:
        gc.unfreeze()  # the test process's many apps must stay collectable


def test_what_exists_at_start_up_is_frozen(settled: None) -> None:
    assert gc.get_freeze_count() > 1000


def test_a_cycle_made_afterwards_is_still_collected(settled: None) -> None:
    made = _Node()
    made.other = made
    gone = weakref.ref(made)
    del made

    gc.collect()

    assert gone() is None


def test_start_up_garbage_is_collected_before_the_freeze() -> None:
    left = _Node()
    left.other = left
    gone = weakref.ref(left)
    del left
    try:
        process.settle()
        assert gone() is None
    finally:
        gc.unfreeze()
