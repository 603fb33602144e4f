"""Training runs: launched detached, registered in SQLite, outliving every UI.

A run is a supervisor (``python -m core.train.runner RUN_DIR``) in its own session and
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
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from core.base.db import find_row, registry
from core.base.errors import MhbenchError
from core.base.processes import (
    await_group_exit,
    child_environment,
    group_alive,
    process_alive,
    process_start_time,
    signal_group,
    utc_now,
    write_json_atomic,
)
from core.base.workspace import Workspace

if TYPE_CHECKING:
    # Planning needs profiles and swift (pydantic); the supervisor, which imports this
    # module at every run's start, does not.
    from core.train.profiles import Profile
    from core.train.swift import SftCommand

ACTIVE_STATUSES = frozenset({"starting", "running", "stopping"})
RUN_FILE = "run.json"
EXIT_FILE = "exit.json"
STDOUT_FILE = "stdout.log"
DeepSpeedPreset = Literal["zero2", "zero3"]


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
        )


# --- planning ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LaunchRequest:
    """What the launch form or ``mhbench train`` asks for, on top of a profile."""

    profile: Profile
    name: str | None = None
    cuda_visible_devices: str | None = None
    """GPUs the run may use (``CUDA_VISIBLE_DEVICES``), e.g. ``0,1``."""
    nproc_per_node: int | None = None
    """Processes per node; above 1 swift starts torchrun (``NPROC_PER_NODE``)."""
    deepspeed: DeepSpeedPreset | None = None
    resume_from: Path | None = None
    parent_id: str | None = None
    extra: Mapping[str, str | int | float | bool] = field(default_factory=dict)


@dataclass(frozen=True)
class RunPlan:
    """A run ready to start: its id, folder and exact command and environment."""

    run_id: str
    name: str
    profile: str
    run_dir: Path
    output_dir: Path
    command: SftCommand
    parent_id: str | None = None
    resume_from: Path | None = None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:48] or "run"


def new_run_id(workspace: Workspace, label: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{_slug(label)}"
    candidate, n = base, 1
    while (workspace.runs_dir / candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def plan_run(workspace: Workspace, request: LaunchRequest, *, check: bool = True) -> RunPlan:
    """Build the run's command for the installed swift and check every flag."""
    from core.train.swift import SftCommand, build_sft_command, check_command, dialect_for, installed_swift_version

    label = request.name or request.profile.name
    run_id = new_run_id(workspace, label)
    run_dir = workspace.runs_dir / run_id
    output_dir = run_dir / "output"
    extra: dict[str, str | int | float | bool] = dict(request.extra)
    if request.deepspeed:
        extra["deepspeed"] = request.deepspeed
    if request.resume_from is not None:
        extra["resume_from_checkpoint"] = str(request.resume_from)
    command = build_sft_command(
        request.profile, dialect=dialect_for(installed_swift_version()), output_dir=output_dir, extra=extra
    )
    env = {"PYTHONUNBUFFERED": "1"}
    if request.cuda_visible_devices:
        if not re.fullmatch(r"\d+(,\d+)*", request.cuda_visible_devices):
            raise MhbenchError(
                f"GPUs '{request.cuda_visible_devices}' is not a list of GPU indices.", fix="write them like 0 or 0,1."
            )
        env["CUDA_VISIBLE_DEVICES"] = request.cuda_visible_devices
    if request.nproc_per_node is not None:
        if request.nproc_per_node < 1:
            raise MhbenchError("processes per node must be at least 1.", fix="set 1, or the number of GPUs.")
        if request.nproc_per_node > 1:
            env["NPROC_PER_NODE"] = str(request.nproc_per_node)
    command = SftCommand(command.argv, env, command.dialect, command.notes)
    if check:
        check_command(command)
    return RunPlan(run_id, label, request.profile.name, run_dir, output_dir, command, request.parent_id, request.resume_from)


# --- launching -----------------------------------------------------------------------------------


