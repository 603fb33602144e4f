"""The training commands of ``mhbench``: train (dry run or launch), dataset, runs, stop and resume.

Like the rest of :mod:`tui.cli`, nothing heavy loads before a command runs: each imports what it needs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.cli.common import (
    PORT,
    POSITIVE,
    SEED,
    SHARE,
    command_workspace,
    opened_workspace,
    real_number,
    say,
    whole_number,
)

if TYPE_CHECKING:
    from core.base.workspace import Workspace
    from core.profiles import Profile
    from core.train.distributed import Topology
    from core.train.launch import LaunchRequest


def add_commands(commands: Any) -> None:
    """Add train, dataset, runs, stop and resume to ``mhbench``'s subparsers."""
    train = commands.add_parser("train", help="print (--dry-run) or launch a swift sft run for a profile")
    train.add_argument("profile", help="profile name (see `mhbench profiles`)")
    train.add_argument("--dry-run", action="store_true", help="print the exact command and environment, launch nothing")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a profile value, e.g. --set train.epochs=2 --set lora.rank=16 (repeatable)")
    train.add_argument("--dataset", action="append", default=[], metavar="PATH", help="dataset file or hub id (repeatable)")
    train.add_argument("--dialect", type=int, choices=(3, 4), help="print for this ms-swift major version (implies no check)")
    train.add_argument("--name", help="run name (default: the profile name)")
    train.add_argument("--gpus", metavar="IDS", help="CUDA_VISIBLE_DEVICES for the run, e.g. 0,1")
    train.add_argument("--nproc", type=POSITIVE, metavar="N", help="processes per node (NPROC_PER_NODE; torchrun above 1)")
    train.add_argument("--nnodes", type=POSITIVE, metavar="N", help="machines in the run (NNODES); the dry run prints each node")
    train.add_argument("--node-rank", type=whole_number(0), metavar="R", help="this machine's rank, 0 = master (NODE_RANK)")
    train.add_argument("--master-addr", metavar="HOST", help="the rank-0 machine's address (MASTER_ADDR)")
    train.add_argument("--master-port", type=PORT, metavar="PORT", help="the rank-0 machine's port (MASTER_PORT)")
    train.add_argument("--deepspeed", choices=("zero2", "zero3", "zero2_offload", "zero3_offload"),
                       help="swift's DeepSpeed preset (offload: optimizer state, and ZeRO-3 weights, on the CPU)")
    train.add_argument("--qlora", action="store_true", help="4-bit QLoRA instead of LoRA")
    train.add_argument("--resume-from", metavar="CKPT", help="go on from this checkpoint folder of an earlier run")
    train.add_argument("--no-dataset-check", action="store_true", help="skip the dataset check before launch")
    train.add_argument("--no-check", action="store_true", help="skip checking the flags against the installed swift")
    train.add_argument("--json", action="store_true", help="print the argv as JSON")
    train.set_defaults(handler=cmd_train)

    dataset = commands.add_parser("dataset", help="check a dataset: format, invalid lines, token lengths, encoding")
    dataset.add_argument("paths", nargs="*", metavar="PATH", help="JSONL/JSON/CSV files (default: the profile's)")
    dataset.add_argument("--profile", help="measure token lengths with this profile's tokenizer and max_length")
    dataset.add_argument("--convert", action="store_true", help="write a swift-ready messages file for Dolly and others")
    dataset.add_argument("--allow-invalid", action="store_true",
                         help="exit 0 for a usable file with invalid lines (swift drops them); default: exit 1")
    dataset.add_argument("--hold-out", type=POSITIVE, metavar="N",
                         help="split FILE by whole conversations: hold N out as turn items (--out DIR)")
    dataset.add_argument("--hold-out-fraction", type=SHARE, metavar="F",
                         help="hold out this share of the conversations instead of N (e.g. 0.1)")
    dataset.add_argument("--seed", type=SEED, default=0, help="which conversations are held out (default 0)")
    dataset.add_argument("--cuts-per-conversation", type=POSITIVE, default=3, metavar="K",
                         help="turn items cut from each held-out conversation, spread over it (default 3)")
    dataset.add_argument("--out", metavar="DIR", help="where the split writes train.jsonl and eval-prompts.jsonl")
    dataset.add_argument("--json", action="store_true", help="machine-readable output")
    dataset.set_defaults(handler=cmd_dataset)

    runs = commands.add_parser("runs", help="list training runs with status, step and last loss")
    runs.add_argument("--json", action="store_true", help="machine-readable output")
    runs.set_defaults(handler=cmd_runs)
    stop = commands.add_parser("stop", help="stop a run gracefully (checkpoint first), then kill its group")
    stop.add_argument("run", help="run id, unique id prefix, or name")
    stop.add_argument("--timeout", type=real_number(0.0), default=120.0, help="seconds to wait before SIGKILL (default 120)")
    stop.set_defaults(handler=cmd_stop)
    resume = commands.add_parser("resume", help="resume a run from its last checkpoint as a new, linked run")
    resume.add_argument("run", help="run id, unique id prefix, or name")
    resume.set_defaults(handler=cmd_resume)


