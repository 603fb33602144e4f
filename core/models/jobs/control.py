"""Starting, reading and stopping jobs: the ``jobs`` table, the job folder, and the detached supervisor's launch.

See :mod:`core.models.jobs` for how a job runs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from core.base.db import find_row, registry
from core.base.errors import MhbenchError
from core.base.processes import (
    ProcessRow,
    await_group_exit,
    group_alive,
    launch_abandoned,
    process_alive,
    start_detached,
    utc_now,
    write_json_atomic,
)
from core.base.tail import last_lines
from core.base.workspace import Workspace

JobKind = Literal["merge", "convert", "quantize", "pregenerate", "judge"]
JOB_KINDS: tuple[JobKind, ...] = ("merge", "convert", "quantize", "pregenerate", "judge")
ACTIVE_STATUSES = frozenset({"starting", "running", "stopping"})
JOB_FILE = "job.json"
EXIT_FILE = "exit.json"
STDOUT_FILE = "stdout.log"
PROGRESS_MAX = 160
NEVER_STARTED: Mapping[str, str] = {
    "kind": "launch_failed",
    "summary": "the job's supervisor was never started (whatever launched it stopped first).",
    "fix": "start the job again.",
}


def jobs_dir(workspace: Workspace) -> Path:
    return workspace.root / "jobs"


@dataclass(frozen=True)
class Job:
    """One row of the ``jobs`` table."""

    id: str
    kind: str
    source_id: str | None
    target_path: Path | None
    job_dir: Path
    argv: tuple[str, ...]
    status: str
    pid: int | None
    pgid: int | None
    start_time: float | None
    exit_code: int | None
    result_model_id: str | None
    diagnosis: Mapping[str, Any] | None
    created_at: str
    ended_at: str | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def stdout_path(self) -> Path:
        return self.job_dir / STDOUT_FILE

    def progress_text(self) -> str:
        """The newest line of the tool's output (a progress bar's last state), for a status column."""
        return progress_text(self)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        return cls(
            id=row["id"], kind=row["kind"], source_id=row["source_id"],
            target_path=Path(row["target_path"]) if row["target_path"] else None, job_dir=Path(row["job_dir"]),
            argv=tuple(json.loads(row["argv"])), status=row["status"], pid=row["pid"], pgid=row["pgid"],
            start_time=row["start_time"], exit_code=row["exit_code"], result_model_id=row["result_model_id"],
            diagnosis=json.loads(row["diagnosis"]) if row["diagnosis"] else None, created_at=row["created_at"],
            ended_at=row["ended_at"],
        )


def progress_text(job: Job) -> str:
    for line in reversed(last_lines(job.stdout_path, 20)):
        line = line.strip()
        if line:
            line = re.sub(r"^(?:INFO|WARNING):[\w.-]+:", "", line).strip()
            return line if len(line) <= PROGRESS_MAX else line[: PROGRESS_MAX - 1] + "…"
    return "starting" if job.active else job.status


# --- starting ------------------------------------------------------------------------------------


def new_job_dir(workspace: Workspace, kind: str, label: str) -> tuple[str, Path]:
    """A fresh job id (``<stamp>-<kind>-<label>``) and its folder, created empty."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-")[:48] or "model"
    base = f"{stamp}-{kind}-{slug}"
    candidate, n = base, 1
    root = jobs_dir(workspace)
    root.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            (root / candidate).mkdir()
            return candidate, root / candidate
        except FileExistsError:
            n += 1
            candidate = f"{base}-{n}"


def start_job(
    workspace: Workspace,
    kind: JobKind,
    argv: Sequence[str],
    *,
    source_id: str | None = None,
    target_path: Path | None = None,
    result: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    job: tuple[str, Path] | None = None,
    notes: Sequence[str] = (),
) -> Job:
    """Start the supervisor detached and register the job; returns at once.

    A supervisor that cannot start leaves the job failed with the reason, and raises.
    ``result`` says how to catalogue the output on success (see :mod:`core.models.jobs.supervisor`);
    ``job`` is an id and folder from :func:`new_job_dir` that the caller already filled.
    """
    workspace.make_folders()
    job_id, job_dir = job or new_job_dir(workspace, kind, Path(str(target_path or kind)).stem)
    spec: dict[str, Any] = {
        "id": job_id, "kind": kind, "workspace": str(workspace.root), "argv": list(argv), "env": dict(env or {}),
        "source_id": source_id, "target_path": str(target_path) if target_path else None,
        "result": dict(result) if result else None, "notes": list(notes), "created_at": utc_now(),
    }
    write_json_atomic(job_dir / JOB_FILE, spec)
    start_detached(
        workspace,
        ProcessRow("jobs", job_id),
        [sys.executable, "-m", "core.models.jobs", str(job_dir)],
        cwd=job_dir,
        log_path=job_dir / "supervisor.log",
        env=spec["env"],
        fix="check the Python environment (`mhbench doctor`).",
        insert={"kind": kind, "source_id": source_id, "target_path": spec["target_path"], "job_dir": str(job_dir),
                "argv": json.dumps(spec["argv"]), "created_at": spec["created_at"]},
    )
    return get_job(workspace, job_id)


