"""The queue runner: ``python -m core.queue.runner WORKSPACE RUNNER_ID``, detached, one at a time.

Every few seconds it settles the entries at work (a run that ended, a step's job that
ended), starts the next steps, and, unless the queue is paused, starts the next waiting
run once the GPUs it needs are free (:func:`core.train.run_queue.gpus_free`). An entry
whose run or step fails is marked failed with the reason, and the queue goes on. All its
state is in the database and the runs' and jobs' own rows, so a runner killed at any moment
loses nothing: the next ``mhbench`` command starts another, which carries on where it was.
It ends when nothing is at work and nothing waits (or the queue is paused).
"""

from __future__ import annotations

import signal
import sys
import time
import traceback
from pathlib import Path
from types import FrameType

from core.base.db import registry
from core.base.errors import MhbenchError
from core.base.gpu import GpuReport, sample_gpus
from core.base.processes import utc_now
from core.base.workspace import Workspace
from core.models.jobs import get_job
from core.profiles import Profile, find_profile, load_profiles
from core.queue.steps import start_step
from core.train.datasets import check_profile_datasets
from core.train.launch import LaunchRequest, launch, plan_run
from core.train.run_queue import (
    ACTIVE_STATUSES,
    QueueEntry,
    fail_entry,
    gpus_free,
    is_paused,
    list_entries,
    runner_lock,
    step_kind,
    update_entry,
    visible_gpus,
)
from core.train.runs import RunRecord, get_run, list_runs

POLL_S = 2.0


def say(message: str) -> None:
    print(f"{utc_now()} {message}", flush=True)


