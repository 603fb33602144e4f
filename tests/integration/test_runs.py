"""Real `swift sft` runs of the tiny demo model through core.train.runs: detached, tailed, stopped, resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.base.errors import MhbenchError
from core.base.processes import group_alive
from core.base.tail import JsonlTail
from core.demo import create_demo
from core.profiles import apply_overrides, find_profile, load_profiles
from core.swift.dialects import installed_swift_version
from core.train.follow import RunFollower
from core.train.launch import LaunchRequest, launch, plan_run, resume_run
from core.train.records import parse_record
from core.train.runs import checkpoints, get_run, list_runs, stop_run
from tests.helpers.real_runs import wait_for, wait_for_run

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(installed_swift_version() is None, reason="ms-swift not installed"),
]


@pytest.fixture()
def ws(tmp_path: Path):
    return create_demo(tmp_path / "ws").workspace


def demo_profile(workspace, *overrides: str):
    profile = find_profile(load_profiles(workspace.profiles_dir), "demo-tiny-qwen2")
    return apply_overrides(profile, list(overrides)) if overrides else profile


def test_run_completes_and_registers_its_checkpoints(ws) -> None:
    profile = demo_profile(ws, "train.max_steps=6", "train.save_steps=3", "train.eval_steps=3")
    record = launch(ws, plan_run(ws, LaunchRequest(profile=profile, name="complete")))
    assert record.status == "running" and record.pid == record.pgid
    follower = RunFollower(ws, record)
    finished = wait_for_run(ws, record.id, 300, "the run")
    assert finished.status == "finished", (finished.diagnosis, (record.run_dir / "stdout.log").read_text()[-3000:])
    assert finished.exit_code == 0
    update = follower.poll()
    assert [step for step, _ in update.curve.train_points] == [1, 2, 3, 4, 5, 6]
    assert update.curve.eval_points and update.curve.max_steps == 6
    assert any("Train" in line or "swift" in line for line in update.new_lines)
    assert all("\r" not in line for line in update.new_lines)
    steps = [step for step, _ in checkpoints(ws, record.id)]
    assert steps == [3, 6]
    assert finished.last_checkpoint and finished.last_checkpoint.endswith("checkpoint-6")
    assert finished.last_step == 6 and finished.last_loss is not None
    outcome = json.loads((record.run_dir / "exit.json").read_text())
    assert outcome["status"] == "finished"
    assert json.loads((record.run_dir / "run.json").read_text())["argv"][:2] == ["swift", "sft"]
    listed = subprocess.run(
        [sys.executable, "-m", "tui.cli", "--workspace", str(ws.root), "runs", "--json"],
        capture_output=True, text=True, timeout=60,
    )
    row = json.loads(listed.stdout)[0]
    assert row["status"] == "finished" and row["step"] == 6 and row["max_steps"] == 6


STOP_TEST_STEPS = 200
"""Enough that the stop lands mid-run on a fast machine: a tiny step takes ~0.1–0.3 s."""


def _logged_step(record) -> int:
    """The newest step in logging.jsonl itself: the registry's copy lags by up to 2 s."""
    try:
        lines = record.logging_path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return 0
    steps = [r.step for r in map(parse_record, map(json.loads, filter(None, lines[-5:]))) if r and r.step]
    return max(steps, default=0)


def test_stop_gracefully_then_resume_stitches_the_curve(ws) -> None:
    profile = demo_profile(ws, f"train.max_steps={STOP_TEST_STEPS}", "train.save_steps=1000",
                           "train.eval_steps=1000")
    record = launch(ws, plan_run(ws, LaunchRequest(profile=profile, name="stopme")))
    wait_for(lambda: _logged_step(get_run(ws, record.id)) >= 3, 300, "step 3", interval=0.1)
    stopped = stop_run(ws, record.id, timeout=120)
    assert stopped.status == "stopped"
    assert not group_alive(record.pgid), "stop left processes in the run's group"
    saved = checkpoints(ws, record.id)
    assert saved, "graceful exit saved no checkpoint"
    stop_step = saved[-1][0]
    assert stop_step is not None and 3 <= stop_step < STOP_TEST_STEPS

    child = resume_run(ws, record.id)
    assert child.parent_id == record.id and child.resume_from and child.resume_from.endswith(f"checkpoint-{stop_step}")
    done = wait_for_run(ws, child.id, 300, "the resumed run")
    assert done.status == "finished", done.diagnosis
    curve = RunFollower(ws, done).poll().curve
    steps = [step for step, _ in curve.train_points]
    assert steps[0] == 1 and steps[-1] == STOP_TEST_STEPS
    assert steps == sorted(set(steps)), "stitched curve repeats or reorders steps"
    logged = [parse_record(obj) for obj in JsonlTail(done.logging_path).poll()]
    first_step = next(r.step for r in logged if r is not None and r.kind == "train")
    assert first_step == stop_step + 1, "the resumed run should go on from its parent's checkpoint"


def test_broken_dataset_fails_with_a_diagnosis(ws, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.jsonl"
    profile = demo_profile(ws, f"train.dataset=['{missing}']", "train.max_steps=2")
    record = launch(ws, plan_run(ws, LaunchRequest(profile=profile, name="broken")))
    done = wait_for_run(ws, record.id, 300, "the failure")
    assert done.status == "failed" and done.exit_code not in (0, None)
    assert done.diagnosis is not None
    assert done.diagnosis["kind"] in {"dataset_not_found", "dataset_malformed"}, done.diagnosis
    assert done.diagnosis["fix"]


def test_impossible_flag_fails_before_launch(ws) -> None:
    profile = demo_profile(ws, "train.extra_args={lora_rnak=4}")
    started = time.monotonic()
    with pytest.raises(MhbenchError, match=r"lora_rnak.*Did you mean 'lora_rank'"):
        plan_run(ws, LaunchRequest(profile=profile))
    assert time.monotonic() - started < 5
    assert list_runs(ws) == []


def test_run_survives_the_tui_being_killed(ws) -> None:
    """Kill the TUI (SIGKILL, then a lost terminal) while a real run goes on; a new app re-attaches."""
    import pty

    profile = demo_profile(ws, "train.max_steps=12", "train.save_steps=1000", "train.eval_steps=1000")
    record = launch(ws, plan_run(ws, LaunchRequest(profile=profile, name="survivor")))
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.executable, [sys.executable, "-m", "tui.cli", "--workspace", str(ws.root)])
    try:
        time.sleep(3)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    finally:
        os.close(fd)  # the terminal goes away too, as when SSH drops
    done = wait_for_run(ws, record.id, 300, "the run")
    assert done.status == "finished"
    assert [step for step, _ in RunFollower(ws, done).poll().curve.train_points] == list(range(1, 13))
