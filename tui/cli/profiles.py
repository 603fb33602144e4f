"""``mhbench profiles``: every profile (shipped and the workspace's) with its validation status.

Profiles serve training and serving alike, so they are a group of their own.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from tui.cli.common import command_workspace


def add_commands(commands: Any) -> None:
    profiles = commands.add_parser("profiles", help="list the profiles with their validation status")
    profiles.add_argument("--json", action="store_true", help="machine-readable output")
    profiles.set_defaults(handler=cmd_profiles)


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
