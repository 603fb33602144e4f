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
    from core.workspace import Workspace


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mhbench",
        description="Fine-tune chat models with ms-swift LoRA, convert them to GGUF, and compare them blind, side by side.",
        epilog="With no command, opens the TUI. Workspace: --workspace, else $MHBENCH_HOME, else the platform data dir.",
    )
    parser.add_argument("--workspace", "-w", metavar="DIR", help="workspace folder (created if missing)")
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
    train.add_argument("--no-check", action="store_true", help="skip checking the flags against the installed swift")
    train.add_argument("--json", action="store_true", help="print the argv as JSON")

    doctor = commands.add_parser("doctor", help="report what is installed and what each missing piece disables")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")

    demo = commands.add_parser("demo", help="create the demo workspace (tiny models, data, profiles; no download)")
    demo.add_argument("dir", nargs="?", help="where to create it (default: the workspace)")

    for name, text in (
        ("runs", "list training runs"),
        ("stop", "stop a run gracefully"),
        ("resume", "resume a run from its last checkpoint"),
        ("models", "list the model catalog"),
        ("export", "export ratings, comparisons or battles"),
    ):
        later = commands.add_parser(name, help=f"{text} (coming)")
        later.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def _workspace(args: argparse.Namespace) -> Workspace:
    from core.workspace import resolve

    return resolve(args.workspace)


def cmd_profiles(args: argparse.Namespace) -> int:
    from core.profiles import load_profiles

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
    from core.profiles import apply_overrides, find_profile, load_profiles
    from core.swift import DIALECTS, build_sft_command, check_command, dialect_for, installed_swift_version

    workspace = _workspace(args)
    profile = find_profile(load_profiles(workspace.profiles_dir), args.profile)
    overrides = list(args.overrides)
    if args.dataset:
        overrides.append("train.dataset=" + json.dumps(args.dataset))
    if overrides:
        profile = apply_overrides(profile, overrides)
    dialect = DIALECTS[args.dialect] if args.dialect else dialect_for(installed_swift_version())
    command = build_sft_command(profile, dialect=dialect, output_dir=workspace.runs_dir / "<run-id>" / "output")
    if not args.dry_run:
        print("mhbench: launching runs comes with the Train mode; use --dry-run to print the command.", file=sys.stderr)
        return 2
    if not (args.dialect or args.no_check):
        check_command(command)
    if args.json:
        print(json.dumps({"argv": list(command.argv), "env": dict(command.env), "dialect": dialect.major, "notes": list(command.notes)}, ensure_ascii=False))
        return 0
    for note in command.notes:
        print(f"# {note}")
    print(command.shell())
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from core.doctor import report_json, report_text, run_doctor

    checks = run_doctor(_workspace(args).root)
    print(report_json(checks) if args.json else report_text(checks))
    return 0 if all(check.status != "missing" for check in checks) else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from core.demo import create_demo

    root = Path(args.dir) if args.dir else _workspace(args).root
    demo = create_demo(root, progress=lambda message: print(f"mhbench demo: {message}", flush=True))
    print(f"open it with: mhbench --workspace {demo.workspace.root}")
    return 0


def cmd_later(args: argparse.Namespace) -> int:
    print(f"mhbench {args.command}: coming with its issue; nothing was done.", file=sys.stderr)
    return 2


def open_tui(args: argparse.Namespace) -> int:
    from tui.app import MhbenchApp

    workspace = _workspace(args).ensure()
    MhbenchApp(workspace).run()
    return 0


HANDLERS = {
    "profiles": cmd_profiles,
    "train": cmd_train,
    "doctor": cmd_doctor,
    "demo": cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from core.errors import MhbenchError

    try:
        if args.command is None:
            return open_tui(args)
        return HANDLERS.get(args.command, cmd_later)(args)
    except MhbenchError as error:
        print(f"mhbench: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
