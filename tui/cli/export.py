"""The ``mhbench export`` command: ratings, comparisons or battles to CSV (for a spreadsheet) or JSONL.

Like the rest of :mod:`tui.cli`, nothing heavy loads before the command runs. The file's path goes
to stdout, so scripts can capture it; the row count goes to stderr.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from tui.cli.common import command_workspace, say

if TYPE_CHECKING:
    from core.results.export import ExportFormat, ExportKind

KINDS = ("ratings", "comparisons", "battles")
FORMATS = ("csv", "jsonl")


def add_commands(commands: Any) -> None:
    """Add ``export`` to ``mhbench``'s subparsers."""
    export = commands.add_parser(
        "export", help="export ratings, comparisons or battles to CSV or JSONL (current rating versions only)",
        description="Export the current version of every rating. ratings: one row per rated response (two per "
                    "rating), models revealed, scores, preference, settings; comparisons: one row per rating with "
                    "the winner; battles: Chatbot Arena battle records. CSV is UTF-8 with a BOM for Excel, with "
                    "formula-like cells neutralised by a leading apostrophe. API keys are never exported.")
    export.add_argument("what", choices=KINDS, help="what to export")
    export.add_argument("--format", choices=FORMATS,
                        help="csv or jsonl (default: from --out's suffix, else jsonl for battles and csv otherwise)")
    export.add_argument("--out", metavar="FILE",
                        help="where to write (default: <workspace>/exports/<what>-<UTC stamp>.<csv|jsonl>); "
                             "replaced atomically")
    # Own dests: ``mhbench --rater`` (the TUI's rater) must not be taken for, or clobbered by, a filter.
    export.add_argument("--session", metavar="S", dest="export_session",
                        help="only this session (id, name or unique id prefix)")
    export.add_argument("--rater", metavar="R", dest="export_rater", help="only this rater's ratings")
    export.add_argument("--include-judges", action="store_true",
                        help="include the LLM judges' ratings (rater judge:<model>:<version>); humans only by default")
    export.set_defaults(handler=cmd_export)


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    suffix = Path(args.out).suffix.lower().lstrip(".") if args.out else ""
    if suffix in FORMATS:
        return suffix
    return "jsonl" if args.what == "battles" else "csv"


def cmd_export(args: argparse.Namespace) -> int:
    from core.results.export import export, export_path

    workspace = command_workspace(args)
    what = cast("ExportKind", args.what)
    fmt = cast("ExportFormat", _format(args))
    if not workspace.db_path.is_file():
        say(f"{workspace.root} has no database yet: the export will be empty.")
    out = export_path(workspace, what, fmt, Path(args.out) if args.out else None)
    rows = export(workspace, what, out, format=fmt, session=args.export_session, rater=args.export_rater,
                  include_judges=args.include_judges)
    per = " (two per rating)" if what == "ratings" else ""
    say(f"exported {rows} {'row' if rows == 1 else 'rows'}{per} of {what} as {fmt}")
    print(out)
    return 0

