"""Waiting for real training runs and model jobs with limits that scale with this machine's measured speed.

A run that overshoots its limit is stopped (a leftover ``swift sft`` would slow every test
after it) and the failure says how far it got, the limit, and why the limit is what it is.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TypeVar

from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from core.models.jobs import Job, stop_job, wait_job
from core.train.runs import RunRecord, get_run, stop_run
from tests.helpers.machine import limit_note, scaled

POLL_S = 0.5
T = TypeVar("T")


def run_overdue(record: RunRecord, elapsed: float, reference_s: float, what: str) -> str:
    """The failure message for a run still going when its limit ran out."""
    progress = f"at step {record.progress_text}" if record.last_step is not None else "with no step logged yet"
    return (f"{what} ({record.id}) was still {record.status} {progress} after {elapsed:.0f} s; "
            f"{limit_note(reference_s)}. Its output: {record.stdout_path}")


def wait_for_run(workspace: Workspace, run_id: str, reference_s: float, what: str = "the run") -> RunRecord:
    """The run once it has ended; stop it and fail if it outlasts ``reference_s`` scaled to this machine."""
    limit = scaled(reference_s)
    started = time.monotonic()
    record = get_run(workspace, run_id)
    while record.active:
        elapsed = time.monotonic() - started
        if elapsed > limit:
            with contextlib.suppress(MhbenchError):
                stop_run(workspace, run_id, timeout=60)
            raise AssertionError(run_overdue(record, elapsed, reference_s, what))
        time.sleep(POLL_S)
        record = get_run(workspace, run_id)
    return record


def wait_for_job(workspace: Workspace, job_id: str, reference_s: float, what: str = "the job") -> Job:
    """The model job once it has ended; stop it and fail if it outlasts ``reference_s`` scaled to this machine."""
    started = time.monotonic()
    job = wait_job(workspace, job_id, scaled(reference_s))
    if job.active:
        elapsed = time.monotonic() - started
        with contextlib.suppress(MhbenchError):
            stop_job(workspace, job_id, timeout=30)
        raise AssertionError(f"{what} ({job.kind} {job.id}) was still {job.status} after {elapsed:.0f} s, its last "
                             f"output: {job.progress_text()!r}; {limit_note(reference_s)}. Its output: {job.stdout_path}")
    return job


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = POLL_S) -> T:
    """``predicate()``'s first true value; ``timeout`` is the limit on the reference box, scaled to this one."""
    started = time.monotonic()
    while time.monotonic() - started < scaled(timeout):
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} after {time.monotonic() - started:.0f} s; {limit_note(timeout)}")