def cmd_train(args: argparse.Namespace) -> int:
    """Print (``--dry-run``) or launch a run; both are the one plan that core builds for the request."""
    from core.profiles import find_profile, load_profiles
    from core.train.launch import plan_nodes

    workspace = command_workspace(args)
    request = launch_request(args, find_profile(load_profiles(workspace.profiles_dir), args.profile))
    if not args.dry_run:
        return launch_run(args, workspace, request)
    plans = plan_nodes(workspace, request, check=not args.no_check)
    effective = plans[0].effective_profile
    if not args.no_dataset_check and effective is not None:
        # The launch's dataset check, so that a dry run refuses what the launch would.
        check_datasets_or_fail(workspace, effective, dry_run=True)
    if args.json:
        nodes = [{"node_rank": plan.topology.node_rank, "argv": list(plan.command.argv), "env": dict(plan.command.env),
                  "dialect": plan.command.dialect.major, "notes": list(plan.command.notes)} for plan in plans]
        print(json.dumps(nodes[0] if len(nodes) == 1 else {"nnodes": len(nodes), "nodes": nodes}, ensure_ascii=False))
        return 0
    for note in plans[0].command.notes:
        print(f"# {note}")
    for plan in plans:
        if len(plans) > 1:
            print(f"\n# --- {node_heading(plan.topology)}; start it there with:")
            print(f"#   {node_command(args, plan.topology.node_rank)}")
        print(plan.command.shell_text())
    return 0


def node_heading(topology: Topology) -> str:
    role = "the master: it writes logging.jsonl" if topology.node_rank == 0 else "a worker: its log is on node 0"
    return f"node {topology.node_rank} of {topology.nnodes} ({role})"


def node_command(args: argparse.Namespace, rank: int) -> str:
    """The ``mhbench train`` line an operator types on the machine of ``rank``: this request, that rank."""
    import shlex

    words = ["mhbench", "train", args.profile]
    words += [part for override in args.overrides for part in ("--set", override)]
    words += [part for dataset in args.dataset for part in ("--dataset", dataset)]
    valued = (("--name", args.name), ("--gpus", args.gpus), ("--nproc", args.nproc), ("--nnodes", args.nnodes),
              ("--node-rank", rank), ("--master-addr", args.master_addr), ("--master-port", args.master_port),
              ("--deepspeed", args.deepspeed), ("--resume-from", args.resume_from))
    words += [part for flag, value in valued if value is not None for part in (flag, str(value))]
    switches = (("--qlora", args.qlora), ("--no-dataset-check", args.no_dataset_check), ("--no-check", args.no_check))
    words += [flag for flag, given in switches if given]
    return shlex.join(words)


def launch_request(args: argparse.Namespace, profile: Profile) -> LaunchRequest:
    from core.train.launch import LaunchRequest

    return LaunchRequest(
        profile=profile, name=args.name, overrides=tuple(args.overrides), dataset=tuple(args.dataset),
        tuner="qlora" if args.qlora else None, cuda_visible_devices=args.gpus, nproc_per_node=args.nproc,
        nnodes=args.nnodes, node_rank=args.node_rank, master_addr=args.master_addr, master_port=args.master_port,
        deepspeed=args.deepspeed, resume_from=Path(args.resume_from).expanduser().resolve() if args.resume_from else None,
        dialect=args.dialect,
    )


def launch_run(args: argparse.Namespace, workspace: Workspace, request: LaunchRequest) -> int:
    from core.base.db import open_workspace
    from core.train.launch import launch, plan_run

    open_workspace(workspace)
    plan = plan_run(workspace, request, check=not args.no_check)
    if not args.no_dataset_check and plan.effective_profile is not None:
        check_datasets_or_fail(workspace, plan.effective_profile)
    record = launch(workspace, plan)
    print(record.id)
    say(f"run started detached (pid {record.pid}); follow it with `mhbench runs` or the Train mode (F3).")
    return 0


def check_datasets_or_fail(workspace: Workspace, profile: Profile, *, dry_run: bool = False) -> None:
    """Refuse a profile with a dataset that has no valid sample.

    A launch also writes the swift-ready copies and counts tokens; a dry run writes nothing and
    loads no tokenizer, since token counts only inform and never refuse.
    """
    from core.base.errors import MhbenchError
    from core.train.datasets import check_profile_datasets

    convert_dir = None if dry_run else workspace.data_dir
    for report in check_profile_datasets(profile, convert_dir=convert_dir, count_tokens=not dry_run):
        if report.error is not None:  # the whole file (missing, not UTF-8): its own error names the fix
            raise report.error
        for issue in report.invalid[:5]:
            say(f"dataset: {issue}")
        if not report.ok:
            raise MhbenchError("has no valid samples.", path=report.path, fix="repair the lines listed above.")


