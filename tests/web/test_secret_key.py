"""`fablab serve` never runs on a secret anyone can read in this repository."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from web.server import kept_secret
from web.settings import DEV_SECRET, Settings
from web.tokens import TokenCodec


def test_with_no_secret_one_is_made_once_and_kept_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FABLAB_SECRET_KEY", raising=False)
    first = kept_secret(Settings(data_dir=tmp_path, secret_key=DEV_SECRET))
    kept = tmp_path / "secret_key"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert first.secret_key == kept.read_text().strip()
    assert first.secret_key != DEV_SECRET
    assert len(first.secret_key) >= 32
    assert os.environ["FABLAB_SECRET_KEY"] == first.secret_key  # what the worker processes read
    again = kept_secret(Settings(data_dir=tmp_path, secret_key=DEV_SECRET))
    assert again.secret_key == first.secret_key  # a restart keeps everyone signed in
    # A token forged with the published development secret is not one of this center's.
    forged = TokenCodec(DEV_SECRET, 3600).issue("admin", 1)
    assert TokenCodec(first.secret_key, 3600).read(forged) is None


@pytest.mark.parametrize(
    "secret", ["change-me-to-64-random-characters", "change-me-to-64-random-characters" * 3, DEV_SECRET + "x"]
)
def test_serve_refuses_a_published_secret(tmp_path: Path, secret: str) -> None:
    env = {
        **os.environ,
        "FABLAB_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "FABLAB_SECRET_KEY": secret,
        "FABLAB_ENVIRONMENT": "production",
        "FABLAB_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "web.cli", "serve", "--port", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "FABLAB_SECRET_KEY is a value printed in FabLab Hub's own files" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "secret_key").exists()
