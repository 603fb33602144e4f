"""Launching a training run: one request becomes one exact ``swift sft`` command and one run folder.

Every door that shows or starts a run builds its command here, through
:func:`plan_run`: ``mhbench train`` (its dry run, ``--json`` and the launch), the
Profiles pane's dry-run text and its flag check, the Train mode's confirm step, and
resuming. So a preview is the command the supervisor executes, to the byte: the
same overrides applied in the same order, the same dialect, the same DeepSpeed,
resume and GPU settings, the same environment. Only the run id differs in a dry run,
because it is stamped when the run starts (:data:`DRY_RUN_ID` stands in for it).

A launched run's folder holds ``run.json`` with the argv and env; the supervisor
(:mod:`core.train.runner`) runs exactly those.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from core.base.errors import MhbenchError
from core.base.gpu import DEVICE_ORDER_ENV, sample_gpus
from core.base.processes import ProcessRow, start_detached, utc_now, write_json_atomic
from core.base.workspace import Workspace
from core.profiles import apply_overrides
from core.swift.dialects import DIALECTS, TORCH_DTYPES, SftCommand, build_sft_command, installed_dialect
from core.swift.flags import check_command
from core.train.attention import attention_fallback, flash_attn_importable
from core.train.distributed import (
    DeepSpeedPreset,
    Topology,
    check_deepspeed_installed,
    check_gpus_per_process,
    check_local_gpus,
    gpu_list,
    resolve_topology,
)
from core.train.runs import RUN_FILE, RunRecord, checkpoints_on_disk, get_run

if TYPE_CHECKING:
    from core.profiles import Profile
    from core.swift.dialects import Dialect

Tuner = Literal["lora", "qlora"]
DRY_RUN_ID = "<run-id>"
"""The run id a dry run prints in the output folder: the real one is stamped at launch."""


@dataclass(frozen=True)
class LaunchRequest:
    """What the launch form, ``mhbench train`` or the Profiles pane asks for, on top of a profile."""

    profile: Profile
    name: str | None = None
    """The run's name; the profile's name when not given."""
    overrides: tuple[str, ...] = ()
    """``section.key=value`` changes to the profile (``--set``, the launch form's fields), in order."""
    override_source: str = "--set"
    """Where the overrides were typed, for the error that names a bad one."""
    dataset: tuple[str, ...] = ()
    """Dataset files or hub ids replacing the profile's (``--dataset``); after the overrides."""
    tuner: Tuner | None = None
    """LoRA or 4-bit QLoRA instead of the profile's choice (``--qlora``, the form's Adapter)."""
    cuda_visible_devices: str | None = None
    """GPUs the run may use (``CUDA_VISIBLE_DEVICES``), e.g. ``0,1``."""
    nproc_per_node: int | None = None
    """Processes per node; above 1 swift starts torchrun (``NPROC_PER_NODE``). ``None``: the profile's."""
    nnodes: int | None = None
    """Machines in the run (``NNODES``); ``None``: the profile's ``[distributed]`` value."""
    node_rank: int | None = None
    """This machine's rank (``NODE_RANK``), 0 for the master; ``None``: 0."""
    master_addr: str | None = None
    """The rank-0 machine's address (``MASTER_ADDR``); needed for more than one node."""
    master_port: int | None = None
    """The rank-0 machine's port (``MASTER_PORT``); ``None``: the profile's."""
    deepspeed: DeepSpeedPreset | None = None
    """swift's DeepSpeed preset; ``None``: the profile's."""
    resume_from: Path | None = None
    """A checkpoint folder to go on from (``--resume_from_checkpoint``)."""
    parent_id: str | None = None
    """The run this one continues, for stitched curves and lineage."""
    extra: Mapping[str, str | int | float | bool] = field(default_factory=dict)
    """Further swift flags, after everything the profile gives (they win)."""
    dialect: int | None = None
    """Build for this ms-swift major version rather than the installed one (a preview; no flag check)."""
    flash_attn: bool | None = None
    """Whether flash-attn imports on this machine; ``None``: find out (:func:`flash_attn_importable`)."""

    def effective_profile(self) -> Profile:
        """The profile with the request's overrides, datasets and tuner applied, validated again."""

        profile = self.profile
        if self.overrides:
            profile = apply_overrides(profile, self.overrides, source=self.override_source)
        changes = []
        if self.dataset:
            changes.append("train.dataset=" + json.dumps(list(self.dataset), ensure_ascii=False))
        if self.tuner is not None and self.tuner != profile.lora.tuner:
            changes.append(f"lora.tuner={self.tuner}")
        return apply_overrides(profile, changes, source=self.override_source) if changes else profile


@dataclass(frozen=True)
class RunPlan:
    """A run ready to start: its id, folder and exact command and environment."""

    run_id: str
    name: str
    profile: str
    run_dir: Path
    output_dir: Path
    command: SftCommand
    parent_id: str | None = None
    resume_from: Path | None = None
    effective_profile: Profile | None = None
    """The profile the command was built from (``None`` for a resume, which reuses its parent's argv)."""
    topology: Topology = field(default_factory=Topology)
    """Which node of how many this command is for."""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:48] or "run"


