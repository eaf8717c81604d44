"""The gateway's small on-disk state: the event outbox, the command log and the open grants.

One SQLite file (stdlib `sqlite3`, WAL, `synchronous=FULL` so a committed event survives a power cut):
- `outbox`: every event, in the order it was made, until the broker acknowledged it (PUBACK). Events
  survive a broker outage and a gateway restart and go out in order; a row is deleted only after its
  PUBACK, so delivery is at least once and the center dedups by `event_id`.
- `commands`: every `cmd_id` seen, so a repeated command is answered `duplicate` even after a restart.
- `grants`: the open `unlock` of each machine and its deadline, so a restarted gateway still switches
  the machine off in time.
The gateway's worker thread is the store's user; a lock makes the odd read from another thread (a
test, a status line) safe.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from firmware_bridge.contract.messages import format_ts, parse_ts

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    cmd_id TEXT PRIMARY KEY,
    machine TEXT NOT NULL,
    seen TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS commands_seen ON commands (seen);
CREATE TABLE IF NOT EXISTS grants (
    machine TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    deadline TEXT NOT NULL
);
"""
SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One event waiting for its PUBACK."""

    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass(frozen=True, slots=True)
class StoredGrant:
    """An `unlock` in force: the session it opened and when the machine must be off."""

    machine: str
    session_id: str
    started_at: datetime
    deadline: datetime


@dataclass(frozen=True, slots=True)
class _Result:
    rows: list[Any]
    rowcount: int
    lastrowid: int | None

    def fetchall(self) -> list[Any]:
        return self.rows

    def fetchone(self) -> Any:
        return self.rows[0] if self.rows else None


class EdgeStore:
    """The outbox, command log and grants of one gateway, in one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # The worker thread owns the store; the gateway may open it in another thread before that.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        """Close the database file."""
        with self._lock:
            self._db.close()

    def _execute(self, sql: str, parameters: tuple[object, ...] = ()) -> _Result:
        with self._lock:
            cursor = self._db.execute(sql, parameters)
            return _Result(cursor.fetchall(), cursor.rowcount, cursor.lastrowid)

    # -- outbox --

    def enqueue(self, topic: str, payload: bytes, *, qos: int, retain: bool, created: datetime) -> int:
        """Append one message to the outbox; return its row id (the send order)."""
        cursor = self._execute(
            "INSERT INTO outbox (topic, payload, qos, retain, created) VALUES (?, ?, ?, ?, ?)",
            (topic, payload, qos, int(retain), format_ts(created)),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def pending(self, after_id: int = 0, limit: int = 100) -> list[OutboxRow]:
        """Up to `limit` waiting messages after `after_id`, oldest first."""
        rows = self._execute(
            "SELECT id, topic, payload, qos, retain FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        ).fetchall()
        return [OutboxRow(r[0], r[1], bytes(r[2]), r[3], bool(r[4])) for r in rows]

    def delete(self, row_id: int) -> None:
        """Forget a message the broker acknowledged."""
        self._execute("DELETE FROM outbox WHERE id = ?", (row_id,))

    def outbox_size(self) -> int:
        """How many messages wait for the broker."""
        (count,) = self._execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(count)

    # -- command log --

    def seen_command(self, cmd_id: str) -> bool:
        """True if this `cmd_id` was executed before."""
        row = self._execute("SELECT 1 FROM commands WHERE cmd_id = ?", (cmd_id,)).fetchone()
        return row is not None

    def remember_command(self, cmd_id: str, machine: str, seen: datetime) -> bool:
        """Record an executed `cmd_id`; False if it was recorded before."""
        cursor = self._execute(
            "INSERT OR IGNORE INTO commands (cmd_id, machine, seen) VALUES (?, ?, ?)",
            (cmd_id, machine, format_ts(seen)),
        )
        return cursor.rowcount == 1

    def forget_commands_before(self, before: datetime) -> int:
        """Drop command ids older than `before` (kept long enough to outlive any redelivery)."""
        cursor = self._execute("DELETE FROM commands WHERE seen < ?", (format_ts(before),))
        return cursor.rowcount

    # -- grants --

    def save_grant(self, grant: StoredGrant) -> None:
        """Record (or replace) the grant in force on a machine."""
        self._execute(
            "INSERT OR REPLACE INTO grants (machine, session_id, started_at, deadline) VALUES (?, ?, ?, ?)",
            (
                grant.machine,
                grant.session_id,
                format_ts(grant.started_at),
                format_ts(grant.deadline),
            ),
        )

    def clear_grant(self, machine: str) -> None:
        """The machine has no grant in force any more."""
        self._execute("DELETE FROM grants WHERE machine = ?", (machine,))

    def grants(self) -> list[StoredGrant]:
        """Every grant in force."""
        rows = self._execute(
            "SELECT machine, session_id, started_at, deadline FROM grants ORDER BY machine"
        ).fetchall()
        return [StoredGrant(r[0], r[1], parse_ts(r[2]), parse_ts(r[3])) for r in rows]