# --- reading and controlling ---------------------------------------------------------------------


def reconcile(workspace: Workspace, connection: sqlite3.Connection) -> None:
    """Settle jobs whose supervisor is gone without recording an end (killed, host rebooted)."""
    for row in connection.execute("SELECT * FROM jobs WHERE status IN ('starting', 'running', 'stopping')").fetchall():
        job = Job.from_row(row)
        if job.pid is None:
            if launch_abandoned(job.pid, job.created_at):
                record_end(connection, job.id, {"status": "failed", "diagnosis": NEVER_STARTED})
            continue
        if process_alive(job.pid, job.start_time) or group_alive(job.pgid):
            continue
        exit_file = job.job_dir / EXIT_FILE
        if exit_file.is_file():
            outcome = json.loads(exit_file.read_text(encoding="utf-8"))
        else:
            outcome = {"status": "stopped" if job.status == "stopping" else "lost", "exit_code": None,
                       "result_model_id": None, "diagnosis": None if job.status == "stopping" else {
                           "kind": "lost", "summary": "the job's supervisor vanished without recording an exit.",
                           "fix": "start the job again."}}
        record_end(connection, job.id, outcome)


def record_end(connection: sqlite3.Connection, job_id: str, outcome: Mapping[str, Any]) -> None:
    """Write a job's end into its row: ``outcome`` is what ``exit.json`` holds (``status`` and optionally
    ``exit_code``, ``result_model_id``, ``diagnosis``, ``ended_at``); used by the supervisor and by reconcile."""
    diagnosis = outcome.get("diagnosis")
    connection.execute(
        "UPDATE jobs SET status = ?, exit_code = ?, result_model_id = ?, diagnosis = ?, "
        "ended_at = COALESCE(ended_at, ?) WHERE id = ?",
        (outcome["status"], outcome.get("exit_code"), outcome.get("result_model_id"),
         json.dumps(diagnosis, ensure_ascii=False) if diagnosis else None, outcome.get("ended_at") or utc_now(), job_id),
    )


def list_jobs(workspace: Workspace, kind: JobKind | None = None) -> list[Job]:
    """Every job, newest first, with dead supervisors settled."""
    if not workspace.db_path.is_file():
        return []
    with registry(workspace) as connection:
        reconcile(workspace, connection)
        if kind is None:
            rows = connection.execute("SELECT * FROM jobs ORDER BY created_at DESC, id DESC").fetchall()
        else:
            rows = connection.execute(
                "SELECT * FROM jobs WHERE kind = ? ORDER BY created_at DESC, id DESC", (kind,)
            ).fetchall()
    return [Job.from_row(row) for row in rows]


def get_job(workspace: Workspace, ref: str) -> Job:
    """A job by id or unique id prefix."""
    with registry(workspace) as connection:
        reconcile(workspace, connection)
        row = find_row(connection, "jobs", ref, noun="job", listing="the Models screen's jobs")
    return Job.from_row(row)


def wait_job(workspace: Workspace, ref: str, timeout: float | None = None, *, interval: float = 0.25) -> Job:
    """Wait until the job ends or ``timeout`` seconds pass; returns the job either way (check ``active``)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    job = get_job(workspace, ref)
    while job.active and (deadline is None or time.monotonic() < deadline):
        time.sleep(interval)
        job = get_job(workspace, job.id)
    return job


def stop_job(workspace: Workspace, ref: str, *, timeout: float = 30.0) -> Job:
    """SIGTERM to the supervisor (it stops the tool and cleans up), then SIGKILL to what is left of the group."""
    job = get_job(workspace, ref)
    if not job.active:
        raise MhbenchError(f"job {job.id} is not running (it is {job.status}).", fix="nothing to stop.")
    with registry(workspace) as connection:
        connection.execute("UPDATE jobs SET status = 'stopping' WHERE id = ? AND status IN ('starting', 'running')",
                           (job.id,))
    if job.pid is not None and process_alive(job.pid, job.start_time):
        os.kill(job.pid, signal.SIGTERM)
    await_group_exit(job.pid, job.start_time, job.pgid, timeout)
    return get_job(workspace, job.id)
