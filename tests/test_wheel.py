"""The built wheel is the whole center: installed (not editable) into a fresh venv, `fablab demo` serves
pages with htmx, from its own files.

The wheel is built from a copy of the source as a fresh clone has it (no web/static/vendor/), with
node_modules/ beside it as after `npm ci`, and without build isolation, so nothing is downloaded.
The fresh venv gets the wheel with --no-deps and finds its dependencies in the test venv's
site-packages through a .pth line (which adds that directory but runs none of its .pth files, so the
project's editable install there stays out of the way).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _run(command: list[str], cwd: Path, timeout: float = 300) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _fresh_clone(target: Path) -> Path:
    """The project's files as git has them (tracked, plus new files not ignored), nothing built."""
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(source.read_bytes())
    assert not (target / "web" / "static" / "vendor").exists()
    (target / "node_modules").symlink_to(ROOT / "node_modules", target_is_directory=True)
    return target


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (ROOT / "node_modules" / "htmx.org").is_dir():
        pytest.fail("node_modules/ is missing: run `make assets` (npm ci) first")
    source = _fresh_clone(tmp_path_factory.mktemp("clone"))
    dist = tmp_path_factory.mktemp("dist")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            str(source),
        ],
        source,
    )
    (built,) = dist.glob("fablab_hub-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel; its `bin` directory."""
    home = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(home)
    python = home / "bin" / "python"
    site = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], home).strip()
    )
    (site / "_fablab_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)], home)
    return home / "bin"


class TestWheel:
    def test_carries_the_assets_templates_translations_and_migrations(self, wheel: Path) -> None:
        names = set(zipfile.ZipFile(wheel).namelist())
        for required in (
            "web/static/vendor/htmx.min.js",
            "web/static/vendor/versions.json",
            "web/static/app.css",
            "web/static/app.js",
            "web/templates/base.html",
            "web/templates/portal/home.html",
            "web/translations/vi/LC_MESSAGES/messages.po",
            "web/migrations/env.py",
            "web/migrations/script.py.mako",
            "web/migrations/versions/0001_booking_core.py",
        ):
            assert required in names, f"{required} is not in {wheel.name}"
        templates = {n for n in names if n.startswith("web/templates/")}
        shipped = {str(p.relative_to(ROOT)) for p in (ROOT / "web" / "templates").rglob("*.html")}
        assert templates == shipped


@pytest.fixture
def demo(installed: Path, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FABLAB_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(
        FABLAB_DATA_DIR=str(tmp_path / "data"),
        FABLAB_DATABASE_URL=f"sqlite:///{tmp_path / 'fablab.db'}",
        FABLAB_EMBEDDED_BROKER_PORT=str(free_port()),
    )
    process = subprocess.Popen(
        [str(installed / "fablab"), "demo", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read() if process.stdout else ""
                raise AssertionError(f"`fablab demo` from the wheel did not come up:\n{output[-3000:]}")
            time.sleep(0.2)
        yield base, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


class TestInstalledWheel:
    def test_runs_from_its_own_files(self, installed: Path, tmp_path: Path) -> None:
        where = _run([str(installed / "python"), "-c", "import web; print(web.__file__)"], tmp_path)
        assert where.strip().startswith(str(installed.parent)), where

    def test_fablab_demo_serves_pages_with_htmx(self, demo: tuple[str, subprocess.Popen[str]]) -> None:
        base, process = demo
        page = httpx.get(f"{base}/signin", timeout=10)
        assert page.status_code == 200
        scripts = re.findall(r'<script src="([^"]+)"', page.text)
        assert "/static/vendor/htmx.min.js" in scripts
        asset = httpx.get(f"{base}/static/vendor/htmx.min.js", timeout=10)
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith(("application/javascript", "text/javascript"))
        assert "htmx" in asset.text[:2000]
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        assert "front-end assets missing" not in output
        assert "FabLab Hub demo is running at" in output
