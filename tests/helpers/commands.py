"""Reading a ``swift sft`` command back, and the CLI that prints one: flags and values, the dry run's run id."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from core.base.workspace import Workspace
from core.train.launch import DRY_RUN_ID
from tui.cli import main


def flag_values(argv: Sequence[str]) -> dict[str, list[str]]:
    """Each ``--flag`` of a ``swift sft`` argv (after ``swift sft``) with the words that follow it."""
    values: dict[str, list[str]] = {}
    current = ""
    for part in argv[2:]:
        if part.startswith("--"):
            current = part[2:]
            values[current] = []
        else:
            values[current].append(part)
    return values


def with_run_id(argv: list[str], run_id: str) -> list[str]:
    """A dry run's argv with the run id it could not know put in place of its placeholder."""
    assert sum(DRY_RUN_ID in part for part in argv) == 1, "the placeholder is in the output folder alone"
    return [part.replace(DRY_RUN_ID, run_id) for part in argv]


def cli(capsys: pytest.CaptureFixture[str], ws: Workspace, *args: str) -> str:
    """``mhbench`` run in this process on ``ws``; what it printed, after checking it exited 0."""
    code = main(["--workspace", str(ws.root), *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def mhbench(*args: str, workspace: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run mhbench in ``workspace``, made first: a named workspace must exist (`mhbench demo` or mkdir)."""
    if workspace is not None:
        workspace.mkdir(parents=True, exist_ok=True)
    prefix = ["--workspace", str(workspace)] if workspace else []
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *prefix, *args], capture_output=True, text=True, timeout=300
    )
