"""The ``mhbench results`` command: the Results mode's numbers as text or JSON.

Like the rest of :mod:`tui.cli`, nothing heavy loads before the command runs.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from tui.cli.common import POSITIVE, SEED, command_workspace


def add_commands(commands: Any) -> None:
    """Add ``results`` to ``mhbench``'s subparsers."""
    results = commands.add_parser(
        "results",
        help="leaderboard (Bradley–Terry), rubric means with CIs, win matrix, agreement, BLEU/ROUGE",
        description="Statistics of the current ratings (every turn counts; an edited rating counts once). "
                    "Filters combine; each must match a current rating.",
    )
    # dest differs from the global --rater (the arena rater id) so the two never overwrite each other.
    results.add_argument("--rater", dest="only_rater", metavar="R", help="only this rater's ratings")
    results.add_argument("--session", dest="only_session", metavar="S", help="only this session (id, name or prefix)")
    results.add_argument("--tag", dest="only_tag", metavar="T", help="only items whose prompt has this tag")
    results.add_argument("--model", dest="only_model", metavar="M", help="only battles with this model on either side")
    results.add_argument("--kind", dest="only_kind", choices=("opening", "turn", "dialogue"),
                         help="only items of this kind: opening lines, turns of real conversations, or whole "
                              "simulated-client dialogues")
    results.add_argument("--rounds", type=POSITIVE, default=1000, help="bootstrap rounds for the CIs (default 1000)")
    results.add_argument("--seed", type=SEED, default=0, help="bootstrap seed (default 0)")
    results.add_argument("--include-judges", action="store_true",
                         help="pool the LLM judges' ratings with the humans' (humans only by default)")
    results.add_argument("--calibration", action="store_true",
                         help="judge–human agreement beside human–human agreement (α, exact, within-one, "
                              "preference %%, position consistency) instead of the leaderboard")
    results.add_argument("--json", action="store_true", help="machine-readable output (NaN as null)")
    results.set_defaults(handler=cmd_results)


def cmd_results(args: argparse.Namespace) -> int:
    from core.results import compute_results, results_dict, results_text

    workspace = command_workspace(args)
    if args.calibration:
        return _calibration(workspace, args)
    results = compute_results(
        workspace,
        rater=args.only_rater,
        session=args.only_session,
        tag=args.only_tag,
        model=args.only_model,
        kind=args.only_kind,
        rounds=args.rounds,
        seed=args.seed,
        include_judges=args.include_judges,
    )
    if args.json:
        print(json.dumps(results_dict(results), ensure_ascii=False, indent=2, allow_nan=False))
    else:
        print(results_text(results))
    return 0


def _calibration(workspace: Any, args: argparse.Namespace) -> int:
    from core.results import calibration_dict, calibration_text, compute_calibration

    calibration = compute_calibration(workspace, session=args.only_session, kind=args.only_kind)
    if args.json:
        print(json.dumps(calibration_dict(calibration), ensure_ascii=False, indent=2, allow_nan=False))
    else:
        print(calibration_text(calibration))
    return 0

