"""Settling a long-running process (web.process): what exists at start-up leaves the collector's passes,
what the process makes afterwards is still collected, and threads take turns often."""

from __future__ import annotations

import gc
import sys
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
    interval = sys.getswitchinterval()
    process.settle()
    try:
        yield
    finally:
        gc.unfreeze()  # the test process's many apps must stay collectable
        sys.setswitchinterval(interval)


def test_what_exists_at_start_up_is_frozen(settled: None) -> None:
    assert gc.get_freeze_count() > 1000


def test_a_cycle_made_afterwards_is_still_collected(settled: None) -> None:
    made = _Node()
    made.other = made
    gone = weakref.ref(made)
    del made

    gc.collect()

    assert gone() is None


def test_threads_take_turns_every_half_millisecond(settled: None) -> None:
    assert sys.getswitchinterval() == pytest.approx(process.SWITCH_INTERVAL_S)


def test_start_up_garbage_is_collected_before_the_freeze() -> None:
    left = _Node()
    left.other = left
    gone = weakref.ref(left)
    del left
    interval = sys.getswitchinterval()
    try:
        process.settle()
        assert gone() is None
    finally:
        gc.unfreeze()
        sys.setswitchinterval(interval)
