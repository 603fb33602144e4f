"""The run queue with real `swift sft` runs of the demo's tiny model, driven through the `mhbench` command.

Three entries: a demo run, a run whose dataset has no valid line (it fails, and the queue goes
on), and a second demo run merged after it and put, with its base, in a new adaptive session. The runner is killed with SIGKILL while the first
run trains; a later `mhbench` command starts another, which carries on. The runs' own
recorded times show that the second began after the first ended.
"""

from __future__ import annotations

import json
import os
import signal
from datetime import datetime
from pathlib import Path

import pytest

from core.arena.sessions import get_session
from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from core.demo import create_demo
from core.models import get_model
from core.swift.dialects import installed_swift_version
from core.train.run_queue import get_entry, last_runner, runner_alive, set_paused
from core.train.runs import get_run, stop_run
from tests.helpers.commands import mhbench
from tests.helpers.real_runs import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(installed_swift_version() is None, reason="ms-swift not installed"),
]

SHORT_RUN = ("--set", "train.max_steps=4", "--set", "train.save_steps=4", "--set", "train.eval_steps=4")


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def first_run_started(ws: Workspace, entry_id: int) -> bool:
    """The entry is training and its run's supervisor is recorded (the runner's launch is complete)."""
    entry = get_entry(ws, entry_id)
    if entry.status != "training" or entry.run_id is None:
        return False
    try:
        return get_run(ws, entry.run_id).pid is not None
    except MhbenchError:
        return False  # the run's row is not written yet


def test_a_queue_runs_in_turn_survives_a_failure_and_a_killed_runner(tmp_path: Path) -> None:
    ws = create_demo(tmp_path / "ws").workspace
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"messages": [{"role": "user"\n{"messages": 3}\n', encoding="utf-8")
    first = mhbench("queue", "add", "demo-tiny-qwen2", "--name", "queued-first", *SHORT_RUN, workspace=ws.root)
    assert first.returncode == 0, first.stderr
    assert "runner" in first.stderr and "started" in first.stderr
    others = [
        mhbench("queue", "add", "demo-tiny-qwen2", "--name", "queued-broken", "--dataset", str(broken), *SHORT_RUN,
                workspace=ws.root),
        mhbench("queue", "add", "demo-tiny-qwen2", "--name", "queued-second", *SHORT_RUN, "--then",
                "merge,session:overnight", workspace=ws.root),
    ]
    assert all(done.returncode == 0 for done in others), [done.stderr for done in others]
    ids = [int(done.stdout.split()[0]) for done in (first, *others)]
    try:
        # The first run trains; kill the runner under it. The run itself is detached and goes on.
        wait_for(lambda: first_run_started(ws, ids[0]), 60, "the first entry's run to start")
        runner = last_runner(ws)
        assert runner is not None and runner["pid"]
        os.kill(runner["pid"], signal.SIGKILL)
        wait_for(lambda: not runner_alive(ws), 10, "the killed runner's lock to go")
        listed = mhbench("queue", "list", "--json", workspace=ws.root)
        assert listed.returncode == 0, listed.stderr
        assert "started runner" in listed.stderr, listed.stderr
        wait_for(lambda: runner_alive(ws), 30, "the new runner to take the lock")
        wait_for(lambda: get_entry(ws, ids[2]).status in ("done", "failed"), 600, "the queue to reach its end")
    except BaseException:
        set_paused(ws, True)  # a failed test leaves no runner starting the next run
        raise
    finally:
        for entry_id in ids:
            entry = get_entry(ws, entry_id)
            if entry.status == "training" and entry.run_id:
                stop_run(ws, entry.run_id, timeout=30)
    good, bad, second = (get_entry(ws, entry_id) for entry_id in ids)
    assert good.status == "done", good.reason
    assert bad.status == "failed" and bad.reason and str(broken) in bad.reason, bad.reason
    assert bad.run_id is None
    assert second.status == "done", second.reason
    merged = get_model(ws, second.results["merge"])
    assert merged.kind == "merged" and merged.path is not None and (merged.path / "config.json").is_file()
    session = get_session(ws, second.results["session"])
    assert session.name == "overnight" and session.adaptive
    assert len(session.models) == 2 and session.models[1] == merged.id
    assert get_model(ws, session.models[0]).kind == "base", "the fine-tune is compared with its base"
    runs = json.loads(mhbench("runs", "--json", workspace=ws.root).stdout)
    by_id = {run["id"]: run for run in runs}
    one, two = by_id[good.run_id], by_id[second.run_id]
    assert one["status"] == two["status"] == "finished"
    assert stamp(two["started_at"]) >= stamp(one["ended_at"]), (one, two)
    assert stamp(one["started_at"]) < stamp(one["ended_at"])
    wait_for(lambda: not runner_alive(ws), 30, "the runner to end with nothing left to do")
    finished = mhbench("queue", "list", workspace=ws.root)
    assert "queue: idle" in finished.stdout and "started runner" not in finished.stderr
