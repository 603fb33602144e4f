"""Multi-node and DeepSpeed launches through the one command builder, checked against the installed swift."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from pathlib import Path

import pytest

from core.base import db
from core.base.db import registry
from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from core.profiles import Profile, apply_overrides, find_profile, load_profiles
from core.swift.dialects import installed_swift_version
from core.train.distributed import (
    DEEPSPEED_PRESETS,
    Topology,
    check_deepspeed_installed,
    check_local_gpus,
    parse_host_port,
)
from core.train.launch import LaunchRequest, launch, launch_environment, plan_nodes, plan_run
from core.train.runs import get_run, list_runs
from tests.helpers.commands import flag_values

HAS_SWIFT = installed_swift_version() is not None


@pytest.fixture(scope="module")
def qwen() -> Profile:
    return find_profile(load_profiles(), "qwen2.5-7b-instruct")


def test_every_node_gets_the_same_argv_and_its_own_rank(workspace: Workspace, qwen: Profile) -> None:
    request = LaunchRequest(profile=qwen, nnodes=3, master_addr="10.0.0.5", nproc_per_node=8, deepspeed="zero3",
                            cuda_visible_devices="0,1,2,3,4,5,6,7")
    plans = plan_nodes(workspace, request, check=HAS_SWIFT)  # every flag checked against the installed swift
    assert [plan.topology.node_rank for plan in plans] == [0, 1, 2]
    assert len({plan.command.argv for plan in plans}) == 1
    assert flag_values(plans[0].command.argv)["deepspeed"] == ["zero3"]
    for rank, plan in enumerate(plans):
        assert plan.command.env == {
            "PYTHONUNBUFFERED": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7", "NNODES": "3",
            "NODE_RANK": str(rank), "MASTER_ADDR": "10.0.0.5", "MASTER_PORT": "29500", "NPROC_PER_NODE": "8",
        }
    assert plans[0].topology.label == "node 0/3"


def test_a_one_node_plan_is_a_list_of_one_and_sets_no_node_variables(workspace: Workspace, qwen: Profile) -> None:
    (plan,) = plan_nodes(workspace, LaunchRequest(profile=qwen, nproc_per_node=2), check=False)
    assert plan.command.env == {"PYTHONUNBUFFERED": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID", "NPROC_PER_NODE": "2"}
    assert not plan.topology.multi_node and plan.topology.label == ""
    port = launch_environment(LaunchRequest(profile=qwen, nproc_per_node=2, master_port=29611))
    assert port["MASTER_PORT"] == "29611"  # two one-node runs on one box need two ports


def test_the_profiles_distributed_section_is_the_default_and_the_request_wins(
        workspace: Workspace, qwen: Profile) -> None:
    profile = apply_overrides(qwen, ["distributed.nnodes=2", "distributed.nproc_per_node=4",
                                     "distributed.master_port=29777", 'distributed.deepspeed="zero2_offload"'])
    plan = plan_run(workspace, LaunchRequest(profile=profile, node_rank=1, master_addr="gpu-a.lab"),
                    check=False, dry_run=True)
    env = plan.command.env
    assert (env["NNODES"], env["NODE_RANK"], env["NPROC_PER_NODE"], env["MASTER_PORT"]) == ("2", "1", "4", "29777")
    assert flag_values(plan.command.argv)["deepspeed"] == ["zero2_offload"]
    single = plan_run(workspace, LaunchRequest(profile=profile, nnodes=1, deepspeed="zero3"), check=False, dry_run=True)
    assert "NNODES" not in single.command.env and flag_values(single.command.argv)["deepspeed"] == ["zero3"]
    with pytest.raises(MhbenchError, match=r"Did you mean .nnodes."):
        apply_overrides(qwen, ["distributed.nnode=2"])


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"nnodes": 2, "node_rank": 2, "master_addr": "10.0.0.5"}, r"node rank 2 is outside 0–1"),
        ({"nnodes": 2, "node_rank": -1, "master_addr": "10.0.0.5"}, r"node rank -1 is outside"),
        ({"node_rank": 1}, "a one-node run is rank 0"),
        ({"nnodes": 2}, "needs the master's address"),
        ({"nnodes": 2, "master_addr": "   "}, "needs the master's address"),
        ({"nnodes": 2, "master_addr": "no host!"}, "neither an IP address nor a host name"),
        ({"nnodes": 2, "master_addr": "10.0.0.5", "master_port": 80}, "outside 1024–65535"),
        ({"nnodes": 2, "master_addr": "10.0.0.5", "master_port": 70000}, "outside 1024–65535"),
        ({"nnodes": 0}, "at least one"),
        ({"nproc_per_node": 4, "cuda_visible_devices": "0,1"}, "only 2 GPU"),
        ({"nproc_per_node": 2, "cuda_visible_devices": "0;1"}, "not a list of GPU indices"),
    ],
)
def test_bad_node_settings_fail_before_anything_starts(
        workspace: Workspace, qwen: Profile, settings: dict[str, object], message: str) -> None:
    with pytest.raises(MhbenchError, match=message) as caught:
        plan_run(workspace, LaunchRequest(profile=qwen, **settings), check=False, dry_run=True)  # type: ignore[arg-type]
    assert caught.value.fix


def test_this_machines_gpus_and_deepspeed_are_checked_before_a_real_start(workspace: Workspace, qwen: Profile) -> None:
    with pytest.raises(MhbenchError, match="this machine has 1 GPU"):
        check_local_gpus(Topology(nproc_per_node=2), 1)
    check_local_gpus(Topology(nproc_per_node=2), 2)
    check_local_gpus(Topology(nproc_per_node=2), 0)  # a CPU box runs gloo processes
    check_deepspeed_installed(None)
    if importlib.util.find_spec("deepspeed") is None:
        with pytest.raises(MhbenchError, match="deepspeed package is not installed") as caught:
            check_deepspeed_installed("zero3")
        assert "pip install deepspeed" in (caught.value.fix or "")
        # The plan is the same anywhere (a dry run prints it); launching it here is refused first.
        plan = plan_run(workspace, LaunchRequest(profile=qwen, deepspeed="zero3_offload"), check=False)
        with pytest.raises(MhbenchError, match="deepspeed package is not installed"):
            launch(workspace, plan)
        assert not plan.run_dir.exists() and list_runs(workspace) == []


@pytest.mark.skipif(not HAS_SWIFT, reason="ms-swift not installed")
def test_every_deepspeed_preset_is_one_that_the_installed_swift_ships() -> None:
    spec = importlib.util.find_spec("swift")
    assert spec is not None and spec.submodule_search_locations
    config_dir = Path(next(iter(spec.submodule_search_locations))) / "config"
    for preset in DEEPSPEED_PRESETS:
        assert (config_dir / f"{preset}.json").is_file(), preset
    offload = json.loads((config_dir / "zero3_offload.json").read_text())
    assert offload["zero_optimization"]["offload_optimizer"]["device"] == "cpu"


def test_host_and_port_as_typed_in_the_form() -> None:
    assert parse_host_port("") == (None, None)
    assert parse_host_port(" gpu-a.lab ") == ("gpu-a.lab", None)
    assert parse_host_port("10.0.0.1:29600") == ("10.0.0.1", 29600)
    assert parse_host_port("[fe80::1]:29600") == ("fe80::1", 29600)
    with pytest.raises(MhbenchError, match="not a port number"):
        parse_host_port("10.0.0.1:port")


def test_the_cli_dry_run_prints_each_nodes_command_and_environment(
        demo, capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main

    arguments = ["--workspace", str(demo.workspace.root), "train", "demo-tiny-qwen2", "--nnodes", "2",
                 "--node-rank", "0", "--master-addr", "10.0.0.5", "--deepspeed", "zero2", "--dry-run"]
    if not HAS_SWIFT:
        arguments.append("--no-check")
    assert main(arguments) == 0
    out = capsys.readouterr().out
    assert "# --- node 0 of 2 (the master" in out and "# --- node 1 of 2 (a worker" in out
    assert "--nnodes 2 --node-rank 1 --master-addr 10.0.0.5 --deepspeed zero2" in out
    blocks = out.split("# --- ")[1:]
    assert "NODE_RANK=0 \\" in blocks[0] and "NODE_RANK=1 \\" in blocks[1]
    for block in blocks:
        assert "MASTER_ADDR=10.0.0.5 \\" in block and "NNODES=2 \\" in block and "MASTER_PORT=29500 \\" in block
        assert "--deepspeed zero2" in block
    assert main([*arguments, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["nnodes"] == 2 and [node["env"]["NODE_RANK"] for node in shown["nodes"]] == ["0", "1"]
    assert shown["nodes"][0]["argv"] == shown["nodes"][1]["argv"]


def test_the_cli_names_a_bad_node_setting(demo, capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main

    code = main(["--workspace", str(demo.workspace.root), "train", "demo-tiny-qwen2", "--nnodes", "2",
                 "--dry-run", "--no-check"])
    assert code != 0 and "--master-addr" in capsys.readouterr().err



DRY_RUN_REFUSALS = {
    "node rank beyond --nnodes": (["--nnodes", "2", "--master-addr", "10.0.0.5", "--node-rank", "2"],
                                  "node rank 2 is outside 0–1 for 2 node(s)."),
    "node rank beyond the profile's nnodes": (["--set", "distributed.nnodes=3", "--master-addr", "10.0.0.5",
                                               "--node-rank", "5"], "node rank 5 is outside 0–2 for 3 node(s)."),
    "missing dataset from --dataset": (["--dataset", "{missing}"], "{missing}: does not exist."),
    "missing dataset from the profile": (["--set", 'train.dataset=["{missing}"]'], "{missing}: does not exist."),
}


@pytest.mark.parametrize("case", list(DRY_RUN_REFUSALS))
def test_a_dry_run_refuses_what_the_launch_refuses(
        case: str, demo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same command line, with and without --dry-run: the same refusal, and nothing started."""
    from tui.cli import main

    missing = str(tmp_path / "counsel-missing.jsonl")
    options, message = DRY_RUN_REFUSALS[case]
    options = [option.replace("{missing}", missing) for option in options]
    arguments = ["--workspace", str(demo.workspace.root), "train", "demo-tiny-qwen2", *options, "--no-check"]
    runs_before = sorted(demo.workspace.runs_dir.glob("*")) if demo.workspace.runs_dir.is_dir() else []
    refusals = []
    for dry_run in (["--dry-run"], []):
        assert main([*arguments, *dry_run]) == 2, (case, dry_run)
        refusals.append(capsys.readouterr().err.strip().splitlines()[-1])
    assert refusals[0] == refusals[1], refusals
    assert refusals[0].startswith("mhbench: error: ") and message.replace("{missing}", missing) in refusals[0]
    assert (sorted(demo.workspace.runs_dir.glob("*")) if demo.workspace.runs_dir.is_dir() else []) == runs_before


