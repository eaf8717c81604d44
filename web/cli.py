"""The `fablab` command line (CONTRACT §4)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from firmware_bridge import edge_cli

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line and exits 2, without the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fablab", description="FabLab Hub: book and watch a maker center.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    edge_cli.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
