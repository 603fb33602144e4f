"""The run queue's store: steps, order, pause, removal, the GPU-free decision, and the one runner."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.base.errors import MhbenchError
from core.base.gpu import GIB, GpuProcess, GpuReport, GpuSample
from core.base.workspace import Workspace
from core.train.run_queue import (
    add_entries,
    ensure_runner,
    get_entry,
    gpus_free,
    is_paused,
    list_entries,
    move_entry,
    parse_steps,
    pending_work,
    remove_entry,
    runner_alive,
    runner_lock,
    set_paused,
    shift_entry,
    update_entry,
    visible_gpus,
    waiting_entries,
)
from tests.helpers.machine import scaled


def labels(entries: list) -> list[str]:
    return [entry.profile for entry in entries]


def test_steps_are_checked_in_order() -> None:
    assert parse_steps("merge,gguf,quantise:Q4_K_M,session:overnight,generate") == (
        "merge", "gguf", "quantise:Q4_K_M", "session:overnight", "generate")
    assert parse_steps("merge, quantize:q8_0".replace("quantize:q8_0", "gguf,quantize:q8_0")) == (
        "merge", "gguf", "quantise:q8_0")
    assert parse_steps(None) == ()
    with pytest.raises(MhbenchError, match="gguf needs merge before it") as caught:
        parse_steps("gguf")
    assert "--then merge,gguf" in str(caught.value)
    with pytest.raises(MhbenchError, match="unknown step 'merj'"):
        parse_steps("merj")
    with pytest.raises(MhbenchError, match="'session' needs a value"):
        parse_steps("session")
    with pytest.raises(MhbenchError, match="generate needs session"):
        parse_steps("merge,generate")
    with pytest.raises(MhbenchError, match="merge is given twice"):
        parse_steps("merge,merge")


def test_entries_keep_their_order_and_move(workspace: Workspace) -> None:
    added = add_entries(workspace, ["a", "b", "c"], datasets=["/data/x.jsonl"], steps=("merge",))
    assert labels(added) == ["a", "b", "c"]
    assert added[0].datasets == ("/data/x.jsonl",) and added[0].steps == ("merge",) and added[0].status == "queued"
    a, b, c = (entry.id for entry in added)
    assert labels(move_entry(workspace, c, 1)) == ["c", "a", "b"]
    assert labels(shift_entry(workspace, a, -1)) == ["a", "c", "b"]
    assert labels(shift_entry(workspace, a, +1)) == ["c", "a", "b"]
    assert labels(move_entry(workspace, c, 99)) == ["a", "b", "c"]
    add_entries(workspace, ["d"])
    assert labels(waiting_entries(workspace)) == ["a", "b", "c", "d"]
    assert labels(move_entry(workspace, b, 4)) == ["a", "c", "d", "b"]


def test_remove_takes_out_waiting_and_ended_entries_but_not_one_at_work(workspace: Workspace) -> None:
    a, b, c = (entry.id for entry in add_entries(workspace, ["a", "b", "c"]))
    update_entry(workspace, a, status="training", run_id="20261206-000000-a")
    update_entry(workspace, c, status="failed", reason="dataset broken", ended_at="2026-12-06T00:00:00.000000Z")
    with pytest.raises(MhbenchError, match="at work") as caught:
        remove_entry(workspace, a)
    assert "mhbench stop 20261206-000000-a" in str(caught.value)
    remove_entry(workspace, b)
    remove_entry(workspace, c)
    assert [entry.id for entry in list_entries(workspace)] == [a]
    with pytest.raises(MhbenchError, match="no queue entry"):
        get_entry(workspace, b)
    with pytest.raises(MhbenchError, match="only a waiting entry moves"):
        move_entry(workspace, a, 1)


def test_the_list_shows_work_then_waiting_then_ended(workspace: Workspace) -> None:
    a, b, c = (entry.id for entry in add_entries(workspace, ["a", "b", "c"]))
    update_entry(workspace, a, status="done", ended_at="2026-12-06T01:00:00.000000Z")
    update_entry(workspace, c, status="steps", run_id="r", steps=json.dumps(["merge"]))
    entries = list_entries(workspace)
    assert [entry.id for entry in entries] == [c, b, a]
    assert entries[0].state_text() == "merge (1/1)"


def test_pending_work_is_what_a_runner_would_do(workspace: Workspace, tmp_path: Path) -> None:
    assert not pending_work(workspace.db_path)
    assert not pending_work(tmp_path / "nowhere" / "mhbench.db")
    (entry,) = add_entries(workspace, ["a"])
    assert pending_work(workspace.db_path)
    set_paused(workspace, True)
    assert is_paused(workspace) and not pending_work(workspace.db_path)
    update_entry(workspace, entry.id, status="training", run_id="r")
    assert pending_work(workspace.db_path), "a run at work is followed even in a paused queue"
    update_entry(workspace, entry.id, status="done")
    set_paused(workspace, False)
    assert not is_paused(workspace) and not pending_work(workspace.db_path)


def report(*gpus: GpuSample) -> GpuReport:
    return GpuReport(tuple(gpus))


def h100(index: int, used_gib: float, *pids: int) -> GpuSample:
    return GpuSample(index, "NVIDIA H100 80GB HBM3", int(used_gib * GIB), 80 * GIB,
                     processes=tuple(GpuProcess(pid, 10 * GIB) for pid in pids))


def test_without_a_gpu_runs_take_turns() -> None:
    cpu = report()
    assert visible_gpus(None, cpu) == frozenset()
    assert gpus_free(frozenset(), cpu, [])
    assert not gpus_free(frozenset(), cpu, [frozenset()])


def test_a_run_starts_when_every_gpu_it_needs_is_idle_and_unclaimed() -> None:
    box = report(h100(0, 0.5), h100(1, 0.5))
    everything = visible_gpus(None, box)
    assert everything == {0, 1}
    assert visible_gpus("1", box) == {1}
    assert gpus_free(everything, box, [])
    assert not gpus_free(everything, box, [frozenset({1})]), "a queued run at work claims its GPUs before loading"
    assert gpus_free(frozenset({0}), box, [frozenset({1})])
    busy = report(h100(0, 0.5), h100(1, 30, 4242))
    assert not gpus_free(everything, busy, [])
    assert gpus_free(frozenset({0}), busy, [])
    hidden = report(h100(0, 40))  # a process NVML cannot name (another container) still holds memory
    assert not gpus_free(frozenset({0}), hidden, [])
    assert not gpus_free(frozenset({3}), box, []), "a GPU that is not there is never free"


def test_one_runner_holds_the_lock(workspace: Workspace) -> None:
    assert not runner_alive(workspace)
    with runner_lock(workspace) as mine:
        assert mine
        assert runner_alive(workspace)
        with runner_lock(workspace) as second:
            assert not second
    assert not runner_alive(workspace)


def test_a_started_runner_fails_an_entry_it_cannot_start_and_ends(workspace: Workspace) -> None:
    (entry,) = add_entries(workspace, ["no-such-profile"])
    runner_id = ensure_runner(workspace)
    assert runner_id is not None
    assert ensure_runner(workspace) is None, "a runner still loading, before it takes the lock, is alive too"
    deadline = time.monotonic() + scaled(60)
    while (get_entry(workspace, entry.id).status == "queued" or runner_alive(workspace)) and time.monotonic() < deadline:
        time.sleep(0.2)
    failed = get_entry(workspace, entry.id)
    log = (workspace.root / "queue" / "runner.log").read_text(encoding="utf-8")
    assert failed.status == "failed", log
    assert failed.reason and "no-such-profile" in failed.reason
    assert not runner_alive(workspace), log
    assert ensure_runner(workspace) is None, "nothing waits: no runner starts"


def test_the_cli_lists_the_queue_as_json(workspace: Workspace) -> None:
    add_entries(workspace, ["a"], steps=("merge", "gguf"))
    set_paused(workspace, True)
    done = subprocess.run([sys.executable, "-m", "tui.cli", "--workspace", str(workspace.root), "queue", "list",
                           "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert listed["paused"] is True and listed["runner_alive"] is False
    assert [(e["profile"], e["then"], e["status"]) for e in listed["entries"]] == [("a", ["merge", "gguf"], "queued")]


def test_a_runner_row_whose_lock_is_free_is_marked_lost(workspace: Workspace) -> None:
    from core.base.db import registry
    from core.train.run_queue import last_runner

    with registry(workspace) as connection:
        connection.execute("INSERT INTO queue_runners (id, status, pid, created_at) VALUES ('killed', 'running', 1, ?)",
                           ("2026-12-06T00:00:00.000000Z",))
    add_entries(workspace, ["no-such-profile"])
    assert ensure_runner(workspace) is not None
    with registry(workspace) as connection:
        killed = connection.execute("SELECT status, ended_at FROM queue_runners WHERE id = 'killed'").fetchone()
    assert killed["status"] == "lost" and killed["ended_at"]
    newest = last_runner(workspace)
    assert newest is not None and newest["id"] != "killed"
    deadline = time.monotonic() + scaled(60)
    while runner_alive(workspace) or get_entry(workspace, 1).status == "queued":
        assert time.monotonic() < deadline, "the runner never ended"
        time.sleep(0.2)


def test_the_three_seed_bases_queue_in_one_command(workspace: Workspace) -> None:
    from core.queue.enqueue import queue_runs

    set_paused(workspace, True)  # nothing starts: this box cannot train a 7B model
    then = "merge,gguf,quantise:Q4_K_M,session:overnight,generate"
    seeds = ["qwen2.5-7b-instruct", "llama3.1-8b-instruct", "llama3-chinese-8b-instruct-v2"]
    entries, runner = queue_runs(workspace, seeds, then=then)
    assert runner is None
    assert [(entry.profile, entry.steps) for entry in entries] == [(seed, tuple(then.split(","))) for seed in seeds]
    with pytest.raises(MhbenchError, match="unknown quantisation 'Q9'"):
        queue_runs(workspace, seeds[:1], then="merge,gguf,quantise:Q9")
    with pytest.raises(MhbenchError, match="no profile named 'qwen-typo'"):
        queue_runs(workspace, [seeds[0], "qwen-typo"])
    with pytest.raises(MhbenchError, match="--name names one run"):
        queue_runs(workspace, seeds, name="night")
    assert len(waiting_entries(workspace)) == 3, "a refused command queues nothing"


def insert_run(workspace: Workspace, run_id: str, status: str, env: dict[str, str] | None = None) -> None:
    from core.base.db import registry
    from core.base.processes import utc_now

    with registry(workspace) as connection:
        connection.execute(
            "INSERT INTO runs (id, name, profile, run_dir, output_dir, argv, env, status, created_at, diagnosis) "
            "VALUES (?, ?, 'p', ?, ?, '[]', ?, ?, ?, ?)",
            (run_id, run_id, str(workspace.runs_dir / run_id), str(workspace.runs_dir / run_id / "output"),
             json.dumps(env or {}), status, utc_now(),
             json.dumps({"kind": "oom", "summary": "CUDA out of memory.", "fix": "lower the batch."})
             if status == "failed" else None))


def test_the_runner_waits_its_turn_then_goes_on_after_a_failure(workspace: Workspace) -> None:
    from core.base.db import registry
    from core.queue.runner import QueueRunner

    first, second = add_entries(workspace, ["a", "no-such-profile"])
    update_entry(workspace, first.id, status="training", run_id="run-a")
    insert_run(workspace, "run-a", "starting")
    runner = QueueRunner(workspace, "test", gpus=report())
    assert runner.tick(), "a run at work"
    assert get_entry(workspace, second.id).status == "queued", "on a CPU box the next run waits its turn"
    with registry(workspace) as connection:
        connection.execute("UPDATE runs SET status = 'failed', diagnosis = ? WHERE id = 'run-a'",
                           (json.dumps({"kind": "oom", "summary": "CUDA out of memory.", "fix": "lower the batch."}),))
    assert not runner.tick(), "both ended: nothing left"
    failed = get_entry(workspace, first.id)
    assert failed.status == "failed" and failed.reason == "run run-a failed: CUDA out of memory."
    after = get_entry(workspace, second.id)
    assert after.status == "failed" and after.reason and "no-such-profile" in after.reason, "the queue went on"


def test_a_run_started_by_hand_holds_its_gpus_against_the_queue(workspace: Workspace) -> None:
    from core.queue.runner import QueueRunner

    (entry,) = add_entries(workspace, ["no-such-profile"], gpus="0")
    insert_run(workspace, "by-hand", "starting", {"CUDA_VISIBLE_DEVICES": "0"})
    runner = QueueRunner(workspace, "test", gpus=report(h100(0, 0.5), h100(1, 0.5)))
    assert runner.tick()
    assert get_entry(workspace, entry.id).status == "queued"
    update_entry(workspace, entry.id, gpus="1")
    runner.tick()
    assert get_entry(workspace, entry.id).status == "failed", "GPU 1 was free: the entry was started (and refused)"
