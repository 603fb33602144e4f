"""What every ``mhbench`` command shares: its one voice on stderr and the workspace it works in.

Nothing heavy at import time: ``mhbench --help`` imports every command module, and each of
them this one, so the workspace code loads only when a command asks for its workspace.
"""

from __future__ import annotations

import argparse
import sys
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
