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

    doctor = commands.add_parser("doctor", help="report what is installed and what each missing piece disables")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")

    demo = commands.add_parser("demo", help="create the demo workspace (tiny models, data, profiles; no download)")
    demo.add_argument("dir", nargs="?", help="where to create it (default: the workspace)")
    from tui.cli_demo import add_demo_options

    add_demo_options(demo)

    from tui import (
        cli_config,
        cli_export,
        cli_judge,
        cli_models,
        cli_raters,
        cli_results,
        cli_session,
        cli_train,
        cli_web,
    )

    cli_train.add_commands(commands)
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


def command_workspace(args: argparse.Namespace) -> Workspace:
    """The workspace a command reads: it must exist (a typo is not an empty workspace) and be writable."""
    from core.base.workspace import resolve

    return resolve(args.workspace, must_exist=True)


def cmd_profiles(args: argparse.Namespace) -> int:
    from core.profiles import load_profiles

    entries = load_profiles(command_workspace(args).profiles_dir)
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
    workspace = command_workspace(args)  # before textual loads: a mistyped workspace fails at once
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
        from tui import cli_export, cli_judge, cli_models, cli_raters, cli_results, cli_session, cli_train, cli_web

        handlers = {**HANDLERS, **cli_models.HANDLERS, **cli_results.HANDLERS, **cli_export.HANDLERS,
                    **cli_config.HANDLERS, **cli_raters.HANDLERS, **cli_web.HANDLERS, **cli_session.HANDLERS,
                    **cli_judge.HANDLERS, **cli_train.HANDLERS}
        return handlers[args.command](args)
    except MhbenchError as error:
        print(f"mhbench: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
