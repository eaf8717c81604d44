"""CI cannot pass on skips: under FABLAB_TEST_REQUIRE a missing PostgreSQL, broker or browser fails the run.

Each test runs pytest (or the preflight) in a subprocess with the services pointed at closed ports
and a Chromium that does not exist, once with the switch and once without.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
REQUIRE_ALL = "postgres,mqtt,browser"
# One real test of each kind: a PostgreSQL variant, a broker test, a browser journey.
SELECTION = [
    "tests/test_migrations.py::TestMigrations::test_schema_matches_the_models",
    "tests/firmware_bridge/test_client.py::TestTraffic::test_a_sink_that_fails_is_counted_not_raised",
    "tests/e2e/test_journeys.py::TestKioskJourney::test_cannot_open_member_pages",
]
CONFTEST_PROBE = """
from tests.conftest import pytest_configure, pytest_runtest_makereport  # the project's hooks

__all__ = ["pytest_configure", "pytest_runtest_makereport"]
"""
TESTS_PROBE = """
import pytest

@pytest.mark.mqtt
def test_marked_for_the_broker():
    pytest.skip("a plain skip with no word of why")

def test_names_postgresql_in_its_reason():
    pytest.skip("PostgreSQL went away")

@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_postgresql_variant(backend):
    pytest.skip("no reason given")

def test_skipped_for_a_reason_of_its_own():
    pytest.skip("only on Tuesdays")
"""


def _env(require: str | None) -> dict[str, str]:
    closed = free_port()
    env = {
        **os.environ,
        "FABLAB_TEST_PG_URL": f"postgresql+psycopg://postgres@127.0.0.1:{closed}/test",
        "FABLAB_TEST_MQTT_URL": f"mqtt://127.0.0.1:{closed}",
        "FABLAB_TEST_CHROMIUM": "/nonexistent/chromium",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("FABLAB_TEST_REQUIRE", None)
    if require is not None:
        env["FABLAB_TEST_REQUIRE"] = require
    return env


def _pytest(args: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def _selected_ids() -> list[str]:
    """Fail early and clearly if a selected test was renamed (the probes below would prove nothing)."""
    listed = _pytest(["--collect-only", *SELECTION], _env(None))
    assert listed.returncode == 0, listed.stdout + listed.stderr
    return SELECTION


@pytest.mark.slow
class TestRequiredServices:
    def test_the_switch_fails_a_run_whose_services_are_missing(self) -> None:
        run = _pytest(_selected_ids(), _env(REQUIRE_ALL))
        output = run.stdout + run.stderr
        assert run.returncode == 1, output
        assert "FABLAB_TEST_REQUIRE requires postgres, but PostgreSQL unreachable" in output
        assert "FABLAB_TEST_REQUIRE requires mqtt, but Mosquitto is not reachable at 127.0.0.1:" in output
        assert "FABLAB_TEST_REQUIRE requires browser, but /nonexistent/chromium is not installed" in output
        assert " skipped" not in output.splitlines()[-1]

    def test_without_the_switch_the_same_run_skips_loudly(self) -> None:
        run = _pytest(_selected_ids(), _env(None))
        output = run.stdout + run.stderr
        assert run.returncode == 0, output
        assert "!! PostgreSQL is NOT reachable" in output
        assert "SKIPPED" in output
        assert "Mosquitto is not reachable at 127.0.0.1:" in output
        assert "/nonexistent/chromium is not installed" in output
        assert "3 skipped" in output.splitlines()[-1]

    def test_any_other_skip_of_a_required_service_fails_too(self, tmp_path: Path) -> None:
        (tmp_path / "conftest.py").write_text(CONFTEST_PROBE)
        (tmp_path / "test_probe.py").write_text(TESTS_PROBE)
        (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    mqtt: needs the broker\n")
        args = [
            "-p",
            "no:randomly",
            "--rootdir",
            str(tmp_path),
            "-c",
            str(tmp_path / "pytest.ini"),
            str(tmp_path),
        ]
        run = _pytest(args, _env("postgres,mqtt"), cwd=tmp_path)
        output = run.stdout + run.stderr
        assert run.returncode == 1, output
        assert "FAILED test_probe.py::test_marked_for_the_broker" in output
        assert "FAILED test_probe.py::test_names_postgresql_in_its_reason" in output
        assert "FAILED test_probe.py::test_a_postgresql_variant[postgresql]" in output
        assert "requires mqtt, but this test was skipped: a plain skip with no word of why" in output
        assert "SKIPPED [1] test_probe.py:16: only on Tuesdays" in output

    def test_an_unknown_service_is_a_usage_error(self) -> None:
        run = _pytest(["--collect-only", "tests/test_migrations.py"], _env("postgres,redis"))
        assert run.returncode == 4
        assert "FABLAB_TEST_REQUIRE='postgres,redis' names redis" in run.stderr


class TestPreflight:
    def _preflight(self, require: str | None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tests.preflight"],
            cwd=ROOT,
            env=_env(require),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def test_exits_non_zero_naming_each_required_service_that_is_missing(self) -> None:
        run = self._preflight(REQUIRE_ALL)
        assert run.returncode == 1
        failed = [line for line in run.stderr.splitlines() if "FAILED" in line]
        assert len(failed) == 3, run.stderr
        assert "PostgreSQL unreachable" in failed[0]
        assert "requires postgres" in failed[0]
        assert "Mosquitto unreachable at 127.0.0.1:" in failed[1]
        assert "chromium is not installed, and FABLAB_TEST_REQUIRE requires browser" in failed[2]

    def test_only_warns_without_the_switch(self) -> None:
        run = self._preflight(None)
        assert run.returncode == 0
        assert "FAILED" not in run.stderr
        assert "PostgreSQL unreachable" in run.stderr
        assert "will be SKIPPED" in run.stderr
