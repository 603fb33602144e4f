"""The run queue's store: runs waiting their turn, their order, pause, and the one detached runner.

A queue entry is a profile (with datasets, overrides and GPUs) to train when the GPUs it
needs are free, then the steps after it (``merge``, ``gguf``, ``quantise:Q4_K_M``,
``session:NAME``, ``generate``). The work itself is done by the queue runner
(``python -m core.queue.runner``, on the top floor since its steps reach the model and
arena stages); this module holds what every door shares: the rows, the order, the
pause, the decision whether an entry's GPUs are free, and the runner's liveness.

One runner at a time: it holds an exclusive ``flock`` on ``queue/runner.lock`` for its
whole life, so the lock, not a pid that may be reused, says whether one is alive, and a
runner killed with SIGKILL frees it at once. :func:`pending_work` is the cheap check that
every ``mhbench`` command makes at start (the standard library's sqlite3, read-only, no
migration), and :func:`ensure_runner` starts a runner when work waits and none is alive.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.base.db import registry, write_transaction
from core.base.errors import MhbenchError
from core.base.gpu import GIB, GpuReport
from core.base.processes import ProcessRow, process_alive, start_detached, utc_now
from core.base.workspace import Workspace

STEP_KINDS = ("merge", "gguf", "quantise", "session", "generate")
STEP_NEEDS = {"gguf": "merge", "quantise": "gguf", "generate": "session"}
"""A step and the step that must come before it (what it works on)."""
WAITING_STATUSES = frozenset({"queued"})
ACTIVE_STATUSES = frozenset({"training", "steps"})
PAUSED_KEY = "queue_paused"
IDLE_GPU_BYTES = 2 * GIB
"""A GPU using less than this, with no process on it, is free: the driver and a desktop hold a little."""
QUEUE_FOLDER = "queue"
LOCK_FILE = "runner.lock"


@dataclass(frozen=True)
class QueueEntry:
    """One queued run and how far it got."""

    id: int
    position: int
    profile: str
    name: str | None
    datasets: tuple[str, ...]
    overrides: tuple[str, ...]
    gpus: str | None
    """``CUDA_VISIBLE_DEVICES`` for the run (``0,1``); ``None``: every GPU."""
    steps: tuple[str, ...]
    status: str
    run_id: str | None
    step_index: int
    job_id: str | None
    results: dict[str, str]
    """What each finished step made: ``merge``, ``gguf``, ``quantise`` → model id, ``session`` → session id."""
    reason: str | None
    created_at: str
    started_at: str | None
    ended_at: str | None

    @property
    def current_step(self) -> str | None:
        return self.steps[self.step_index] if self.status == "steps" and self.step_index < len(self.steps) else None

    @property
    def label(self) -> str:
        return self.name or self.profile

    def state_text(self) -> str:
        """The status with what it is doing: ``training RUN``, ``merge (2/4)``, ``failed: why``."""
        if self.status == "training":
            return f"training {self.run_id}"
        if self.status == "steps":
            return f"{self.current_step} ({self.step_index + 1}/{len(self.steps)})"
        if self.status == "failed":
            return f"failed: {self.reason}"
        return self.status

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "position": self.position, "profile": self.profile, "name": self.name,
            "datasets": list(self.datasets), "overrides": list(self.overrides), "gpus": self.gpus,
            "then": list(self.steps), "status": self.status, "run_id": self.run_id, "step": self.current_step,
            "job_id": self.job_id, "results": self.results, "reason": self.reason, "created_at": self.created_at,
            "started_at": self.started_at, "ended_at": self.ended_at,
        }

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> QueueEntry:
        return cls(
            id=row["id"], position=row["position"], profile=row["profile"], name=row["name"],
            datasets=tuple(json.loads(row["datasets"])), overrides=tuple(json.loads(row["overrides"])),
            gpus=row["gpus"], steps=tuple(json.loads(row["steps"])), status=row["status"], run_id=row["run_id"],
            step_index=row["step_index"], job_id=row["job_id"], results=json.loads(row["results"]),
            reason=row["reason"], created_at=row["created_at"], started_at=row["started_at"],
            ended_at=row["ended_at"],
        )


# --- the steps after a run -----------------------------------------------------------------------


def parse_steps(text: str | None) -> tuple[str, ...]:
    """``merge,gguf,quantise:Q4_K_M,session:NAME,generate`` checked: known steps, each after what it needs.

    The quantisation type itself is checked by the caller that knows the quantiser (the model stage).
    """
    if not text:
        return ()
    steps = tuple(part.strip() for part in text.split(",") if part.strip())
    seen: list[str] = []
    for step in steps:
        kind, _, value = step.partition(":")
        if kind == "quantize":
            kind = "quantise"
        if kind not in STEP_KINDS:
            raise MhbenchError(f"--then: unknown step '{step}'.",
                               fix="use merge, gguf, quantise:TYPE (e.g. quantise:Q4_K_M), session:NAME, generate.")
        if kind in ("quantise", "session") and not value:
            raise MhbenchError(f"--then: '{step}' needs a value.",
                               fix=f"write {kind}:Q4_K_M." if kind == "quantise" else "write session:NAME.")
        if kind not in ("quantise", "session") and value:
            raise MhbenchError(f"--then: '{step}' takes no value.", fix=f"write {kind}.")
        needed = STEP_NEEDS.get(kind)
        if needed is not None and needed not in seen:
            raise MhbenchError(f"--then: {kind} needs {needed} before it.",
                               fix=f"write --then {','.join([*seen, needed, step])}.")
        if kind in seen:
            raise MhbenchError(f"--then: {kind} is given twice.", fix="give each step once.")
        seen.append(kind)
    return tuple(step.replace("quantize:", "quantise:") for step in steps)


def step_kind(step: str) -> str:
    return step.partition(":")[0]


def step_value(step: str) -> str:
    return step.partition(":")[2]


# --- the rows ------------------------------------------------------------------------------------


def add_entries(
    workspace: Workspace,
    profiles: Sequence[str],
    *,
    datasets: Sequence[str] = (),
    overrides: Sequence[str] = (),
    gpus: str | None = None,
    steps: Sequence[str] = (),
    name: str | None = None,
) -> list[QueueEntry]:
    """Append one entry per profile at the end of the queue, in the order given."""
    if not profiles:
        raise MhbenchError("nothing to queue.", fix="name at least one profile (see `mhbench profiles`).")
    stamp = utc_now()
    ids = []
    with write_transaction(workspace) as connection:
        last = connection.execute("SELECT COALESCE(MAX(position), 0) FROM queue_entries").fetchone()[0]
        for offset, profile in enumerate(profiles, 1):
            cursor = connection.execute(
                "INSERT INTO queue_entries (position, profile, name, datasets, overrides, gpus, steps, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (last + offset, profile, name if len(profiles) == 1 else None, json.dumps(list(datasets)),
                 json.dumps(list(overrides)), gpus, json.dumps(list(steps)), stamp),
            )
            ids.append(cursor.lastrowid)
    return [get_entry(workspace, entry_id) for entry_id in ids if entry_id is not None]


def list_entries(workspace: Workspace) -> list[QueueEntry]:
    """Every entry: the ones at work, then the waiting ones in queue order, then the ended ones, newest first."""
    with registry(workspace) as connection:
        rows = connection.execute("SELECT * FROM queue_entries").fetchall()
    entries = [QueueEntry.from_row(row) for row in rows]
    ended = ("done", "failed")
    working = sorted((e for e in entries if e.status not in ended),
                     key=lambda e: (e.status not in ACTIVE_STATUSES, e.position, e.id))
    finished = sorted((e for e in entries if e.status in ended), key=lambda e: (e.ended_at or "", e.id), reverse=True)
    return working + finished


def waiting_entries(workspace: Workspace) -> list[QueueEntry]:
    return [entry for entry in list_entries(workspace) if entry.status in WAITING_STATUSES]


def get_entry(workspace: Workspace, entry_id: int | str) -> QueueEntry:
    try:
        number = int(entry_id)
    except ValueError:
        raise MhbenchError(f"'{entry_id}' is not a queue entry id.", fix="give the number `mhbench queue list` shows.") from None
    with registry(workspace) as connection:
        row = connection.execute("SELECT * FROM queue_entries WHERE id = ?", (number,)).fetchone()
    if row is None:
        raise MhbenchError(f"there is no queue entry {number}.", fix="see `mhbench queue list` for the ids.")
    return QueueEntry.from_row(row)


def remove_entry(workspace: Workspace, entry_id: int | str) -> QueueEntry:
    """Take an entry out of the queue: a waiting or ended one; one at work is its run's to stop."""
    entry = get_entry(workspace, entry_id)
    if entry.status in ACTIVE_STATUSES:
        fix = (f"stop its run first (`mhbench stop {entry.run_id}`); the queue then marks it failed."
               if entry.status == "training" else "wait for its step to end, or stop the job (`mhbench jobs --stop`).")
        raise MhbenchError(f"queue entry {entry.id} is at work ({entry.state_text()}).", fix=fix)
    with registry(workspace) as connection:
        connection.execute("DELETE FROM queue_entries WHERE id = ? AND status NOT IN ('training', 'steps')",
                           (entry.id,))
    return entry


