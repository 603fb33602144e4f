"""Training runs: the registry of detached runs that outlive every UI, and their control.

A run (started by :mod:`core.train.launch`) is a supervisor (``python -m core.train.runner RUN_DIR``) in its own session and
process group, with ``swift sft`` as its child in the same group. The supervisor
records the exit code, the checkpoints and a diagnosis; the TUI and the CLI only
read the registry and the run's files, so they can quit, crash or lose SSH at any
moment. A pid is trusted only together with its process start time, so a reused
pid is never mistaken for a run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.base.db import find_row, registry
from core.base.errors import MhbenchError
from core.base.lineage import walk_lineage
from core.base.processes import (
    await_group_exit,
    group_alive,
    kill_processes,
    launch_abandoned,
    process_alive,
    process_tree,
    signal_group,
    utc_now,
)
from core.base.workspace import Workspace
from core.train.distributed import TORCHRUN_DEFAULT_PORT, Topology

ACTIVE_STATUSES = frozenset({"starting", "running", "stopping"})
RUN_FILE = "run.json"
"""The run's spec in its folder: the argv and env the supervisor executes (see core.train.launch)."""
EXIT_FILE = "exit.json"
STDOUT_FILE = "stdout.log"
NEVER_STARTED: Mapping[str, str] = {
    "kind": "launch_failed",
    "summary": "the run's supervisor was never started (whatever launched it stopped first).",
    "fix": "start the run again.",
}


@dataclass(frozen=True)
class RunRecord:
    """One row of the registry."""

    id: str
    name: str
    profile: str
    parent_id: str | None
    resume_from: str | None
    run_dir: Path
    output_dir: Path
    argv: tuple[str, ...]
    env: Mapping[str, str]
    status: str
    pid: int | None
    pgid: int | None
    start_time: float | None
    exit_code: int | None
    signal: str | None
    stop_requested: bool
    created_at: str
    started_at: str | None
    ended_at: str | None
    last_step: int | None
    max_steps: int | None
    last_loss: float | None
    last_checkpoint: str | None
    diagnosis: Mapping[str, Any] | None
    node_rank: int = 0
    """This machine's rank in a multi-node run; swift writes ``logging.jsonl`` on rank 0 only."""
    nnodes: int = 1

    @property
    def writes_log(self) -> bool:
        """Whether swift writes this run's ``logging.jsonl`` here (only the master node does)."""
        return self.node_rank == 0

    @property
    def node_label(self) -> str:
        """``node 1/2`` for a multi-node run, empty otherwise."""
        return f"node {self.node_rank}/{self.nnodes}" if self.nnodes > 1 else ""

    @property
    def node_note(self) -> str | None:
        """Why a worker node's curve is empty (swift logs on rank 0 only); ``None`` on node 0."""
        if self.writes_log:
            return None
        return (f"{self.node_label}: swift logs the loss on node 0 only; watch the curve there. "
                "This node's output is in the log below.")

    @property
    def topology(self) -> Topology:
        """The nodes and processes the run was started with, read back from its environment."""
        nproc = self.env.get("NPROC_PER_NODE")
        port = self.env.get("MASTER_PORT")
        return Topology(self.nnodes, self.node_rank, int(nproc) if nproc else None, self.env.get("MASTER_ADDR"),
                        int(port) if port else TORCHRUN_DEFAULT_PORT, port is not None)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def logging_path(self) -> Path:
        return self.output_dir / "logging.jsonl"

    @property
    def stdout_path(self) -> Path:
        return self.run_dir / STDOUT_FILE

    @property
    def progress_text(self) -> str:
        if self.last_step is None:
            return "–"
        return f"{self.last_step}/{self.max_steps}" if self.max_steps else str(self.last_step)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RunRecord:
        return cls(
            id=row["id"],
            name=row["name"],
            profile=row["profile"],
            parent_id=row["parent_id"],
            resume_from=row["resume_from"],
            run_dir=Path(row["run_dir"]),
            output_dir=Path(row["output_dir"]),
            argv=tuple(json.loads(row["argv"])),
            env=json.loads(row["env"]),
            status=row["status"],
            pid=row["pid"],
            pgid=row["pgid"],
            start_time=row["start_time"],
            exit_code=row["exit_code"],
            signal=row["signal"],
            stop_requested=bool(row["stop_requested"]),
            created_at=row["created_at"],
            started_at=row["started_at"],
            ended_at=row["ended_at"],
            last_step=row["last_step"],
            max_steps=row["max_steps"],
            last_loss=row["last_loss"],
            last_checkpoint=row["last_checkpoint"],
            diagnosis=json.loads(row["diagnosis"]) if row["diagnosis"] else None,
            node_rank=row["node_rank"],
            nnodes=row["nnodes"],
        )


