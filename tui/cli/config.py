"""``mhbench --config FILE`` and ``mhbench config``: the user's config file, and what it changed.

Like the rest of :mod:`tui.cli`, nothing heavy loads before a command runs: pydantic and tomllib come with
:mod:`core.config`, imported in :func:`apply_config`, after argparse has handled ``--help``.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from tui.cli.common import say

if TYPE_CHECKING:
    from core.config import ConfigFile

CONFIG_HELP = "config file (default: config.toml in the platform config dir, or $MHBENCH_CONFIG)"


def add_global_option(parser: argparse.ArgumentParser, commands: Any = None) -> None:
    """``--config FILE`` before the command, and after it on every subcommand (when ``commands`` is given).

    The subcommands' copies default to SUPPRESS, so a ``--config`` given before the command is
    not overwritten by a subcommand that did not see one.
    """
    parser.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    for subparser in commands.choices.values() if commands is not None else ():
        subparser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=CONFIG_HELP)


def add_commands(commands: Any) -> None:
    """Add ``config`` to ``mhbench``'s subparsers."""
    config = commands.add_parser(
        "config", help="show the effective config (keymap, theme, rater, workspace) and where each value came from",
        description="With no option, the same as --show. Edit the file that --path prints to change a value.",
    )
    config.add_argument("--show", action="store_true", help="print every setting, its value and its source")
    config.add_argument("--json", action="store_true", help="the same as JSON")
    config.add_argument("--path", action="store_true", help="print only the config file's path")
    config.set_defaults(handler=cmd_config)


def apply_config(args: argparse.Namespace) -> ConfigFile:
    """Read the config once for every command and fold it into ``args``; check it all for a command that starts an app.

    A command's parser marks that with ``set_defaults(starts_app=True)`` (``rate``, ``web``); the
    operator TUI, which has no command, always does.

    The workspace order is ``--workspace`` > ``MHBENCH_HOME`` > the config's ``workspace`` > the
    platform data dir: the config's folder becomes the explicit value only when neither of the
    first two is given. ``default_rater`` fills ``--rater`` the same way, so it takes the same path.
    """
    from core.config import choose_rater, choose_workspace, load_config

    file = load_config(getattr(args, "config", None))
    # Kept so that `mhbench config --show` can tell a flag from a value the config filled in.
    args.workspace_flag, args.rater_flag = args.workspace, args.rater
    workspace = choose_workspace(args.workspace, file)
    if workspace.source == str(file.path):
        args.workspace = workspace.value
    args.rater = choose_rater(args.rater, file).value
    args.config_file = file
    starts_app = args.command is None or getattr(args, "starts_app", False)
    if starts_app and (file.config.theme is not None or file.config.keymap):
        # An app is about to start: check what only the app knows before a workspace is touched.
        from tui.shell.keymap import check_config

        check_config(file)
    return file


def effective_config(file: ConfigFile, flag_workspace: str | None, flag_rater: str | None) -> dict[str, Any]:
    """Every setting with its value and source (default, the config file's path, env or flag)."""
    from textual import constants

    from core.config import choose_rater, choose_workspace
    from tui.shell.keymap import binding_catalogue, theme_names

    source = str(file.path)
    workspace = choose_workspace(flag_workspace, file)
    rater = choose_rater(flag_rater, file)
    theme = file.config.theme
    keymap = file.config.keymap
    return {
        "config_file": {"path": str(file.path), "source": file.origin_text, "exists": file.exists},
        "settings": {
            "workspace": {"value": workspace.value, "source": workspace.source},
            "default_rater": {"value": rater.value, "source": rater.source},
            "theme": {"value": theme or constants.DEFAULT_THEME, "source": source if theme else "default"},
        },
        "keymap": {
            entry.id: {
                "keys": keymap.get(entry.id, entry.keys),
                "default": entry.keys,
                "source": source if entry.id in keymap else "default",
                "description": entry.description,
                "where": ", ".join(entry.owners),
            }
            for entry in binding_catalogue().values()
        },
        "themes": theme_names(),
    }


def config_text(effective: dict[str, Any]) -> str:
    file = effective["config_file"]
    present = "" if file["exists"] else "; not present, so every value is a default"
    lines = [f"config file: {file['path']} ({file['source']}{present})", ""]
    settings = effective["settings"]
    values = {name: str(s["value"]) if s["value"] is not None else "(none: the workspace's last rater)"
              for name, s in settings.items()}
    name_width = max(len(name) for name in settings)
    value_width = max(len(value) for value in values.values())
    for name, setting in settings.items():
        lines.append(f"{name:<{name_width}}  {values[name]:<{value_width}}  [{setting['source']}]")
    lines += ["", "keymap: binding id, keys, what it does (where), [source]"]
    keymap = effective["keymap"]
    id_width = max((len(binding_id) for binding_id in keymap), default=10)
    key_width = max((len(binding["keys"]) for binding in keymap.values()), default=4)
    for binding_id, binding in keymap.items():
        lines.append(f"  {binding_id:<{id_width}}  {binding['keys']:<{key_width}}  "
                     f"{binding['description']} ({binding['where']})  [{binding['source']}]")
    lines += ["", "themes: " + ", ".join(effective["themes"])]
    return "\n".join(lines)


def cmd_config(args: argparse.Namespace) -> int:
    from tui.shell.keymap import check_config

    file: ConfigFile = args.config_file
    if args.path:
        print(file.path)
        return 0
    # Check what only the app knows (binding ids, themes) here too, so the file can be tested without opening the TUI.
    check_config(file)
    effective = effective_config(file, args.workspace_flag, args.rater_flag)
    if args.json:
        print(json.dumps(effective, ensure_ascii=False, indent=2))
    else:
        print(config_text(effective))
    if not file.exists and file.origin == "default":
        say(f"no config file yet; create {file.path} to change a value.")
    return 0