# --- the registry -------------------------------------------------------------------------------


def test_the_node_rank_migration_keeps_every_existing_run(tmp_path: Path) -> None:
    path = tmp_path / "mhbench.db"
    old = sqlite3.connect(path)
    mine = next(i for i, script in enumerate(db.MIGRATIONS) if "ADD COLUMN node_rank" in script)
    for script in db.MIGRATIONS[:mine]:  # the schema as it was before the node columns
        old.executescript(script)
    old.execute(f"PRAGMA user_version = {mine}")
    old.execute("INSERT INTO runs (id, name, profile, run_dir, output_dir, argv, env, status, created_at, last_loss) "
                "VALUES ('old', 'old', 'p', '/r', '/r/output', '[\"swift\"]', '{\"NPROC_PER_NODE\": \"2\"}', "
                "'finished', '2025-01-01T00:00:00Z', 0.5)")
    old.commit()
    old.close()
    workspace = Workspace(tmp_path)
    record = get_run(workspace, "old")
    assert (record.node_rank, record.nnodes, record.last_loss, record.status) == (0, 1, 0.5, "finished")
    assert record.writes_log and record.node_label == "" and record.topology.nproc_per_node == 2
    with registry(workspace) as connection:
        assert db.schema_version(connection) == db.SCHEMA_VERSION


def test_a_worker_nodes_run_says_it_has_no_log_of_its_own(workspace: Workspace) -> None:
    with registry(workspace) as connection:
        connection.execute(
            "INSERT INTO runs (id, name, profile, run_dir, output_dir, argv, env, status, created_at, node_rank, nnodes)"
            " VALUES ('w', 'w', 'p', '/r', '/r/output', '[]', ?, 'running', '2025-01-01T00:00:00Z', 1, 2)",
            (json.dumps({"NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "10.0.0.5", "MASTER_PORT": "29600",
                         "NPROC_PER_NODE": "4"}),),
        )
    record = get_run(workspace, "w")
    assert not record.writes_log and record.node_label == "node 1/2"
    assert record.topology == Topology(2, 1, 4, "10.0.0.5", 29600, True)


def test_mhbench_runs_names_the_node(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main

    test_a_worker_nodes_run_says_it_has_no_log_of_its_own(workspace)
    assert main(["--workspace", str(workspace.root), "runs"]) == 0
    assert "(node 1/2: its curve is on node 0)" in capsys.readouterr().out
    assert main(["--workspace", str(workspace.root), "runs", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["node_rank"], row["nnodes"]) == (1, 2)

