"""Copy the front-end packages the pages need from node_modules/ into web/static/vendor/.

`make assets` runs `npm ci` (versions pinned in package.json and package-lock.json) and then
`python -m web.assets`. No third-party code is committed: web/static/vendor/ is git-ignored and is
rebuilt from the registry packages, so the pages work on a closed network once set up.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATIC = Path(__file__).resolve().parent / "static"
VENDOR = STATIC / "vendor"


@dataclass(frozen=True, slots=True)
class Asset:
    """One file of an npm package, and the name the pages load it under."""

    package: str
    source: str
    target: str


# The pages load exactly these files; base.html names the targets.
ASSETS: tuple[Asset, ...] = (Asset("htmx.org", "dist/htmx.min.js", "htmx.min.js"),)


def installed_version(node_modules: Path, package: str) -> str:
    """The version of an installed package, from its package.json."""
    manifest = json.loads((node_modules / package / "package.json").read_text(encoding="utf-8"))
    version: str = manifest["version"]
    return version


def copy_assets(node_modules: Path = ROOT / "node_modules", vendor: Path = VENDOR) -> list[Path]:
    """Copy every asset into `vendor`; FileNotFoundError naming the fix if a package is missing."""
    vendor.mkdir(parents=True, exist_ok=True)
    copied = []
    for asset in ASSETS:
        source = node_modules / asset.package / asset.source
        if not source.is_file():
            raise FileNotFoundError(f"{source} is missing: run `npm ci` first (or `make assets`)")
        target = vendor / asset.target
        shutil.copyfile(source, target)
        copied.append(target)
    # The versions, for operators and for the page footer's diagnostics.
    versions = {a.package: installed_version(node_modules, a.package) for a in ASSETS}
    (vendor / "versions.json").write_text(json.dumps(versions, indent=2) + "\n", encoding="utf-8")
    return copied


def missing_assets(vendor: Path = VENDOR) -> list[str]:
    """The asset files the pages need that are not in `vendor` yet."""
    return [a.target for a in ASSETS if not (vendor / a.target).is_file()]


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m web.assets`."""
    parser = argparse.ArgumentParser(prog="python -m web.assets", description=__doc__)
    parser.add_argument("--node-modules", type=Path, default=ROOT / "node_modules")
    args = parser.parse_args(argv)
    try:
        copied = copy_assets(args.node_modules)
    except FileNotFoundError as exc:
        print(f"web.assets: {exc}", file=sys.stderr)
        return 1
    for path in copied:
        print(f"web.assets: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
