"""The ``mhbench`` command: the TUI is the main door, these subcommands the side door.

Only argparse and the standard library load before a subcommand runs, so
``mhbench --help`` stays instant; each command imports what it needs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.base.workspace import Workspace
    from core.train.distributed import Topology
    from core.train.launch import LaunchRequest
    from core.train.profiles import Profile


def top_parser(*, add_help: bool = True, exit_on_error: bool = True) -> argparse.ArgumentParser:
    """``mhbench`` and the options that come before a command."""
    parser = argparse.ArgumentParser(
        prog="mhbench", add_help=add_help, exit_on_error=exit_on_error,
        description="Fine-tune chat models with ms-swift LoRA, convert them to GGUF, and compare them blind, side by side.",
        epilog="With no command, opens the TUI. Workspace: --workspace, else $MHBENCH_HOME, else the config's "
               "workspace, else the platform data dir. Config: --config, else $MHBENCH_CONFIG, else "
               "config.toml in the platform config dir (`mhbench config --path`).",
    )
    parser.add_argument("--workspace", "-w", metavar="DIR",
                        help="workspace folder; it must exist (`mhbench demo DIR` or mkdir creates one)")
    parser.add_argument("--rater", metavar="NAME", help="your rater id in the Arena (remembered per workspace)")
    return parser


def tui_start_args(argv: Sequence[str]) -> argparse.Namespace | None:
    """The options of a plain TUI start, parsed without building the subcommands' parsers.

    Thirty subcommands with their options take longer to build than the rest of the start-up
    before textual; a start with only global options needs none of them. Anything else (a
    command, --help, a typo) returns None, and the full parser handles it with its messages.
    """
    from tui import cli_config

    parser = top_parser(add_help=False, exit_on_error=False)
    cli_config.add_global_option(parser)
    try:
        args, rest = parser.parse_known_args(argv)
    except argparse.ArgumentError:
        return None
    if rest:
        return None
    args.command = None
    return args


def build_parser() -> argparse.ArgumentParser:
    parser = top_parser()
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    profiles = commands.add_parser("profiles", help="list the profiles with their validation status")
    profiles.add_argument("--json", action="store_true", help="machine-readable output")

    train = commands.add_parser("train", help="print (--dry-run) or launch a swift sft run for a profile")
    train.add_argument("profile", help="profile name (see `mhbench profiles`)")
    train.add_argument("--dry-run", action="store_true", help="print the exact command and environment, launch nothing")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a profile value, e.g. --set train.epochs=2 --set lora.rank=16 (repeatable)")
    train.add_argument("--dataset", action="append", default=[], metavar="PATH", help="dataset file or hub id (repeatable)")
    train.add_argument("--dialect", type=int, choices=(3, 4), help="print for this ms-swift major version (implies no check)")
    train.add_argument("--name", help="run name (default: the profile name)")
    train.add_argument("--gpus", metavar="IDS", help="CUDA_VISIBLE_DEVICES for the run, e.g. 0,1")
    train.add_argument("--nproc", type=int, metavar="N", help="processes per node (NPROC_PER_NODE; torchrun above 1)")
    train.add_argument("--nnodes", type=int, metavar="N", help="machines in the run (NNODES); the dry run prints each node")
    train.add_argument("--node-rank", type=int, metavar="R", help="this machine's rank, 0 = master (NODE_RANK)")
    train.add_argument("--master-addr", metavar="HOST", help="the rank-0 machine's address (MASTER_ADDR)")
    train.add_argument("--master-port", type=int, metavar="PORT", help="the rank-0 machine's port (MASTER_PORT)")
    train.add_argument("--deepspeed", choices=("zero2", "zero3", "zero2_offload", "zero3_offload"),
                       help="swift's DeepSpeed preset (offload: optimizer state, and ZeRO-3 weights, on the CPU)")
    train.add_argument("--qlora", action="store_true", help="4-bit QLoRA instead of LoRA")
    train.add_argument("--resume-from", metavar="CKPT", help="go on from this checkpoint folder of an earlier run")
    train.add_argument("--no-dataset-check", action="store_true", help="skip the dataset check before launch")
    train.add_argument("--no-check", action="store_true", help="skip checking the flags against the installed swift")
    train.add_argument("--json", action="store_true", help="print the argv as JSON")

    doctor = commands.add_parser("doctor", help="report what is installed and what each missing piece disables")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")

    demo = commands.add_parser("demo", help="create the demo workspace (tiny models, data, profiles; no download)")
    demo.add_argument("dir", nargs="?", help="where to create it (default: the workspace)")
    from tui.cli_demo import add_demo_options

    add_demo_options(demo)

    dataset = commands.add_parser("dataset", help="check a dataset: format, invalid lines, token lengths, encoding")
    dataset.add_argument("paths", nargs="*", metavar="PATH", help="JSONL/JSON/CSV files (default: the profile's)")
    dataset.add_argument("--profile", help="measure token lengths with this profile's tokenizer and max_length")
    dataset.add_argument("--convert", action="store_true", help="write a swift-ready messages file for Dolly and others")
    dataset.add_argument("--allow-invalid", action="store_true",
                         help="exit 0 for a usable file with invalid lines (swift drops them); default: exit 1")
    dataset.add_argument("--json", action="store_true", help="machine-readable output")

    runs = commands.add_parser("runs", help="list training runs with status, step and last loss")
    runs.add_argument("--json", action="store_true", help="machine-readable output")
    stop = commands.add_parser("stop", help="stop a run gracefully (checkpoint first), then kill its group")
    stop.add_argument("run", help="run id, unique id prefix, or name")
    stop.add_argument("--timeout", type=float, default=120.0, help="seconds to wait before SIGKILL (default 120)")
    resume = commands.add_parser("resume", help="resume a run from its last checkpoint as a new, linked run")
    resume.add_argument("run", help="run id, unique id prefix, or name")

    from tui import cli_config, cli_export, cli_judge, cli_models, cli_raters, cli_results, cli_session, cli_web

    cli_models.add_commands(commands)
    cli_session.add_commands(commands)
    cli_judge.add_commands(commands)
    cli_results.add_commands(commands)
    cli_export.add_commands(commands)
    cli_raters.add_commands(commands)
    cli_web.add_commands(commands)
    cli_config.add_commands(commands)
    cli_config.add_global_option(parser, commands)
    return parser


def _workspace(args: argparse.Namespace) -> Workspace:
    """The workspace a command reads: it must exist (a typo is not an empty workspace) and be writable."""
    from core.base.workspace import resolve

    return resolve(args.workspace, must_exist=True)


def cmd_profiles(args: argparse.Namespace) -> int:
    from core.train.profiles import load_profiles

    entries = load_profiles(_workspace(args).profiles_dir)
    if args.json:
        print(json.dumps([
            {
                "name": entry.name,
                "origin": entry.origin,
                "path": str(entry.path),
                "ok": entry.ok,
                "error": str(entry.error) if entry.error else None,
                "profile": entry.profile.model_dump(mode="json") if entry.profile else None,
            }
            for entry in entries
        ], ensure_ascii=False, indent=2))
        return 0
    width = max((len(entry.name) for entry in entries), default=10)
    for entry in entries:
        if entry.profile is not None:
            vram = entry.profile.resources.train_vram_gb
            extra = f"train {vram} GB" if vram else ""
            print(f"ok   {entry.name:<{width}}  {entry.origin:<9}  {entry.profile.model.id}  {extra}".rstrip())
        else:
            print(f"BAD  {entry.name:<{width}}  {entry.origin:<9}  {entry.error}")
    return 0 if all(entry.ok for entry in entries) else 1


def cmd_train(args: argparse.Namespace) -> int:
    """Print (``--dry-run``) or launch a run; both are the one plan that core builds for the request."""
    from core.train.launch import plan_nodes
    from core.train.profiles import find_profile, load_profiles

    workspace = _workspace(args)
    request = launch_request(args, find_profile(load_profiles(workspace.profiles_dir), args.profile))
    if not args.dry_run:
        return launch_run(args, workspace, request)
    plans = plan_nodes(workspace, request, check=not args.no_check)
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
    print(f"mhbench: run started detached (pid {record.pid}); follow it with `mhbench runs` or the Train mode (F3).",
          file=sys.stderr)
    return 0


def check_datasets_or_fail(workspace: Workspace, profile: Profile) -> None:
    from core.base.errors import MhbenchError
    from core.train.datasets import check_profile_datasets

    for report in check_profile_datasets(profile, convert_dir=workspace.data_dir):
        for issue in report.invalid[:5]:
            print(f"mhbench: dataset: {issue}", file=sys.stderr)
        if not report.ok:
            raise MhbenchError("has no valid samples.", path=report.path, fix="repair the lines listed above.")


def cmd_dataset(args: argparse.Namespace) -> int:
    from core.base.db import open_workspace
    from core.base.errors import MhbenchError
    from core.train.datasets import check_dataset, check_profile_datasets
    from core.train.profiles import find_profile, load_profiles
    workspace = open_workspace(_workspace(args))
    profile = find_profile(load_profiles(workspace.profiles_dir), args.profile) if args.profile else None
    convert_dir = workspace.data_dir if args.convert else None
    say = (lambda message: print(f"mhbench: {message}", file=sys.stderr))  # noqa: E731
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


def cmd_runs(args: argparse.Namespace) -> int:
    from core.base.db import open_workspace
    from core.train.runs import list_runs
    records = list_runs(open_workspace(_workspace(args)))
    if args.json:
        print(json.dumps([
            {
                "id": r.id, "name": r.name, "profile": r.profile, "status": r.status, "step": r.last_step,
                "max_steps": r.max_steps, "last_loss": r.last_loss, "exit_code": r.exit_code,
                "parent_id": r.parent_id, "last_checkpoint": r.last_checkpoint, "created_at": r.created_at,
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

    record = stop_run(_workspace(args), args.run, timeout=args.timeout,
                      progress=lambda message: print(f"mhbench: {message}", file=sys.stderr))
    print(f"{record.id} {record.status} (last checkpoint: {record.last_checkpoint or 'none'})")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from core.train.runs import resume_run

    record = resume_run(_workspace(args), args.run)
    print(record.id)
    print(f"mhbench: resumed from {record.resume_from} as a new run.", file=sys.stderr)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from core.base.workspace import resolve
    from core.doctor import report_json, report_text, run_doctor

    checks = run_doctor(resolve(args.workspace).root)  # a report: a missing workspace is not an error here
    print(report_json(checks) if args.json else report_text(checks))
    return 0 if all(check.status != "missing" for check in checks) else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from core.base.workspace import resolve
    from core.demo import create_demo

    # The one command that creates a workspace the user names.
    root = Path(args.dir) if args.dir else resolve(args.workspace).root
    if not args.compare or args.dir:
        demo = create_demo(root, progress=lambda message: print(f"mhbench demo: {message}", flush=True))
        root = demo.workspace.root
    if args.train or args.compare:
        from core.base.workspace import Workspace
        from tui.cli_demo import train_and_compare

        return train_and_compare(Workspace(root), args)
    print(f"open it with: mhbench --workspace {root}")
    print("train the demo model and get a base vs fine-tuned A/B session: "
          f"mhbench --workspace {root} demo --train")
    return 0


def open_tui(args: argparse.Namespace) -> int:
    workspace = _workspace(args)  # before textual loads: a mistyped workspace fails at once
    from tui.app import MhbenchApp

    if not workspace.db_path.is_file():
        from core.base.db import open_workspace
        open_workspace(workspace)  # every later connection migrates the schema itself
    if args.rater:
        from core.arena.ratings import remember_rater

        remember_rater(workspace, args.rater)
    config = args.config_file.config  # checked by cli_config.apply_config before anything is created
    MhbenchApp(workspace, rater=args.rater, keymap=config.keymap, theme=config.theme).run()
    return 0


HANDLERS = {
    "profiles": cmd_profiles,
    "train": cmd_train,
    "runs": cmd_runs,
    "dataset": cmd_dataset,
    "stop": cmd_stop,
    "resume": cmd_resume,
    "doctor": cmd_doctor,
    "demo": cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = tui_start_args(argv) or build_parser().parse_args(argv)
    from core.base.errors import MhbenchError

    try:
        from tui import cli_config

        cli_config.apply_config(args)
        if args.command is None:
            return open_tui(args)
        from tui import cli_export, cli_judge, cli_models, cli_raters, cli_results, cli_session, cli_web

        handlers = {**HANDLERS, **cli_models.HANDLERS, **cli_results.HANDLERS, **cli_export.HANDLERS,
                    **cli_config.HANDLERS, **cli_raters.HANDLERS, **cli_web.HANDLERS, **cli_session.HANDLERS,
                    **cli_judge.HANDLERS}
        return handlers[args.command](args)
    except MhbenchError as error:
        print(f"mhbench: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