def move_entry(workspace: Workspace, entry_id: int | str, to: int) -> list[QueueEntry]:
    """Put a waiting entry at place ``to`` (1 = next to start) among the waiting ones; returns them in order."""
    entry = get_entry(workspace, entry_id)
    if entry.status not in WAITING_STATUSES:
        raise MhbenchError(f"queue entry {entry.id} is {entry.status}; only a waiting entry moves.",
                           fix="see `mhbench queue list`.")
    with write_transaction(workspace) as connection:
        rows = connection.execute(
            "SELECT id, position FROM queue_entries WHERE status = 'queued' ORDER BY position, id").fetchall()
        order = [row["id"] for row in rows if row["id"] != entry.id]
        order.insert(min(max(to, 1), len(order) + 1) - 1, entry.id)
        slots = sorted(row["position"] for row in rows)
        for entry_id_at, position in zip(order, slots, strict=True):
            connection.execute("UPDATE queue_entries SET position = ? WHERE id = ?", (position, entry_id_at))
    return waiting_entries(workspace)


def shift_entry(workspace: Workspace, entry_id: int | str, by: int) -> list[QueueEntry]:
    """Move a waiting entry ``by`` places (-1 up, towards the start; +1 down)."""
    waiting = [entry.id for entry in waiting_entries(workspace)]
    entry = get_entry(workspace, entry_id)
    place = waiting.index(entry.id) + 1 if entry.id in waiting else 1
    return move_entry(workspace, entry.id, place + by)


