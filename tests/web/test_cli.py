"""The `fablab` command line, run as a real process against a real database file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _cli(
    env: dict[str, str], *args: str, stdin: str = "", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`fablab <args>` run as its own process with this environment."""
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def _fablab(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FABLAB_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "FABLAB_ENVIRONMENT": "test",
    }
    return _cli(env, *args, stdin=stdin)


class TestCli:
    def test_help_lists_every_command(self, tmp_path: Path) -> None:
        result = _fablab(tmp_path, "--help")
        assert result.returncode == 0
        for command in ("demo", "serve", "gateway", "simulate", "db", "seed", "users", "trainings"):
            assert command in result.stdout

    def test_upgrade_seed_add_grant(self, tmp_path: Path) -> None:
        assert _fablab(tmp_path, "db", "upgrade").returncode == 0
        seeded = _fablab(tmp_path, "seed", "demo")
        assert (seeded.returncode, seeded.stdout.strip()) == (0, "demo center loaded")
        again = _fablab(tmp_path, "seed", "demo")
        assert again.stdout.strip() == "demo center already present; nothing changed"
        added = _fablab(
            tmp_path,
            "users",
            "add",
            "Hoa@Example.org",
            "--role",
            "member",
            "--plan",
            "maker",
            "--name",
            "Hoa",
            "--card",
            "04aabbcc",
            stdin="a long password\n",
        )
        assert (added.returncode, added.stdout.strip()) == (0, "created member hoa@example.org (id hoa)")
        granted = _fablab(tmp_path, "trainings", "grant", "hoa@example.org", "laser-safety")
        assert granted.returncode == 0
        assert granted.stdout.startswith("hoa@example.org now holds laser-safety, valid until ")

    def test_machines_add_registers_a_bookable_machine(self, tmp_path: Path) -> None:
        assert _fablab(tmp_path, "db", "upgrade").returncode == 0
        assert _fablab(tmp_path, "seed", "demo").returncode == 0
        args = ("machines", "add", "laser-9", "--site", "biic", "--name", "Laser 9", "--gateway", "gw-new")
        added = _fablab(tmp_path, *args, "--adapter", "tasmota", "--quota-group", "laser")
        assert (added.returncode, added.stdout.strip()) == (
            0,
            "registered machine laser-9 at biic, spoken for by gateway gw-new",
        )
        again = _fablab(tmp_path, *args)
        assert (again.returncode, again.stderr.strip()) == (
            1,
            "fablab: a resource with id 'laser-9' already exists",
        )

    @pytest.mark.parametrize(
        ("args", "stdin", "code", "message"),
        [
            (
                ("users", "add", "lan@fablab.local", "--role", "member"),
                "a long password\n",
                1,
                "fablab: an account with the e-mail lan@fablab.local already exists",
            ),
            (
                ("users", "add", "x@example.org", "--role", "member"),
                "short\n",
                1,
                "fablab: password: String should have at least 10 characters",
            ),
            (
                ("users", "add", "x@example.org", "--role", "member"),
                "12345678901\n",
                1,
                "fablab: this password is among the first a guesser would try; "
                "add a few words or characters of your own",
            ),
            (
                ("users", "add", "k@example.org", "--role", "kiosk"),
                "a long password\n",
                1,
                "fablab: a kiosk account is bound to exactly one site (--site)",
            ),
            (
                ("users", "add", "x@example.org", "--role", "wizard"),
                "a long password\n",
                2,
                "fablab users add: argument --role: invalid choice: 'wizard'",
            ),
            (
                ("trainings", "grant", "lan@fablab.local", "juggling"),
                "",
                1,
                "fablab: there is no training 'juggling'",
            ),
            (
                ("trainings", "grant", "nobody@fablab.local", "cnc-basics"),
                "",
                1,
                "fablab: there is no member 'nobody@fablab.local'",
            ),
        ],
    )
    def test_user_errors_are_one_line(
        self, tmp_path: Path, args: tuple[str, ...], stdin: str, code: int, message: str
    ) -> None:
        _fablab(tmp_path, "seed", "demo")
        result = _fablab(tmp_path, *args, stdin=stdin)
        assert result.returncode == code
        assert result.stderr.strip().splitlines()[-1].startswith(message)
        assert "Traceback" not in result.stderr

    def test_unreachable_database_is_one_line(self, tmp_path: Path) -> None:
        env = {**os.environ, "FABLAB_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
        result = _cli(env, "db", "upgrade", timeout=60)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines()[-1].startswith("fablab: cannot reach the database:")
        assert "Traceback" not in result.stderr


class TestLogLevel:
    def _upgrade(self, tmp_path: Path, level: str | None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "FABLAB_DATABASE_URL": f"sqlite:///{tmp_path / 'log.db'}"}
        env.pop("FABLAB_LOG_LEVEL", None)
        if level is not None:
            env["FABLAB_LOG_LEVEL"] = level
        return _cli(env, "db", "upgrade")

    def test_the_default_level_logs_what_the_center_does(self, tmp_path: Path) -> None:
        done = self._upgrade(tmp_path, None)

        assert done.returncode == 0, done.stderr
        assert " INFO " in done.stderr

    def test_fablab_log_level_quiets_the_centers_own_log_too(self, tmp_path: Path) -> None:
        done = self._upgrade(tmp_path, "warning")

        assert done.returncode == 0, done.stderr
        assert " INFO " not in done.stderr
        assert "up to date" in done.stdout

    def test_a_level_that_does_not_exist_is_named(self, tmp_path: Path) -> None:
        done = self._upgrade(tmp_path, "loud")

        assert done.returncode == 1
        assert "bad setting FABLAB_LOG_LEVEL" in done.stderr