def launch(workspace: Workspace, plan: RunPlan) -> RunRecord:
    """Start the supervisor detached and register the run; returns at once."""
    workspace.make_folders()
    plan.run_dir.mkdir(parents=True, exist_ok=False)
    spec = {
        "id": plan.run_id,
        "workspace": str(workspace.root),
        "argv": list(plan.command.argv),
        "env": dict(plan.command.env),
        "profile": plan.profile,
        "dialect": plan.command.dialect.major,
        "notes": list(plan.command.notes),
        "parent_id": plan.parent_id,
        "resume_from": str(plan.resume_from) if plan.resume_from else None,
        "created_at": utc_now(),
    }
    write_json_atomic(plan.run_dir / RUN_FILE, spec)
    with registry(workspace) as connection:
        connection.execute(
            """INSERT INTO runs (id, name, profile, parent_id, resume_from, run_dir, output_dir, argv, env,
                                 status, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'starting', ?)""",
            (
                plan.run_id, plan.name, plan.profile, plan.parent_id, spec["resume_from"], str(plan.run_dir),
                str(plan.output_dir), json.dumps(spec["argv"]), json.dumps(spec["env"]), spec["created_at"],
            ),
        )
    supervisor_log = (plan.run_dir / "supervisor.log").open("ab")
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "core.train.runner", str(plan.run_dir)],
            cwd=plan.run_dir,
            stdin=subprocess.DEVNULL,
            stdout=supervisor_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=child_environment(plan.command.env),
            close_fds=True,
        )
    finally:
        supervisor_log.close()
    start_time = process_start_time(process.pid)
    with registry(workspace) as connection:
        connection.execute(
            "UPDATE runs SET pid = ?, pgid = ?, start_time = ?, status = CASE WHEN status = 'starting' "
            "THEN 'running' ELSE status END, started_at = COALESCE(started_at, ?) WHERE id = ?",
            (process.pid, process.pid, start_time, utc_now(), plan.run_id),
        )
    # Reap the supervisor when it ends so it never lingers as a zombie of a long-lived TUI;
    # a short-lived CLI exits first and the supervisor passes to init.
    threading.Thread(target=process.wait, name=f"reap-{plan.run_id}", daemon=True).start()
    return get_run(workspace, plan.run_id)


# --- reading the registry ------------------------------------------------------------------------


def reconcile(workspace: Workspace, connection: sqlite3.Connection | None = None) -> None:
    """Settle the status of runs whose supervisor is gone without writing its exit (killed, host crash)."""
    if connection is None:
        with registry(workspace) as own:
            reconcile(workspace, own)
        return
    rows = connection.execute("SELECT * FROM runs WHERE status IN ('starting', 'running', 'stopping')").fetchall()
    for row in rows:
        record = RunRecord.from_row(row)
        if record.pid is None or process_alive(record.pid, record.start_time) or group_alive(record.pgid):
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
    if process_alive(record.pid, record.start_time) and record.pid is not None:
        os.kill(record.pid, signal.SIGTERM)
        say("asked swift to stop; it saves a checkpoint at the end of the current step")
    elif signal_group(record.pid, record.start_time, record.pgid, signal.SIGTERM):
        say("the supervisor is gone; sent SIGTERM to the run's process group")
    await_group_exit(record.pid, record.start_time, record.pgid, timeout,
                     lambda: say(f"still running after {timeout:.0f} s: killing the process group"))
    reconcile(workspace)
    return get_run(workspace, record.id)


def resume_run(workspace: Workspace, run_ref: str, *, check: bool = True) -> RunRecord:
    """Start a new run from the parent's last checkpoint, linked to the parent."""
    from core.train.swift import SftCommand, check_command, dialect_for, installed_swift_version

    parent = get_run(workspace, run_ref)
    if parent.active:
        raise MhbenchError(f"run {parent.id} is still {parent.status}.", fix="stop it first, then resume.")
    found = checkpoints_on_disk(parent.output_dir)
    if not found:
        raise MhbenchError(
            f"run {parent.id} saved no checkpoint to resume from.",
            path=parent.output_dir,
            fix="start a new run instead (`mhbench train PROFILE`).",
        )
    checkpoint = found[-1][1]
    argv = _replace_flag(_replace_flag(list(parent.argv), "output_dir", None), "resume_from_checkpoint", None)
    run_id = new_run_id(workspace, f"{parent.name}-resume")
    run_dir = workspace.runs_dir / run_id
    output_dir = run_dir / "output"
    argv += ["--output_dir", str(output_dir), "--resume_from_checkpoint", str(checkpoint)]
    command = SftCommand(tuple(argv), dict(parent.env), dialect_for(installed_swift_version()), ())
    if check:
        check_command(command)
    plan = RunPlan(run_id, f"{parent.name}-resume", parent.profile, run_dir, output_dir, command, parent.id, checkpoint)
    return launch(workspace, plan)


def _replace_flag(argv: list[str], flag: str, value: str | None) -> list[str]:
    """Drop ``--flag`` and its values; append ``--flag value`` when a value is given."""
    result: list[str] = []
    skipping = False
    for part in argv:
        if part.startswith("--"):
            skipping = part == f"--{flag}"
            if skipping:
                continue
        elif skipping:
            continue
        result.append(part)
    if value is not None:
        result += [f"--{flag}", value]
    return result


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
    chain = [record]
    seen = {record.id}
    while chain[0].parent_id and chain[0].parent_id not in seen:
        try:
            parent = get_run(workspace, chain[0].parent_id)
        except MhbenchError:
            break
        seen.add(parent.id)
        chain.insert(0, parent)
    return chain


def active_runs(records: Iterable[RunRecord]) -> dict[str, int]:
    """run id → process group id, for mapping GPU processes to runs."""
    return {record.id: record.pgid for record in records if record.active and record.pgid is not None}
