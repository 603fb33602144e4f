"""The ``mhbench`` command: the TUI is the main door, these subcommands the side door.

Only argparse and the standard library load before a subcommand runs, so
``mhbench --help`` stays instant; each command imports what it needs. Each module of
this package registers one group of commands and attaches its handlers with
``set_defaults(handler=…)``, so a command is registered where it lives.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tui.cli import config, queue
from tui.cli.common import command_workspace

# The command groups, in the order ``mhbench --help`` lists their commands.
COMMAND_GROUPS = ("profiles", "doctor", "demo", "train", "queue", "models", "session", "prompts", "judge", "results",
                  "export", "raters", "web", "config")


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
    parser = top_parser(add_help=False, exit_on_error=False)
    config.add_global_option(parser)
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
    for group in COMMAND_GROUPS:
        importlib.import_module(f"tui.cli.{group}").add_commands(commands)
    config.add_global_option(parser, commands)
    return parser


def open_tui(args: argparse.Namespace) -> int:
    workspace = command_workspace(args)  # before textual loads: a mistyped workspace fails at once
    from tui.app import MhbenchApp

    if not workspace.db_path.is_file():
        from core.base.db import open_workspace
        open_workspace(workspace)  # every later connection migrates the schema itself
    if args.rater:
        from core.arena.ratings import remember_rater

        remember_rater(workspace, args.rater)
    settings = args.config_file.config  # checked by config.apply_config before anything is created
    MhbenchApp(workspace, rater=args.rater, keymap=settings.keymap, theme=settings.theme).run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = tui_start_args(argv) or build_parser().parse_args(argv)
    from core.base.errors import MhbenchError

    try:
        config.apply_config(args)
        queue.wake_runner(args)
        if args.command is None:
            return open_tui(args)
        result: int = args.handler(args)
        return result
    except MhbenchError as error:
        print(f"mhbench: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
