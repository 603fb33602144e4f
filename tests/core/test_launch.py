"""One launch plan for every door: the request's settings reach the argv and env, bad ones fail early."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from core.base.db import registry
from core.base.errors import MhbenchError
from core.base.lineage import walk_lineage
from core.base.workspace import Workspace
from core.profiles import Profile, find_profile, load_profiles
from core.swift.dialects import DIALECT_3
from core.train.launch import DRY_RUN_ID, LaunchRequest, launch, launch_environment, plan_run
from core.train.runs import get_run, lineage
from tests.helpers.commands import flag_values


@pytest.fixture(scope="module")
def qwen() -> Profile:
    return find_profile(load_profiles(), "qwen2.5-7b-instruct")


def test_every_setting_of_the_request_reaches_the_command(workspace: Workspace, qwen: Profile, tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint-4"
    request = LaunchRequest(
        profile=qwen, name="all", overrides=("train.epochs=2", "train.max_length=1024"),
        dataset=("a.jsonl", "b.jsonl"), tuner="qlora", cuda_visible_devices="0,1", nproc_per_node=2,
        deepspeed="zero3", resume_from=checkpoint, extra={"lr_scheduler_type": "cosine"},
    )
    plan = plan_run(workspace, request, check=False, dry_run=True)
    values = flag_values(plan.command.argv)
    assert values["num_train_epochs"] == ["2"] and values["max_length"] == ["1024"]
    assert values["dataset"] == ["a.jsonl", "b.jsonl"]
    assert values["quant_method"] == ["bnb"] and values["quant_bits"] == ["4"]
    assert values["deepspeed"] == ["zero3"]
    assert values["resume_from_checkpoint"] == [str(checkpoint)]
    assert values["lr_scheduler_type"] == ["cosine"]
    assert values["output_dir"] == [str(workspace.runs_dir / DRY_RUN_ID / "output")]
    assert plan.command.env == {"PYTHONUNBUFFERED": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "0,1", "NPROC_PER_NODE": "2"}
    assert plan.run_id == DRY_RUN_ID and plan.name == "all" and plan.profile == qwen.name
    assert plan.effective_profile is not None and plan.effective_profile.lora.tuner == "qlora"
    # A real plan differs only in the run id, stamped now.
    real = plan_run(workspace, request, check=False)
    assert real.run_id != DRY_RUN_ID and real.run_dir == workspace.runs_dir / real.run_id
    assert [part.replace(DRY_RUN_ID, real.run_id) for part in plan.command.argv] == list(real.command.argv)
    assert real.command.env == plan.command.env


def test_a_plain_request_is_the_profile_as_it_stands(workspace: Workspace, qwen: Profile) -> None:
    plan = plan_run(workspace, LaunchRequest(profile=qwen, flash_attn=True), check=False, dry_run=True)
    assert plan.command.env == {"PYTHONUNBUFFERED": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    assert plan.effective_profile == qwen and plan.name == qwen.name
    assert "--deepspeed" not in plan.command.argv and "--resume_from_checkpoint" not in plan.command.argv


def test_one_process_sets_no_torchrun() -> None:
    profile = find_profile(load_profiles(), "qwen2.5-7b-instruct")
    assert launch_environment(LaunchRequest(profile=profile, nproc_per_node=1)) == {"PYTHONUNBUFFERED": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    assert launch_environment(LaunchRequest(profile=profile, nproc_per_node=4))["NPROC_PER_NODE"] == "4"


@pytest.mark.parametrize(
    ("gpus", "nproc", "message"),
    [
        ("0;1", None, "not a list of GPU indices"),
        ("gpu0", None, "not a list of GPU indices"),
        (None, 0, "at least 1"),
        ("0,1", 3, "only 2 GPU"),
    ],
)
def test_bad_gpu_settings_fail_before_anything_starts(
    workspace: Workspace, qwen: Profile, gpus: str | None, nproc: int | None, message: str
) -> None:
    request = LaunchRequest(profile=qwen, cuda_visible_devices=gpus, nproc_per_node=nproc)
    with pytest.raises(MhbenchError, match=message):
        plan_run(workspace, request, check=False, dry_run=True)


def test_a_bad_override_names_where_it_was_typed(workspace: Workspace, qwen: Profile) -> None:
    request = LaunchRequest(profile=qwen, overrides=("train.epochs=-1",), override_source="the launch form")
    with pytest.raises(MhbenchError, match="the launch form"):
        plan_run(workspace, request, check=False, dry_run=True)


def test_another_dialect_is_a_preview_only(workspace: Workspace, qwen: Profile) -> None:
    preview = plan_run(workspace, LaunchRequest(profile=qwen, dialect=3), dry_run=True)  # no check: not installed
    assert preview.command.dialect is DIALECT_3 and "--train_type" in preview.command.argv
    with pytest.raises(MhbenchError, match="only for a dry run"):
        plan_run(workspace, LaunchRequest(profile=qwen, dialect=3))
    with pytest.raises(MhbenchError, match=r"no ms-swift 2\.x dialect"):
        plan_run(workspace, LaunchRequest(profile=qwen, dialect=2), dry_run=True)


def test_a_dry_run_plan_is_never_launched(workspace: Workspace, qwen: Profile) -> None:
    plan = plan_run(workspace, LaunchRequest(profile=qwen), check=False, dry_run=True)
    with pytest.raises(MhbenchError, match="dry-run plan cannot be launched"):
        launch(workspace, plan)
    assert not (workspace.runs_dir / DRY_RUN_ID).exists()


def test_a_missing_resume_checkpoint_fails_the_check(workspace: Workspace, qwen: Profile, tmp_path: Path) -> None:
    request = LaunchRequest(profile=qwen, resume_from=tmp_path / "checkpoint-9")
    with pytest.raises(MhbenchError, match="checkpoint to resume from is not there") as caught:
        plan_run(workspace, request, dry_run=True)
    assert "checkpoint-9" in str(caught.value)


# --- the lineage walk ------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    id: str
    parent_id: str | None


def test_walk_goes_up_to_the_first_ancestor_and_stops_at_a_gap_or_a_cycle() -> None:
    rows = {"a": Node("a", None), "b": Node("b", "a"), "c": Node("c", "b")}
    assert [n.id for n in walk_lineage(rows["c"], rows.get)] == ["a", "b", "c"]
    assert [n.id for n in walk_lineage(Node("d", "gone"), rows.get)] == ["d"]
    looped = {"x": Node("x", "y"), "y": Node("y", "x")}
    assert [n.id for n in walk_lineage(looped["x"], looped.get)] == ["y", "x"]


def _insert_run(workspace: Workspace, run_id: str, parent_id: str | None) -> None:
    with registry(workspace) as connection:
        connection.execute(
            "INSERT INTO runs (id, name, profile, parent_id, run_dir, output_dir, argv, env, status, created_at) "
            "VALUES (?, ?, 'p', ?, ?, ?, '[]', '{}', 'finished', ?)",
            (run_id, run_id, parent_id, str(workspace.runs_dir / run_id), str(workspace.runs_dir / run_id / "output"),
             f"2025-01-0{len(run_id)}T00:00:00Z"),
        )


def test_a_resumed_runs_lineage_is_its_parents_oldest_first(workspace: Workspace) -> None:
    _insert_run(workspace, "r1", None)
    _insert_run(workspace, "r1-2", "r1")
    _insert_run(workspace, "r1-23", "r1-2")
    chain = lineage(workspace, get_run(workspace, "r1-23"))
    assert [record.id for record in chain] == ["r1", "r1-2", "r1-23"]
    assert [record.parent_id for record in chain] == [None, "r1", "r1-2"]