def is_paused(workspace: Workspace) -> bool:
    with registry(workspace) as connection:
        row = connection.execute("SELECT value FROM meta WHERE key = ?", (PAUSED_KEY,)).fetchone()
    return row is not None and row["value"] == "1"


def set_paused(workspace: Workspace, paused: bool) -> None:
    """A paused queue starts no new run; the runs and steps at work go on to their end."""
    with registry(workspace) as connection:
        connection.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = ?",
                           (PAUSED_KEY, "1" if paused else "0", "1" if paused else "0"))


def update_entry(workspace: Workspace, entry_id: int, **columns: Any) -> QueueEntry:
    """Write the runner's progress into an entry (``results`` as a mapping)."""
    if "results" in columns:
        columns["results"] = json.dumps(columns["results"], ensure_ascii=False)
    assignments = ", ".join(f"{column} = ?" for column in columns)
    with registry(workspace) as connection:
        connection.execute(f"UPDATE queue_entries SET {assignments} WHERE id = ?", (*columns.values(), entry_id))
    return get_entry(workspace, entry_id)


def fail_entry(workspace: Workspace, entry_id: int, reason: str) -> QueueEntry:
    return update_entry(workspace, entry_id, status="failed", reason=reason, job_id=None, ended_at=utc_now())


# --- whether the GPUs an entry needs are free ----------------------------------------------------


def visible_gpus(text: str | None, report: GpuReport) -> frozenset[int]:
    """The GPU indices a ``CUDA_VISIBLE_DEVICES`` value names; every GPU when it is unset."""
    if text is None or not text.strip():
        return frozenset(gpu.index for gpu in report.gpus)
    return frozenset(int(part) for part in text.split(",") if part.strip().isdigit())


