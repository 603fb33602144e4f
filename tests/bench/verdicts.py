"""Verdicts you can trust, measured: the stop line on equal models, and crisis detection on labelled texts.

1. False separation. Sessions of equally strong models (2, 3, 4 and 8 of them) are rated by three
   simulated raters who favour the left answer (0.15-0.35 logits) and tie one time in ten,
   under both pair schedules, for up to 500 ratings; the stop line is read after *every*
   rating, exactly as Results computes it. F is the share of sessions in which it ever said
   "separated" (requirement: at most 0.05). The old rule (intervals apart, read after every
   rating) is shown beside it on the same sessions, for scale.
2. Crisis detection on the labelled set (core/arena/data/crisis_labelled.jsonl), the learned
   tier by 5-fold cross-validation so that no text is scored by a model trained on it
   (requirement: recall >= 0.95, false positives <= 0.10), and on the held-out set that was
   never trained on (tests/data/crisis_heldout.jsonl).

    .venv/bin/python tests/bench/verdicts.py [--sessions 120] [--ratings 500]

The last line is ``verdicts: false separation F, crisis recall R, false positives P``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.arena.crisis import CrisisExample, cross_validate, load_examples, score_detection  # noqa: E402
from core.stats import LEADERBOARD_PENALTY, Battle, bootstrap_bradley_terry, separated  # noqa: E402
from tests.bench.simulation import RATERS, could_separate, rate_session, stop_line  # noqa: E402

PROMPTS = [f"p{i:03d}" for i in range(200)]
HELD_OUT = ROOT / "tests" / "data" / "crisis_heldout.jsonl"


def null_session(models: int, schedule: str, seed: int, ratings: int, old_every: int) -> tuple[bool, bool]:
    """(the stop line ever said separated, the old intervals-only rule ever did) in one session of equal models."""
    strengths = {f"m{i}": 1000.0 for i in range(models)}
    said = {"new": False, "old": False}

    def look(battles: list[Battle]) -> bool:
        if not said["new"] and could_separate(battles) and stop_line(battles, rounds=300, seed=seed).separated:
            said["new"] = True
        # The old rule is a bootstrap per look; read it every few ratings only (read after every rating it could
        # only say "separated" more often).
        if not said["old"] and len(battles) % old_every == 0:
            said["old"] = separated(bootstrap_bradley_terry(battles, rounds=200, seed=seed,
                                                            penalty=LEADERBOARD_PENALTY))
        return said["new"] and said["old"]

    rate_session(strengths, PROMPTS, schedule, seed, cap=ratings, after_rating=look)
    return said["new"], said["old"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=120, help="sessions per (models, schedule) (default 120)")
    parser.add_argument("--ratings", type=int, default=500, help="ratings per session (default 500)")
    parser.add_argument("--old-every", type=int, default=25, help="ratings between two looks of the old rule")
    args = parser.parse_args()
    print(f"equal models, {RATERS} raters with a left bias of 0.15-0.35 logits, 10% ties, up to {args.ratings} "
          f"ratings, the stop line read after every rating; {args.sessions} sessions per row")
    total = new_total = old_total = 0
    for models in (2, 3, 4, 8):
        for schedule in ("round-robin", "adaptive"):
            start = time.perf_counter()
            runs = [null_session(models, schedule, 7000 + 97 * n + models, args.ratings, args.old_every)
                    for n in range(args.sessions)]
            new = sum(r[0] for r in runs)
            old = sum(r[1] for r in runs)
            total += len(runs)
            new_total += new
            old_total += old
            print(f"  {models} models, {schedule:>11}: stop line ever 'separated' in {new}/{len(runs)} "
                  f"({new / len(runs):.3f}); the old intervals-only rule, read every {args.old_every}: "
                  f"{old}/{len(runs)} ({old / len(runs):.3f}); {time.perf_counter() - start:.0f} s")
    false_rate = new_total / total
    print(f"false separation over all {total} sessions: {false_rate:.3f} (old rule {old_total / total:.3f}); "
          f"requirement <= 0.05")

    examples = load_examples()
    start = time.perf_counter()
    crossed = cross_validate(examples)
    held = [json.loads(line) for line in HELD_OUT.read_text(encoding="utf-8").splitlines() if line.strip()]
    unseen = score_detection(CrisisExample(row["text"], row["crisis"]) for row in held)
    crisis = sum(e.crisis for e in examples)
    print(f"crisis detection, labelled set ({crisis} crisis, {len(examples) - crisis} not; 5-fold cross-validation): "
          f"recall {crossed.recall:.3f}, false positives {crossed.false_positive_rate:.3f}; "
          f"held-out set ({len(held)} texts never trained on): recall {unseen.recall:.3f}, "
          f"false positives {unseen.false_positive_rate:.3f}; {time.perf_counter() - start:.1f} s")
    print(f"verdicts: false separation {false_rate:.3f}, crisis recall {crossed.recall:.3f}, "
          f"false positives {crossed.false_positive_rate:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