def new_run_id(workspace: Workspace, label: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{_slug(label)}"
    candidate, n = base, 1
    while (workspace.runs_dir / candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _dialect(major: int | None) -> Dialect:
    """The dialect to build for: the installed swift's, unless a preview names another."""

    if major is None:
        return installed_dialect()
    if major not in DIALECTS:
        raise MhbenchError(f"there is no ms-swift {major}.x dialect.", fix=f"use one of {sorted(DIALECTS)}.")
    return DIALECTS[major]


def topology_of(request: LaunchRequest, profile: Profile | None = None) -> Topology:
    """The request's processes and nodes over the (effective) profile's ``[distributed]`` section."""
    return resolve_topology(
        profile or request.effective_profile(), nnodes=request.nnodes, node_rank=request.node_rank,
        nproc_per_node=request.nproc_per_node, master_addr=request.master_addr, master_port=request.master_port,
        cuda_visible_devices=request.cuda_visible_devices,
    )


def launch_environment(
    request: LaunchRequest, profile: Profile | None = None, topology: Topology | None = None
) -> dict[str, str]:
    """The variables swift gets on top of ours: unbuffered output, the GPUs, torchrun's nodes and processes."""
    topology = topology or topology_of(request, profile)  # checks the GPU list too
    env = {"PYTHONUNBUFFERED": "1", **DEVICE_ORDER_ENV}
    if request.cuda_visible_devices:
        env["CUDA_VISIBLE_DEVICES"] = request.cuda_visible_devices
    env.update(topology.environment())
    return env


def plan_run(workspace: Workspace, request: LaunchRequest, *, check: bool = True, dry_run: bool = False) -> RunPlan:
    """The run's exact command and environment for the installed swift, every flag checked.

    ``check`` checks the flags against the installed swift's argument dataclasses and
    that the resume checkpoint exists; it is skipped for a preview in another dialect.
    ``dry_run`` names the run folder with :data:`DRY_RUN_ID`, for a command to show.
    """

    if request.dialect is not None and not dry_run:
        raise MhbenchError("a run is built for the installed ms-swift; another dialect is only for a dry run.",
                           fix="drop --dialect, or add --dry-run.")
    profile = request.effective_profile()
    notes: list[str] = []
    if request.dialect is None:
        flash = request.flash_attn if request.flash_attn is not None else flash_attn_importable()
        profile, attention_note = attention_fallback(profile, flash)
        notes += [attention_note] if attention_note else []
    label = request.name or profile.name
    run_id = DRY_RUN_ID if dry_run else new_run_id(workspace, label)
    run_dir = workspace.runs_dir / run_id
    output_dir = run_dir / "output"
    extra: dict[str, str | int | float | bool] = dict(request.extra)
    deepspeed = request.deepspeed or profile.distributed.deepspeed
    if deepspeed:
        extra["deepspeed"] = deepspeed
    if request.resume_from is not None:
        extra["resume_from_checkpoint"] = str(request.resume_from)
    topology = topology_of(request, profile)
    if request.cuda_visible_devices:
        check_gpus_per_process(len(gpu_list(request.cuda_visible_devices)), topology.nproc_per_node or 1,
                               deepspeed)
    if deepspeed and deepspeed.startswith("zero3") and profile.lora.tuner == "qlora":
        # ZeRO-3 shards parameters by their storage dtype; bnb's packed uint8 default cannot be
        # sharded with the bf16 rest, so the 4-bit weights are stored as the compute dtype.
        extra.setdefault("bnb_4bit_quant_storage", TORCH_DTYPES[profile.train.dtype])
    if topology.multi_node and "save_on_each_node" not in extra:
        # Only global rank 0 writes the adapter, trainer state and DeepSpeed's `latest`: node 1
        # could not resume from its own folder, and rotation would run on node 0 alone.
        extra["save_on_each_node"] = True
        notes.append(f"{topology.nnodes} nodes, each with its own output folder: --save_on_each_node true, so "
                     "every node saves every checkpoint and can resume from its own.")
    built = build_sft_command(profile, dialect=_dialect(request.dialect), output_dir=output_dir, extra=extra)
    command = SftCommand(built.argv, launch_environment(request, profile, topology), built.dialect,
                         (*built.notes, *notes))
    if check and request.dialect is None:
        if request.resume_from is not None and not request.resume_from.is_dir():
            raise MhbenchError("the checkpoint to resume from is not there.", path=request.resume_from,
                               fix="give a checkpoint-N folder of an earlier run (see `mhbench runs`).")
        check_command(command)
    return RunPlan(run_id, label, profile.name, run_dir, output_dir, command, request.parent_id,
                   request.resume_from, profile, topology)


def plan_nodes(workspace: Workspace, request: LaunchRequest, *, check: bool = True) -> list[RunPlan]:
    """The dry-run plan of every node, rank 0 first: one argv, one environment per machine.

    The argv is the same on every node (checked once); only ``NODE_RANK`` differs. The request's
    own topology is checked first, as a launch checks it: a rank outside the nodes is refused
    here too, though every node's plan is printed.
    """
    from dataclasses import replace

    topology_of(request)
    first = plan_run(workspace, replace(request, node_rank=0), check=check, dry_run=True)
    others = [plan_run(workspace, replace(request, node_rank=rank), check=False, dry_run=True)
              for rank in range(1, first.topology.nnodes)]
    return [first, *others]


def check_this_machine(plan: RunPlan) -> None:
    """What only the machine that starts the run can tell: enough GPUs, and DeepSpeed installed.

    :func:`launch` calls it before anything starts; the confirm step shows its verdict. A plan
    is the same on every machine, so a dry run prints it anywhere.
    """

    argv = list(plan.command.argv)
    deepspeed = argv[argv.index("--deepspeed") + 1] if "--deepspeed" in argv[:-1] else None
    machine_gpus = len(sample_gpus().gpus)
    check_local_gpus(plan.topology, machine_gpus)
    if "CUDA_VISIBLE_DEVICES" not in plan.command.env:
        # Without a list of its own the run inherits the shell's, else sees every GPU of the machine,
        # and swift divides those among the processes.
        inherited = os.environ.get("CUDA_VISIBLE_DEVICES")
        visible = len([part for part in inherited.split(",") if part.strip()]) if inherited is not None else machine_gpus
        check_gpus_per_process(min(visible, machine_gpus), plan.topology.nproc_per_node or 1, deepspeed)
    check_deepspeed_installed(deepspeed)


# --- resuming ------------------------------------------------------------------------------------


def plan_resume(workspace: Workspace, run_ref: str, *, check: bool = True) -> RunPlan:
    """A new run that goes on from the parent's last checkpoint with the parent's very command.

    The parent's recorded argv is the truth (its profile may have changed since, and its
    overrides are not stored apart), so only the output folder and the checkpoint change.
    """

    parent = get_run(workspace, run_ref)
    if parent.active:
        raise MhbenchError(f"run {parent.id} is still {parent.status}.", fix="stop it first, then resume.")
    found = checkpoints_on_disk(parent.output_dir)
    if not found:
        raise MhbenchError(
            f"run {parent.id} saved no checkpoint to resume from.",
            path=parent.output_dir,
            fix="start a new run instead (`mhbench train PROFILE`).",
        )
    checkpoint = found[-1][1]
    name = f"{parent.name}-resume"
    run_id = new_run_id(workspace, name)
    run_dir = workspace.runs_dir / run_id
    output_dir = run_dir / "output"
    argv = _without_flags(parent.argv, ("output_dir", "resume_from_checkpoint"))
    argv += ["--output_dir", str(output_dir), "--resume_from_checkpoint", str(checkpoint)]
    command = SftCommand(tuple(argv), dict(parent.env), _dialect(None), ())
    if check:
        check_command(command)
    return RunPlan(run_id, name, parent.profile, run_dir, output_dir, command, parent.id, checkpoint,
                   topology=parent.topology)


def resume_run(workspace: Workspace, run_ref: str, *, check: bool = True) -> RunRecord:
    """Start a new run from the parent's last checkpoint, linked to the parent."""
    return launch(workspace, plan_resume(workspace, run_ref, check=check))


def _without_flags(argv: tuple[str, ...], flags: tuple[str, ...]) -> list[str]:
    """``argv`` without the ``--flag value…`` groups of ``flags``."""
    dropped = {f"--{flag}" for flag in flags}
    result: list[str] = []
    skipping = False
    for part in argv:
        if part.startswith("--"):
            skipping = part in dropped
        if not skipping:
            result.append(part)
    return result


# --- launching -----------------------------------------------------------------------------------


def write_run_spec(workspace: Workspace, plan: RunPlan) -> dict[str, Any]:
    """Create the run's folder with ``run.json``, the argv and env the supervisor will execute."""
    plan.run_dir.mkdir(parents=True, exist_ok=False)
    spec = {
        "id": plan.run_id,
        "workspace": str(workspace.root),
        "argv": list(plan.command.argv),
        "env": dict(plan.command.env),
        "profile": plan.profile,
        "dialect": plan.command.dialect.major,
        "notes": list(plan.command.notes),
        "parent_id": plan.parent_id,
        "resume_from": str(plan.resume_from) if plan.resume_from else None,
        "node_rank": plan.topology.node_rank,
        "nnodes": plan.topology.nnodes,
        "created_at": utc_now(),
    }
    write_json_atomic(plan.run_dir / RUN_FILE, spec)
    return spec


def launch(workspace: Workspace, plan: RunPlan) -> RunRecord:
    """Start the supervisor detached and register the run; returns at once.

    A supervisor that cannot start leaves the run failed with the reason, and raises.
    """
    if plan.run_id == DRY_RUN_ID:
        raise MhbenchError("a dry-run plan cannot be launched.", fix="plan the run again without dry_run.")
    check_this_machine(plan)
    workspace.make_folders()
    spec = write_run_spec(workspace, plan)
    start_detached(
        workspace,
        ProcessRow("runs", plan.run_id, started_column="started_at"),
        [sys.executable, "-m", "core.train.runner", str(plan.run_dir)],
        cwd=plan.run_dir,
        log_path=plan.run_dir / "supervisor.log",
        env=plan.command.env,
        fix="check the Python environment (`mhbench doctor`), then start the run again.",
        insert={
            "name": plan.name, "profile": plan.profile, "parent_id": plan.parent_id,
            "resume_from": spec["resume_from"], "run_dir": str(plan.run_dir), "output_dir": str(plan.output_dir),
            "argv": json.dumps(spec["argv"]), "env": json.dumps(spec["env"]), "created_at": spec["created_at"],
            "node_rank": plan.topology.node_rank, "nnodes": plan.topology.nnodes,
        },
    )
    return get_run(workspace, plan.run_id)