def gpus_free(needed: frozenset[int], report: GpuReport, claimed: Iterable[frozenset[int]]) -> bool:
    """Whether a run on ``needed`` may start now.

    On a box without a GPU, runs take turns: free only while nothing is claimed. On a GPU
    box, every needed GPU must be unclaimed by a run at work (which may not have loaded
    its model yet) and idle by NVML: no process on it and little memory used.
    """
    claims = [claim for claim in claimed]
    if not report.gpus:
        return not claims
    taken = frozenset().union(*claims) if claims else frozenset()
    by_index = {gpu.index: gpu for gpu in report.gpus}
    for index in needed:
        gpu = by_index.get(index)
        if gpu is None or index in taken or gpu.processes or gpu.memory_used >= IDLE_GPU_BYTES:
            return False
    return bool(needed)


# --- the runner ----------------------------------------------------------------------------------


def queue_folder(workspace: Workspace) -> Path:
    return workspace.root / QUEUE_FOLDER


@contextlib.contextmanager
def runner_lock(workspace: Workspace) -> Iterator[bool]:
    """Hold the one runner's lock while inside; yields False (holding nothing) when another runner has it."""
    folder = queue_folder(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    handle = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        os.close(handle)


def runner_alive(workspace: Workspace) -> bool:
    """Whether a runner is at work: it holds the lock, or it was just started and is still loading to take it."""
    lock = queue_folder(workspace) / LOCK_FILE
    if lock.is_file():
        with runner_lock(workspace) as mine:
            if not mine:
                return True
    if not workspace.db_path.is_file():
        return False
    newest = last_runner(workspace)
    return (newest is not None and newest["status"] in ("starting", "running") and newest["start_time"] is not None
            and process_alive(newest["pid"], newest["start_time"]))


def pending_work(db_path: Path) -> bool:
    """Whether the queue has work for a runner: an entry at work, or a waiting one in a queue not paused.

    The check every ``mhbench`` command makes at start: read-only, with the standard library's
    sqlite3, so a workspace without a queue (or an older database) costs a file open.
    """
    if not db_path.is_file():
        return False
    try:
        connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return False
    try:
        paused = connection.execute("SELECT value FROM meta WHERE key = ?", (PAUSED_KEY,)).fetchone()
        waiting = "" if paused is not None and paused[0] == "1" else " OR status = 'queued'"
        found = connection.execute(
            f"SELECT 1 FROM queue_entries WHERE status IN ('training', 'steps'){waiting} LIMIT 1").fetchone()
    except sqlite3.Error:
        return False  # no queue table yet: this workspace never queued anything
    finally:
        connection.close()
    return found is not None


def ensure_runner(workspace: Workspace) -> str | None:
    """Start a detached queue runner when work waits and none is alive; returns its id, or None."""
    if not pending_work(workspace.db_path) or runner_alive(workspace):
        return None
    with registry(workspace) as connection:
        # No runner holds the lock, so any row still "running" lost its process (SIGKILL, a reboot).
        connection.execute("UPDATE queue_runners SET status = 'lost', ended_at = COALESCE(ended_at, ?) "
                           "WHERE status IN ('starting', 'running')", (utc_now(),))
    return start_runner(workspace)


def start_runner(workspace: Workspace) -> str:
    """Start the detached runner (``python -m core.queue.runner WORKSPACE ID``); a second one exits at once."""
    folder = queue_folder(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    runner_id = f"{utc_now().replace(':', '').replace('-', '')[:15]}-{os.getpid()}"
    start_detached(
        workspace,
        ProcessRow("queue_runners", runner_id),
        [sys.executable, "-m", "core.queue.runner", str(workspace.root), runner_id],
        cwd=folder,
        log_path=folder / "runner.log",
        env={"PYTHONUNBUFFERED": "1"},
        fix="check the Python environment (`mhbench doctor`); any mhbench command starts the runner again.",
        insert={"created_at": utc_now()},
    )
    return runner_id


def last_runner(workspace: Workspace) -> sqlite3.Row | None:
    with registry(workspace) as connection:
        row: sqlite3.Row | None = connection.execute(
            "SELECT * FROM queue_runners ORDER BY created_at DESC, id DESC LIMIT 1").fetchone()
    return row
