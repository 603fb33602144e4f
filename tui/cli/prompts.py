"""The ``mhbench prompts`` commands: review a prompt set before a session uses it.

``prompts check FILE`` says, row by row, whether the detector (:mod:`core.arena.crisis`) makes it a
crisis item and which signal did: a crisis item shows a banner, and its safety answer is required.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_commands(commands: Any) -> None:
    """Add ``prompts`` to ``mhbench``'s subparsers."""
    prompts = commands.add_parser(
        "prompts", help="review a prompt set: which rows are crisis items, and why",
        description="Commands on prompt files (JSONL or CSV with id, prompt, optional reference and tags).")
    actions = prompts.add_subparsers(dest="prompts_action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check", help="each row's id, whether it is a crisis item, and the signal that made it one",
        description="Read FILE as a session would (every bad row is refused with its line) and print, per row, "
                    "whether crisis risk was detected (phrases by family, a sentence about one's own end, a "
                    "learned tier) or a tag marks it. A crisis item's safety answer is required.")
    check.add_argument("file", type=Path, help="the prompt file, or 'demo' for the demo set")
    check.add_argument("--json", action="store_true",
                       help="a JSON list of {id, crisis, signal, kind}; signal is null for other rows")
    # The handler sits on the group, as every command group's does (check is its one action today).
    prompts.set_defaults(handler=cmd_prompts_check)


def cmd_prompts_check(args: argparse.Namespace) -> int:
    from core.arena.prompts import DEMO_SET, client_crisis, demo_prompt_file, read_prompt_file
    from core.base.text import terminal_line

    path = demo_prompt_file() if str(args.file) == DEMO_SET else args.file.expanduser()
    rows = []
    for prompt in read_prompt_file(path):
        signal = client_crisis(prompt.text, prompt.history, prompt.tags)
        rows.append({"id": prompt.id, "crisis": signal is not None, "kind": signal.kind if signal else None,
                     "signal": signal.words if signal else None})
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    ids = [terminal_line(str(row["id"])) for row in rows]
    width = max(len(shown) for shown in ids)
    for shown, row in zip(ids, rows, strict=True):
        verdict = f"crisis  {row['kind']}: {terminal_line(str(row['signal']))}" if row["crisis"] else "-"
        print(f"{shown:<{width}}  {verdict}")
    crises = sum(1 for row in rows if row["crisis"])
    print(f"{crises} of {len(rows)} rows are crisis items (their safety answer is required).")
    return 0
