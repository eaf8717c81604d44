"""Packaging hook: every wheel carries the pages' front-end assets.

web/static/vendor/ is built from the pinned npm packages (package.json, package-lock.json) and is not
in git, so a wheel built from a fresh clone would serve pages without htmx. Before the Python files
are copied, `build_py` copies the assets from node_modules/ (running `npm ci` first when there is
none) exactly as `make assets` does, and the wheel ships them as package data of `web.static`.
Editable installs (`make install`) are left alone: there `make assets` fills the source tree itself.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _assets_module() -> ModuleType:
    # Loaded from its file: the build runs before `web` is importable as an installed package.
    spec = importlib.util.spec_from_file_location("_fablab_web_assets", ROOT / "web" / "assets.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {ROOT / 'web' / 'assets.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class BuildPyWithAssets(build_py):
    """`build_py` that first makes sure web/static/vendor/ holds every front-end asset."""

    def run(self) -> None:
        if not getattr(self, "editable_mode", False):
            self._vendor_assets()
        super().run()

    def _vendor_assets(self) -> None:
        assets = _assets_module()
        node_modules = ROOT / "node_modules"
        if not node_modules.is_dir() and assets.missing_assets():
            npm = shutil.which("npm")
            if npm is None:
                raise SystemExit(
                    "building FabLab Hub needs its front-end assets: install Node.js with npm "
                    "(or run `make assets` on a machine that has it) and build again"
                )
            print("fablab-hub: npm ci (front-end packages pinned in package-lock.json)", flush=True)
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True)  # noqa: S603
        if node_modules.is_dir():
            for path in assets.copy_assets(node_modules):
                print(f"fablab-hub: {path.relative_to(ROOT)}", flush=True)


setup(cmdclass={"build_py": BuildPyWithAssets})
