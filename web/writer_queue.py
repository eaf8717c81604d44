"""The processes writing to one SQLite file take turns for its write lock asleep, not polling.

SQLite tells a writer that another process holds the write lock only by refusing BEGIN IMMEDIATE; the
writer must try again (web/db.py polls every 0.1–0.5 ms). With two web workers taking turns a few
hundred times a second, that left the lock free for a fraction of each hand-off (the waiter was
asleep between tries) and spent the waiting process's CPU on tries that failed, on a machine whose two
cores also run the requests. Here each process first takes an advisory lock (`flock`) on a file
beside the database, and holds it for its write transaction: a process that waits sleeps in the
kernel and is woken as the holder lets go.

It is a queue only: BEGIN IMMEDIATE still decides. A process that does not take part (the `sqlite3`
shell, a backup tool) is waited for by polling, as before; a process that dies lets go of its lock
with its files. A wait is bounded: past its timeout the writer is told there is no write slot.

`flock` has no timeout, so one thread per engine (started at the first wait) sleeps in it for the
writer; a writer that gave up leaves the lock to be let go by that thread as soon as it gets it.
Within a process, writers already queue at web.db.WriteSlot: one at a time asks here.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows: writers poll, as they did
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

_IDLE, _WANTED, _HELD, _ABANDONED, _CLOSED = "idle", "wanted", "held", "abandoned", "closed"


class WriterQueue:
    """This process's place in the queue of the processes that write to one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._guard = threading.Lock()
        self._changed = threading.Condition(self._guard)
        self._state = _IDLE
        self._waiter: threading.Thread | None = None

    @classmethod
    def beside(cls, database: Path) -> WriterQueue | None:
        """The queue of the SQLite file `database` (its lock file `<name>-writers` beside it), or None
        where there are no advisory locks."""
        return cls(database.with_name(database.name + "-writers")) if fcntl is not None else None

    def acquire(self, timeout: float) -> bool:
        """This process's turn, waited for at most `timeout` seconds; True once it holds it (and then
        `release` must follow). Called by one thread of the process at a time."""
        with self._guard:
            if self._state == _CLOSED:
                return True  # the engine was disposed: BEGIN IMMEDIATE alone decides, as before
            self._open()  # before the waiting thread reads it
            if self._take_now():
                return True
            # Wanted (again, if an earlier writer gave up while the waiting thread still sleeps).
            self._state = _WANTED
            self._start_waiter()
            self._changed.notify_all()
            if self._changed.wait_for(lambda: self._state in (_HELD, _CLOSED), max(timeout, 0.0)):
                return True
            self._state = _ABANDONED
            return False

    def try_acquire(self) -> bool:
        """This process's turn if no other process holds it now (True; `release` must follow);
        False at once otherwise, nothing waited for and no place taken in the queue."""
        with self._guard:
            return self._state == _CLOSED or self._take_now()

    def _take_now(self) -> bool:
        """With `_guard` held: the turn if this process is not already waiting for it (a wait under
        way keeps its place) and no other process holds it now; False at once otherwise."""
        if self._state != _IDLE:
            return False
        try:
            fcntl.flock(self._open(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self._state = _HELD
        return True

    def release(self) -> None:
        """Let the next process in."""
        with self._guard:
            if self._state == _HELD and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                self._state = _IDLE

    def close(self) -> None:
        """Stop taking part (the engine was disposed): the waiting thread ends, the file is closed."""
        with self._guard:
            held = self._state == _HELD
            self._state = _CLOSED
            self._changed.notify_all()
            if self._fd is not None and (held or self._waiter is None):
                os.close(self._fd)  # closing the file lets go of its lock
                self._fd = None

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd

    def _start_waiter(self) -> None:
        if self._waiter is None:
            name = f"sqlite-writers {self.path.name}"
            self._waiter = threading.Thread(target=self._wait, name=name, daemon=True)
            self._waiter.start()

    def _wait(self) -> None:
        """The waiting thread: asleep in `flock` while this process wants its turn."""
        while True:
            with self._guard:
                self._changed.wait_for(lambda: self._state in (_WANTED, _CLOSED))
                if self._state == _CLOSED:
                    self._close_file()
                    return
                fd = self._fd
            if fd is None:  # pragma: no cover - opened before the state became WANTED
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:  # pragma: no cover - a closed file: the writer polls instead
                log.warning("the SQLite writers' queue %s failed: %s", self.path, exc)
                with self._guard:
                    self._state = _CLOSED
                    self._changed.notify_all()
                return
            with self._guard:
                if self._state == _WANTED:
                    self._state = _HELD
                    self._changed.notify_all()
                else:  # the writer gave up (or the engine was disposed) meanwhile: let the next one in
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    if self._state == _ABANDONED:
                        self._state = _IDLE
                    else:
                        self._close_file()
                        return

    def _close_file(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
