"""What every ``mhbench`` command shares: its one voice on stderr and the workspace it works in.

Nothing heavy at import time: ``mhbench --help`` imports every command module, and each of
them this one, so the workspace code loads only when a command asks for its workspace.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.base.workspace import Workspace


def say(message: str) -> None:
    """A progress line or warning: stderr, so that stdout stays what scripts capture."""
    print(f"mhbench: {message}", file=sys.stderr, flush=True)


def command_workspace(args: argparse.Namespace) -> Workspace:
    """The workspace a command reads: it must exist (a typo is not an empty workspace) and be writable."""
    from core.base.workspace import resolve

    return resolve(args.workspace, must_exist=True)


def opened_workspace(args: argparse.Namespace) -> Workspace:
    """:func:`command_workspace` with its database created or migrated, for commands that write to it."""
    from core.base.db import open_workspace

    return open_workspace(command_workspace(args))


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: an integer from ``low`` to ``high``, refused while parsing, before any work."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if value < low or (high is not None and value > high):
            span = f"at least {low}" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"must be {span}, not {value}")
        return value

    return parse


def real_number(low: float, high: float | None = None, *, above_low: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite number from ``low`` (or above it) to ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
        too_low = value <= low if above_low else value < low
        if not math.isfinite(value) or too_low or (high is not None and value > high):
            bound = f"above {low}" if above_low else f"at least {low}"
            span = bound if high is None else f"{bound} and at most {high}"
            raise argparse.ArgumentTypeError(f"must be {span}, not {text}")
        return value

    return parse


POSITIVE = whole_number(1)
PORT = whole_number(1, 65535)
# Seeds are stored as SQLite integers and passed to servers that take 32-bit seeds.
SEED = whole_number(0, 2**32 - 1)
SHARE = real_number(0.0, 1.0, above_low=True)
