"""Real distributed ``swift sft`` on the CPU: two processes on one node, and two nodes on one machine.

ms-swift 4.x re-executes itself under ``torch.distributed.run`` when ``NPROC_PER_NODE`` or
``NNODES`` is set; on a CPU torch's process group is gloo. Both runs go through the one
command builder and the detached supervisor, like any launch.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.demo import create_demo
from core.models.serving import free_port
from core.profiles import apply_overrides, find_profile, load_profiles
from core.swift.dialects import installed_swift_version
from core.train.launch import LaunchRequest, launch, plan_run
from core.train.records import parse_record
from core.train.runs import RunRecord
from tests.helpers.real_runs import wait_for_run

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(installed_swift_version() is None, reason="ms-swift not installed"),
]
SHORT = ("train.max_steps=2", "train.save_steps=2", "train.eval_steps=2")
RUN_S = 600
"""A two-step distributed run's limit on the reference box, before scaling to this one."""


def _steps(record: RunRecord) -> list[int]:
    if not record.logging_path.is_file():
        return []
    records = [parse_record(json.loads(line)) for line in record.logging_path.read_text(encoding="utf-8").splitlines()]
    return [item.step for item in records if item is not None and item.kind == "train" and item.step is not None]


def test_two_processes_on_one_cpu_node_train_as_world_size_two(tmp_path: Path) -> None:
    workspace = create_demo(tmp_path / "ws").workspace
    profile = apply_overrides(find_profile(load_profiles(workspace.profiles_dir), "demo-tiny-qwen2"), list(SHORT))
    plan = plan_run(workspace, LaunchRequest(profile=profile, name="gloo", nproc_per_node=2, master_port=free_port()))
    assert plan.command.env["NPROC_PER_NODE"] == "2"
    record = wait_for_run(workspace, launch(workspace, plan).id, RUN_S, "the two-process run")
    stdout = record.stdout_path.read_text(errors="replace")
    assert record.status == "finished", (record.diagnosis, stdout[-3000:])
    assert "-m torch.distributed.run --nproc_per_node 2" in stdout  # swift's own re-exec
    assert "world_size: 2" in stdout
    assert _steps(record)[:2] == [1, 2]


def test_two_nodes_on_one_machine_rendezvous_and_only_rank_0_logs(tmp_path: Path) -> None:
    workspace = create_demo(tmp_path / "ws").workspace
    profile = apply_overrides(find_profile(load_profiles(workspace.profiles_dir), "demo-tiny-qwen2"), list(SHORT))
    port = free_port()
    runs = []
    for rank in (0, 1):
        request = LaunchRequest(profile=profile, name=f"node{rank}", nnodes=2, node_rank=rank,
                                master_addr="127.0.0.1", master_port=port, nproc_per_node=1)
        runs.append(launch(workspace, plan_run(workspace, request)))
    master, worker = (wait_for_run(workspace, run.id, RUN_S, f"node {run.node_rank}'s run") for run in runs)
    for record in (master, worker):
        assert record.status == "finished", (record.diagnosis, record.stdout_path.read_text(errors="replace")[-3000:])
    assert (master.node_rank, master.nnodes, worker.node_rank, worker.nnodes) == (0, 2, 1, 2)
    assert master.writes_log and not worker.writes_log and worker.node_label == "node 1/2"
    assert "--nnodes 2 --node_rank 1 --master_addr 127.0.0.1" in worker.stdout_path.read_text(errors="replace")
    assert "world_size: 2" in master.stdout_path.read_text(errors="replace")
    assert _steps(master)[:2] == [1, 2]
    assert not worker.logging_path.exists()  # swift writes logging.jsonl on rank 0 only


def test_a_two_process_run_stops_through_its_workers_with_a_checkpoint_and_resumes(tmp_path: Path) -> None:
    """Issue 20: the stop reaches torchrun's workers (not torchrun, which would kill their DataLoaders
    with their groups), graceful exit saves, nothing of the tree is left, and the resume goes on."""
    import time

    from core.base.processes import process_tree
    from core.train.launch import resume_run
    from core.train.runs import checkpoints_on_disk, get_run, stop_run

    workspace = create_demo(tmp_path / "ws").workspace
    changes = ["train.max_steps=100", "train.save_steps=1000", "train.eval_steps=1000", "train.logging_steps=1"]
    profile = apply_overrides(find_profile(load_profiles(workspace.profiles_dir), "demo-tiny-qwen2"), changes)
    record = launch(workspace, plan_run(workspace, LaunchRequest(profile=profile, name="stop", nproc_per_node=2,
                                                                 master_port=free_port())))
    deadline = time.monotonic() + 300
    while len(_steps(get_run(workspace, record.id))) < 2:
        current = get_run(workspace, record.id)
        assert current.active and time.monotonic() < deadline, (current.status, current.stdout_path)
        time.sleep(0.1)
    tree = process_tree(record.pid, record.start_time)
    assert len(tree) >= 4  # swift, torchrun, two workers (and their DataLoaders, if any)
    stopped = stop_run(workspace, record.id, timeout=180)
    stdout = stopped.stdout_path.read_text(errors="replace")
    assert stopped.status == "stopped", stdout[-3000:]
    assert [process.pid for process in tree if process.is_running()] == []
    saved = checkpoints_on_disk(stopped.output_dir)
    assert saved and saved[-1][0] < 100, stdout[-3000:]  # graceful exit saved mid-run
    resumed = wait_for_run(workspace, resume_run(workspace, record.id).id, RUN_S, "the resumed run")
    assert resumed.status == "finished", (resumed.diagnosis, resumed.stdout_path.read_text(errors="replace")[-3000:])
    assert resumed.last_step == 100