class QueueRunner:
    """Works through the queue of one workspace; :meth:`tick` is one look at everything."""

    def __init__(self, workspace: Workspace, runner_id: str, *, gpus: GpuReport | None = None) -> None:
        self.workspace = workspace
        self.runner_id = runner_id
        self.fixed_gpus = gpus
        self.stopping = False

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        # The runs and jobs are detached and go on; the next runner follows them.
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        with runner_lock(self.workspace) as mine:
            if not mine:
                say("another queue runner is at work; this one ends")
                self.record_end("superseded")
                return 0
            self.record_start()
            say(f"queue runner {self.runner_id} started")
            while not self.stopping and self.tick():
                time.sleep(POLL_S)
            say("queue runner ends: " + ("asked to stop" if self.stopping else "nothing left to do"))
            self.record_end("stopped" if self.stopping else "finished")
        return 0

    def record_start(self) -> None:
        with registry(self.workspace) as connection:
            connection.execute("UPDATE queue_runners SET status = 'running' WHERE id = ?", (self.runner_id,))

    def record_end(self, status: str) -> None:
        with registry(self.workspace) as connection:
            connection.execute("UPDATE queue_runners SET status = ?, ended_at = ? WHERE id = ?",
                               (status, utc_now(), self.runner_id))

    def tick(self) -> bool:
        """Settle and advance what is at work, start what may start; whether work is left."""
        runs = {record.id: record for record in list_runs(self.workspace)}
        for entry in list_entries(self.workspace):
            if entry.status in ACTIVE_STATUSES:
                try:
                    self.advance(entry, runs)
                except Exception as error:  # one entry's surprise must not stop the night's queue
                    traceback.print_exc()
                    fail_entry(self.workspace, entry.id, f"{type(error).__name__}: {error}")
        entries = list_entries(self.workspace)
        paused = is_paused(self.workspace)
        if not paused:
            self.start_ready(entries, runs)
            entries = list_entries(self.workspace)
        at_work = any(entry.status in ACTIVE_STATUSES for entry in entries)
        waiting = any(entry.status == "queued" for entry in entries)
        return at_work or (waiting and not paused)

    # --- starting runs ---------------------------------------------------------------------------

    def start_ready(self, entries: list[QueueEntry], runs: dict[str, RunRecord]) -> None:
        """Start waiting entries in queue order while the first of them finds its GPUs free."""
        report = self.fixed_gpus or sample_gpus()
        queue_runs = {entry.run_id for entry in entries if entry.run_id}
        claimed = [visible_gpus(entry.gpus, report) for entry in entries if entry.status in ACTIVE_STATUSES]
        claimed += [visible_gpus(record.env.get("CUDA_VISIBLE_DEVICES"), report)
                    for record in runs.values() if record.active and record.id not in queue_runs]
        for entry in entries:
            if entry.status != "queued":
                continue
            needed = visible_gpus(entry.gpus, report)
            if not gpus_free(needed, report, claimed):
                return
            try:
                started = self.start_entry(entry)
            except Exception as error:  # as above: the entry fails, the queue goes on
                traceback.print_exc()
                fail_entry(self.workspace, entry.id, f"{type(error).__name__}: {error}")
                started = False
            if started:
                claimed.append(needed)
                report = self.fixed_gpus or sample_gpus()

    def start_entry(self, entry: QueueEntry) -> bool:
        """Launch the entry's run; a refusal (profile gone, dataset unusable, bad flag) fails the entry."""
        try:
            profile = find_profile(load_profiles(self.workspace.profiles_dir), entry.profile)
            request = LaunchRequest(profile=profile, name=entry.name, overrides=entry.overrides,
                                    override_source=f"queue entry {entry.id}", dataset=entry.datasets,
                                    cuda_visible_devices=entry.gpus)
            plan = plan_run(self.workspace, request)
            if plan.effective_profile is not None:
                require_usable_datasets(self.workspace, plan.effective_profile)
        except MhbenchError as error:
            fail_entry(self.workspace, entry.id, str(error))
            say(f"entry {entry.id} ({entry.label}) failed before its run: {error}")
            return False
        # The run's id is known before it starts: a runner killed in between leaves an entry that names it.
        update_entry(self.workspace, entry.id, status="training", run_id=plan.run_id, started_at=utc_now())
        try:
            launch(self.workspace, plan)
        except MhbenchError as error:
            fail_entry(self.workspace, entry.id, str(error))
            say(f"entry {entry.id} ({entry.label}) could not start: {error}")
            return False
        say(f"entry {entry.id} ({entry.label}) started run {plan.run_id}")
        return True

    # --- following what is at work ---------------------------------------------------------------

    def advance(self, entry: QueueEntry, runs: dict[str, RunRecord]) -> None:
        if entry.status == "training":
            self.follow_run(entry, runs)
        elif entry.status == "steps":
            self.follow_steps(entry)

    def follow_run(self, entry: QueueEntry, runs: dict[str, RunRecord]) -> None:
        record = runs.get(entry.run_id or "")
        if record is None:
            try:
                record = get_run(self.workspace, entry.run_id or "")
            except MhbenchError:
                fail_entry(self.workspace, entry.id, f"its run {entry.run_id} was never registered (the runner "
                                                     "stopped while starting it)")
                return
        if record.active:
            return
        if record.status != "finished":
            summary = (record.diagnosis or {}).get("summary") or f"exit code {record.exit_code}"
            fail_entry(self.workspace, entry.id, f"run {record.id} {record.status}: {summary}")
            say(f"entry {entry.id} failed: run {record.id} {record.status}")
            return
        if not entry.steps:
            update_entry(self.workspace, entry.id, status="done", ended_at=utc_now())
            say(f"entry {entry.id} done: run {record.id} finished")
            return
        entry = update_entry(self.workspace, entry.id, status="steps", step_index=0, job_id=None)
        self.follow_steps(entry)

    def follow_steps(self, entry: QueueEntry) -> None:
        """Wait for the current step's job; when it is done, start the next, until the last is done."""
        while entry.status == "steps":
            step = entry.current_step
            if step is None:
                update_entry(self.workspace, entry.id, status="done", job_id=None, ended_at=utc_now())
                say(f"entry {entry.id} done: {entry.results}")
                return
            if entry.job_id is not None:
                job = get_job(self.workspace, entry.job_id)
                if job.active:
                    return
                if job.status != "finished":
                    summary = (job.diagnosis or {}).get("summary") or job.status
                    fail_entry(self.workspace, entry.id, f"{step} job {job.id} {job.status}: {summary}")
                    return
                made = job.result_model_id or job.source_id or job.id
                entry = self.step_done(entry, step, made)
                continue
            try:
                started = start_step(self.workspace, entry, step)
            except (MhbenchError, KeyError) as error:
                fail_entry(self.workspace, entry.id, f"{step}: {error}")
                say(f"entry {entry.id} failed at {step}: {error}")
                return
            if started.job is not None:
                update_entry(self.workspace, entry.id, job_id=started.job.id)
                say(f"entry {entry.id}: {step} started as job {started.job.id}")
                return
            entry = self.step_done(entry, step, started.made or "")

    def step_done(self, entry: QueueEntry, step: str, made: str) -> QueueEntry:
        results = {**entry.results, step_kind(step): made}
        say(f"entry {entry.id}: {step} made {made}")
        return update_entry(self.workspace, entry.id, results=results, job_id=None, step_index=entry.step_index + 1)


def require_usable_datasets(workspace: Workspace, profile: Profile) -> None:
    """The launch's dataset check (``mhbench train`` makes it too): a file with no valid sample refuses the run."""
    for report in check_profile_datasets(profile, convert_dir=workspace.data_dir, count_tokens=False):
        if report.error is not None:
            raise report.error
        if not report.ok:
            lines = "; ".join(str(issue) for issue in report.invalid[:3])
            raise MhbenchError(f"has no valid samples ({lines}).", path=report.path,
                               fix="repair the lines named, then queue the run again.")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m core.queue.runner WORKSPACE RUNNER_ID", file=sys.stderr)
        return 2
    return QueueRunner(Workspace(Path(argv[0])), argv[1]).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
