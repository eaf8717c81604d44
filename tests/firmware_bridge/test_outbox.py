"""The gateway's SQLite store: ordered outbox, command log and grants, surviving a reopen."""

from __future__ import annotations

from pathlib import Path

from firmware_bridge.edge.outbox import EdgeStore, StoredGrant
from tests.firmware_bridge.helpers import at


class TestOutbox:
    def test_keeps_order_across_a_reopen_until_acknowledged(self, tmp_path: Path) -> None:
        path = tmp_path / "edge.sqlite3"
        store = EdgeStore(path)
        ids = [
            store.enqueue(f"t/{n}", f"p{n}".encode(), qos=1, retain=False, created=at(n)) for n in range(5)
        ]
        store.delete(ids[0])
        store.close()
        reopened = EdgeStore(path)
        rows = reopened.pending()
        assert [(r.topic, r.payload) for r in rows] == [(f"t/{n}", f"p{n}".encode()) for n in (1, 2, 3, 4)]
        assert [r.topic for r in reopened.pending(after_id=rows[1].id, limit=1)] == ["t/3"]
        assert reopened.outbox_size() == 4


class TestCommandLog:
    def test_remembers_ids_across_a_reopen(self, tmp_path: Path) -> None:
        path = tmp_path / "edge.sqlite3"
        store = EdgeStore(path)
        assert not store.seen_command("c-1")
        assert store.remember_command("c-1", "laser-1", at(0))
        assert not store.remember_command("c-1", "laser-1", at(1))
        store.close()
        assert EdgeStore(path).seen_command("c-1")

    def test_forgets_old_ids(self, tmp_path: Path) -> None:
        store = EdgeStore(tmp_path / "edge.sqlite3")
        store.remember_command("old", "laser-1", at(0))
        store.remember_command("new", "laser-1", at(100))
        assert store.forget_commands_before(at(50)) == 1
        assert not store.seen_command("old")
        assert store.seen_command("new")


class TestGrants:
    def test_saves_replaces_and_clears(self, tmp_path: Path) -> None:
        store = EdgeStore(tmp_path / "edge.sqlite3")
        store.save_grant(StoredGrant("laser-1", "s-1", at(0), at(600)))
        store.save_grant(StoredGrant("laser-1", "s-2", at(10), at(900)))
        store.save_grant(StoredGrant("cnc-1", "s-3", at(20), at(80)))
        assert store.grants() == [
            StoredGrant("cnc-1", "s-3", at(20), at(80)),
            StoredGrant("laser-1", "s-2", at(10), at(900)),
        ]
        store.clear_grant("cnc-1")
        assert [g.machine for g in store.grants()] == ["laser-1"]