# --- reading the registry ------------------------------------------------------------------------


def reconcile(workspace: Workspace, connection: sqlite3.Connection | None = None) -> None:
    """Settle the status of runs whose supervisor is gone without writing its exit (killed, host crash).

    A run that never got a pid is still being launched, unless that began so long ago that its
    launcher must have died before the spawn: then it failed, and nothing of it ran.
    """
    if connection is None:
        with registry(workspace) as own:
            reconcile(workspace, own)
        return
    rows = connection.execute("SELECT * FROM runs WHERE status IN ('starting', 'running', 'stopping')").fetchall()
    for row in rows:
        record = RunRecord.from_row(row)
        if record.pid is None:
            if launch_abandoned(record.pid, record.created_at):
                connection.execute(
                    "UPDATE runs SET status = 'failed', diagnosis = ?, ended_at = COALESCE(ended_at, ?) "
                    "WHERE id = ? AND pid IS NULL AND status IN ('starting', 'running', 'stopping')",
                    (json.dumps(NEVER_STARTED, ensure_ascii=False), utc_now(), record.id),
                )
            continue
        if process_alive(record.pid, record.start_time) or group_alive(record.pgid):
            continue
        finish_from_files(workspace, record, connection)


def finish_from_files(workspace: Workspace, record: RunRecord, connection: sqlite3.Connection) -> None:
    """Record the end of a run whose supervisor died: from exit.json when written, else as lost/stopped."""
    exit_file = record.run_dir / EXIT_FILE
    if exit_file.is_file():
        outcome = json.loads(exit_file.read_text(encoding="utf-8"))
        status = outcome["status"]
        exit_code, signal_name, diagnosis = outcome.get("exit_code"), outcome.get("signal"), outcome.get("diagnosis")
    else:
        status = "stopped" if record.stop_requested else "lost"
        exit_code, signal_name = None, "SIGKILL" if record.stop_requested else None
        diagnosis = None if record.stop_requested else {
            "kind": "lost",
            "summary": "the run's supervisor vanished without recording an exit (killed, or the host rebooted).",
            "fix": "resume it from its last checkpoint.",
        }
    register_checkpoints(connection, record)
    connection.execute(
        "UPDATE runs SET status = ?, exit_code = ?, signal = ?, diagnosis = ?, ended_at = COALESCE(ended_at, ?) "
        "WHERE id = ? AND status IN ('starting', 'running', 'stopping')",
        (status, exit_code, signal_name, json.dumps(diagnosis, ensure_ascii=False) if diagnosis else None, utc_now(), record.id),
    )


def checkpoints_on_disk(output_dir: Path) -> list[tuple[int, Path]]:
    found = []
    for path in output_dir.glob("checkpoint-*"):
        match = re.fullmatch(r"checkpoint-(\d+)", path.name)
        if match and path.is_dir():
            found.append((int(match.group(1)), path))
    return sorted(found)


def register_checkpoints(connection: sqlite3.Connection, record: RunRecord) -> str | None:
    """Record the run's checkpoints on disk; returns the newest."""
    found = checkpoints_on_disk(record.output_dir)
    for step, path in found:
        connection.execute(
            "INSERT OR IGNORE INTO checkpoints (path, run_id, step, created_at) VALUES (?, ?, ?, ?)",
            (str(path), record.id, step, utc_now()),
        )
    newest = str(found[-1][1]) if found else None
    if newest:
        connection.execute("UPDATE runs SET last_checkpoint = ? WHERE id = ?", (newest, record.id))
    return newest