def cmd_dataset(args: argparse.Namespace) -> int:
    from core.base.errors import MhbenchError
    from core.profiles import find_profile, load_profiles
    from core.train.datasets import check_dataset, check_profile_datasets

    workspace = opened_workspace(args)
    if args.hold_out is not None or args.hold_out_fraction is not None:
        return _split(workspace, args)
    profile = find_profile(load_profiles(workspace.profiles_dir), args.profile) if args.profile else None
    convert_dir = workspace.data_dir if args.convert else None
    if args.paths:
        tokenizer_dir = None
        max_length = 2048
        if profile is not None:
            max_length = profile.train.max_length
            local = Path(profile.model.id)
            tokenizer_dir = local if profile.model.hub == "local" and local.is_dir() else None
        reports = [check_dataset(Path(p), tokenizer_dir=tokenizer_dir, max_length=max_length,
                                 convert_dir=convert_dir, progress=say) for p in args.paths]
    elif profile is not None:
        reports = check_profile_datasets(profile, convert_dir=convert_dir, progress=say)
    else:
        raise MhbenchError("nothing to check.", fix="give dataset paths, or --profile NAME to check its datasets.")
    if args.json:
        print(json.dumps([
            {
                "path": str(r.path), "status": r.status, "format": r.format, "encoding": r.encoding,
                "samples": r.samples, "ok": r.ok,
                "invalid": [str(issue) for issue in r.invalid],
                "converted_to": str(r.converted_to) if r.converted_to else None,
                "over_max_length": r.lengths.over_max_length if r.lengths else None,
                "error": str(r.error) if getattr(r, "error", None) else None,
            }
            for r in reports
        ], ensure_ascii=False, indent=2))
    else:
        for report in reports:
            print(report.summary())
    if not all(report.ok for report in reports):
        return 1
    partly = [report for report in reports if not report.clean]
    if partly and not args.allow_invalid:
        for report in partly:
            say(f"{report.path}: {len(report.invalid)} invalid line(s) that swift would drop; repair them, "
                "or pass --allow-invalid to train on the rest.")
        return 1
    return 0


def _split(workspace: Workspace, args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from core.base.errors import MhbenchError
    from core.train.datasets.holdout import split_dataset

    if len(args.paths) != 1 or not args.out:
        raise MhbenchError("a held-out split needs one FILE and --out DIR.",
                           fix="e.g. `mhbench dataset dialogues.jsonl --hold-out 10 --out split/`.")
    split = split_dataset(workspace, Path(args.paths[0]), Path(args.out), hold_out=args.hold_out,
                          fraction=args.hold_out_fraction, seed=args.seed, cuts=args.cuts_per_conversation)
    if args.json:
        print(json.dumps({key: str(value) if isinstance(value, Path) else value
                          for key, value in asdict(split).items()}, ensure_ascii=False, indent=2))
        return 0
    print(f"split {split.id}: {split.conversations} conversations ({split.duplicates} duplicate row(s) kept with "
          f"their conversation); {split.held_out} held out.")
    print(f"  train on: {split.train_path} ({split.train_rows} rows, {split.format} layout)")
    print(f"  turn items: {split.eval_path} ({split.eval_rows} rows); "
          f"`mhbench session new --prompts {split.eval_path} --models A,B` rates them")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from core.train.runs import list_runs

    records = list_runs(opened_workspace(args))
    if args.json:
        print(json.dumps([
            {
                "id": r.id, "name": r.name, "profile": r.profile, "status": r.status, "step": r.last_step,
                "max_steps": r.max_steps, "last_loss": r.last_loss, "exit_code": r.exit_code,
                "parent_id": r.parent_id, "last_checkpoint": r.last_checkpoint, "created_at": r.created_at,
                # ISO 8601 in UTC: when the supervisor started and when the run ended (null while it runs).
                "started_at": r.started_at, "ended_at": r.ended_at,
                "diagnosis": r.diagnosis, "run_dir": str(r.run_dir), "node_rank": r.node_rank, "nnodes": r.nnodes,
            }
            for r in records
        ], ensure_ascii=False, indent=2))
        return 0
    if not records:
        print("no runs yet: start one with `mhbench train PROFILE` or the Train mode (F3).")
        return 0
    print(f"{'run':<44} {'status':<9} {'step':>11} {'loss':>8}  profile")
    for r in records:
        loss = f"{r.last_loss:.4f}" if r.last_loss is not None else "–"
        node = f"  ({r.node_label}: its curve is on node 0)" if r.node_note else (f"  ({r.node_label})" if r.node_label else "")
        print(f"{r.id:<44} {r.status:<9} {r.progress_text:>11} {loss:>8}  {r.profile}{node}")
        if r.status == "failed" and r.diagnosis:
            print(f"    {r.diagnosis.get('summary')} Fix: {r.diagnosis.get('fix')}")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from core.train.runs import stop_run

    record = stop_run(command_workspace(args), args.run, timeout=args.timeout,
                      progress=say)
    print(f"{record.id} {record.status} (last checkpoint: {record.last_checkpoint or 'none'})")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from core.train.launch import resume_run

    record = resume_run(command_workspace(args), args.run)
    print(record.id)
    say(f"resumed from {record.resume_from} as a new run.")
    return 0

