"""The edge side's commands: `fablab gateway` and `fablab simulate` (placeholder until issue 4)."""

from __future__ import annotations

import argparse
from typing import Any


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the edge commands to the `fablab` parser."""