def list_runs(workspace: Workspace) -> list[RunRecord]:
    """Every run, newest first, with dead supervisors settled."""
    with registry(workspace) as connection:
        reconcile(workspace, connection)
        rows = connection.execute("SELECT * FROM runs ORDER BY created_at DESC, id DESC").fetchall()
    return [RunRecord.from_row(row) for row in rows]


def get_run(workspace: Workspace, run_ref: str) -> RunRecord:
    """A run by id, or by a unique prefix or name."""
    with registry(workspace) as connection:
        row = find_row(connection, "runs", run_ref, noun="run", listing="`mhbench runs`", alternates=(("name", run_ref),))
    return RunRecord.from_row(row)


def checkpoints(workspace: Workspace, run_id: str) -> list[tuple[int | None, Path]]:
    with registry(workspace) as connection:
        rows = connection.execute("SELECT step, path FROM checkpoints WHERE run_id = ? ORDER BY step", (run_id,)).fetchall()
    return [(row["step"], Path(row["path"])) for row in rows]


# --- controlling ---------------------------------------------------------------------------------


def stop_run(
    workspace: Workspace,
    run_ref: str,
    *,
    timeout: float = 120.0,
    progress: Callable[[str], None] | None = None,
) -> RunRecord:
    """Ask the supervisor to stop swift (a checkpoint is saved), wait, then SIGKILL what is left of the group."""
    say = progress or (lambda message: None)
    record = get_run(workspace, run_ref)
    if not record.active:
        raise MhbenchError(f"run {record.id} is not running (it is {record.status}).", fix="nothing to stop.")
    with registry(workspace) as connection:
        connection.execute("UPDATE runs SET stop_requested = 1, status = 'stopping' WHERE id = ?", (record.id,))
    record = get_run(workspace, record.id)
    # Known now, while the supervisor still leads them: torchrun's workers sit in sessions of their
    # own, so the group kill after the timeout would leave them holding GPU memory.
    tree = process_tree(record.pid, record.start_time)

    def kill_all() -> None:
        tree.extend(process_tree(record.pid, record.start_time))
        say(f"still running after {timeout:.0f} s: killing the process group and every process under it")

    if process_alive(record.pid, record.start_time) and record.pid is not None:
        os.kill(record.pid, signal.SIGTERM)
        say("asked swift to stop; it saves a checkpoint at the end of the current step")
    elif signal_group(record.pid, record.start_time, record.pgid, signal.SIGTERM):
        say("the supervisor is gone; sent SIGTERM to the run's process group")
    if await_group_exit(record.pid, record.start_time, record.pgid, timeout, kill_all):
        kill_processes(tree)
    reconcile(workspace)
    return get_run(workspace, record.id)


def delete_run(workspace: Workspace, run_ref: str) -> None:
    """Remove a finished run's folder and its registry rows."""
    record = get_run(workspace, run_ref)
    if record.active:
        raise MhbenchError(f"run {record.id} is {record.status}.", fix="stop it before deleting it.")
    if record.run_dir.is_dir() and workspace.runs_dir in record.run_dir.parents:
        shutil.rmtree(record.run_dir)
    with registry(workspace) as connection:
        connection.execute("UPDATE runs SET parent_id = NULL WHERE parent_id = ?", (record.id,))
        connection.execute("DELETE FROM runs WHERE id = ?", (record.id,))


def lineage(workspace: Workspace, record: RunRecord) -> list[RunRecord]:
    """The run's ancestors, oldest first, then the run itself (for stitched curves)."""
    with registry(workspace) as connection:
        def parent(run_id: str) -> RunRecord | None:
            row = connection.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
            return RunRecord.from_row(row) if row is not None else None

        return walk_lineage(record, parent)


def active_runs(records: Iterable[RunRecord]) -> dict[str, int]:
    """run id → process group id, for mapping GPU processes to runs."""
    return {record.id: record.pgid for record in records if record.active and record.pgid is not None}
