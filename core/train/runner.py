"""The supervisor of one detached run: ``python -m core.train.runner RUN_DIR``.

It leads the run's session and process group, starts ``swift sft`` as its child
with output to ``stdout.log``, keeps the registry's progress columns fresh, and
when swift ends writes ``exit.json`` (durably, before the registry) with the exit
code, the status and a diagnosis. A stop is a SIGTERM to the supervisor alone: it passes the signal to the training
process (``swift``'s re-executed ``sft.py``, or each of torchrun's workers directly), whose
``graceful_exit`` callback saves a checkpoint and stops. SIGTERM
to the whole group would also reach the DataLoader workers, whose death makes the
trainer raise before it can save.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.base.db import registry
from core.base.processes import ChildSupervisor, session_leaders_below, utc_now, write_json_atomic
from core.base.tail import JsonlTail, last_lines
from core.base.workspace import Workspace
from core.swift.diagnose import diagnose
from core.train.records import parse_record
from core.train.runs import EXIT_FILE, RUN_FILE, STDOUT_FILE, RunRecord, get_run, register_checkpoints

if TYPE_CHECKING:
    import psutil

PROGRESS_INTERVAL = 2.0
TORCHRUN_SHUTDOWN_TIMEOUT = 300
STOP_FILE = "stop"
"""``touch runs/<id>/stop`` stops that run as SIGTERM does (a checkpoint first); no other run sees it."""


class Supervisor(ChildSupervisor):
    """Runs swift, follows its log, and records how it ended."""

    spec_file = RUN_FILE
    stop_signals = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)

    def __init__(self, run_dir: Path) -> None:
        super().__init__(run_dir)
        self.run_dir = run_dir
        self.workspace = Workspace(Path(self.spec["workspace"]))

    def stop_targets(self, root: psutil.Process) -> list[psutil.Process]:
        """The trainers: torchrun's workers, else the children of the ``swift`` launcher, else the launcher.

        Not the whole group: DataLoader workers killed by SIGTERM make the trainer die before
        graceful_exit saves its checkpoint. Not torchrun either: it passes a SIGTERM on to each
        worker's whole process group (``os.killpg``), DataLoader workers included. torchrun's
        workers are the ones that lead sessions of their own (``start_new_session``), under the
        launcher's child; the trainers' own children never do.
        """
        return session_leaders_below(root) or root.children() or [root]

    def tool_environment(self) -> dict[str, str]:
        """The run's own stop file in place of swift's machine-wide ``/tmp/stop`` (see ``stop_file_hook``)."""
        hook = str(Path(__file__).with_name("stop_file_hook"))
        path = os.pathsep.join(part for part in (hook, os.environ.get("PYTHONPATH", "")) if part)
        # torchrun's grace for its workers when it is signalled or one worker fails (30 s by default):
        # long enough for the others to finish a step and save.
        return {"MHBENCH_STOP_FILE": str(self.run_dir / STOP_FILE), "PYTHONPATH": path,
                "TORCH_ELASTIC_SHUTDOWN_TIMEOUT": str(TORCHRUN_SHUTDOWN_TIMEOUT)}

    def run(self) -> int:
        self.install_signal_handlers()
        with (self.run_dir / STDOUT_FILE).open("ab") as log:
            child = self.spawn(log)
        if child is None:
            return self.finish(127, None)
        progress = ProgressFollower(self.workspace, self.spec["id"])
        while True:
            try:
                code = child.wait(timeout=PROGRESS_INTERVAL)
                break
            except subprocess.TimeoutExpired:
                progress.update()
        progress.update()
        signal_name = signal.Signals(-code).name if code < 0 else None
        return self.finish(code, signal_name)

    def finish(self, code: int, signal_name: str | None) -> int:
        record = get_run(self.workspace, self.spec["id"])
        stopped = self.stop_signal is not None or record.stop_requested
        if stopped:
            status = "stopped"
        elif code == 0:
            status = "finished"
        else:
            status = "failed"
        diagnosis = None if status != "failed" else diagnose_run(record, code, signal_name)
        outcome = {
            "status": status,
            "exit_code": code,
            "signal": signal_name or self.stop_signal,
            "diagnosis": diagnosis,
            "ended_at": utc_now(),
        }
        write_json_atomic(self.run_dir / EXIT_FILE, outcome)
        with registry(self.workspace) as connection:
            register_checkpoints(connection, record)
            connection.execute(
                "UPDATE runs SET status = ?, exit_code = ?, signal = ?, diagnosis = ?, ended_at = ? WHERE id = ?",
                (
                    status,
                    code,
                    outcome["signal"],
                    json.dumps(diagnosis, ensure_ascii=False) if diagnosis else None,
                    outcome["ended_at"],
                    record.id,
                ),
            )
        return 0


def diagnose_run(record: RunRecord, code: int, signal_name: str | None) -> dict[str, Any]:
    result = diagnose(code, last_lines(record.stdout_path, 300), signal_name=signal_name)
    return {"kind": result.kind, "summary": result.summary, "fix": result.fix, "evidence": result.evidence,
            "tail": list(result.tail)}


class ProgressFollower:
    """Copies the newest step, max steps and loss from logging.jsonl into the registry."""

    def __init__(self, workspace: Workspace, run_id: str) -> None:
        self.workspace = workspace
        self.record = get_run(workspace, run_id)
        self.tail = JsonlTail(self.record.logging_path)
        self.written: tuple[Any, ...] = ()
        self.last_scan = 0.0

    def update(self) -> None:
        step = max_steps = loss = None
        for obj in self.tail.poll():
            record = parse_record(obj)
            if record is None:
                continue
            step = record.step if record.step is not None else step
            max_steps = record.max_steps if record.max_steps is not None else max_steps
            if record.kind == "train" and record.loss is not None:
                loss = record.loss
        row = (step, max_steps, loss)
        if any(value is not None for value in row) and row != self.written:
            with registry(self.workspace) as connection:
                connection.execute(
                    "UPDATE runs SET last_step = COALESCE(?, last_step), max_steps = COALESCE(?, max_steps), "
                    "last_loss = COALESCE(?, last_loss) WHERE id = ?",
                    (*row, self.record.id),
                )
                if time.monotonic() - self.last_scan > 10:
                    register_checkpoints(connection, self.record)
                    self.last_scan = time.monotonic()
            self.written = row


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m core.train.runner RUN_DIR", file=sys.stderr)
        return 2
    return Supervisor(Path(argv[0])).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
