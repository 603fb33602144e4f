"""Round-robin against adaptive pair scheduling, by simulation: prints figures, passes nothing.

Eight models of known strengths (Elo points below) are rated by three simulated raters
who favour the left answer (a position bias of 0.15 to 0.35 logits) and tie one time in
ten. Each simulated session runs one schedule of :mod:`core.arena.schedule` (the same
functions the arena uses: ``round_robin`` items in order, or ``next_draw`` before every
rating, from the ratings so far), the raters taking turns. Every ``--every`` ratings the stop line is read as Results
draws it (``tests/bench/simulation.py``: the leaderboard's weakly regularised
``bootstrap_bradley_terry``, 1,000 rounds, then ``core.stats.stopping_rule``: the leader's
interval clears every other model's *and* its own games against the closest challenger pass
the always-valid test) and the session stops at the first check that says separated: the
figures are the number of ratings that took (median over ``--sessions`` sessions; a session
that never separates counts as its cap) and how often the declared leader was not the true best.

Then the time to choose one next pair (``next_draw``) with 16 models and 20,000 ratings
(median of 15). The last line is the summary.

    .venv/bin/python tests/bench/schedule.py [--sessions 12] [--every 20]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.arena.schedule import next_draw, pair_key  # noqa: E402
from core.stats import Battle  # noqa: E402
from tests.bench.simulation import RATERS, TIE_RATE, run_session  # noqa: E402

STRENGTHS = {"m1": 1200.0, "m2": 1130.0, "m3": 1090.0, "m4": 1060.0, "m5": 1030.0, "m6": 1000.0, "m7": 960.0,
             "m8": 900.0}
BEST = "m1"
PROMPTS = [f"p{i:02d}" for i in range(30)]


@dataclass(frozen=True)
class Outcome:
    ratings: int
    separated: bool
    wrong: bool



def simulate(schedule: str, seed: int, every: int) -> Outcome:
    outcome = run_session(STRENGTHS, PROMPTS, schedule, seed, cap=10**9, every=every)
    return Outcome(outcome.ratings, outcome.separated, outcome.separated and outcome.top != BEST)


def next_pair_ms(repeats: int = 15) -> float:
    rng = random.Random(7)
    models = [f"model-{i:02d}" for i in range(16)]
    strength = {model: rng.gauss(0.0, 0.5) for model in models}
    battles = []
    for _ in range(20_000):
        a, b = rng.sample(models, 2)
        p = 1.0 / (1.0 + math.exp(strength[b] - strength[a]))
        battles.append(Battle(a, b, "model_a" if rng.random() < p else "model_b"))
    prompts = [f"p{i}" for i in range(50)]
    seen = {(prompts[i % 50], pair_key(models, b.model_a, b.model_b)) for i, b in enumerate(battles[:3000])}
    left_counts: dict[tuple[str, str], int] = {}
    for battle in battles:
        left_counts[battle.model_a, battle.model_b] = left_counts.get((battle.model_a, battle.model_b), 0) + 1
    times = []
    for repeat in range(repeats):
        start = time.perf_counter()
        next_draw(models, prompts, battles, seen=seen, left_counts=left_counts, seed=repeat)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=12, help="simulated sessions per schedule (default 12)")
    parser.add_argument("--every", type=int, default=20, help="ratings between two separation checks (default 20)")
    args = parser.parse_args()
    print(f"8 models {dict(STRENGTHS)}; {RATERS} raters, position bias 0.15-0.35 logits, {TIE_RATE:.0%} ties; "
          f"{len(PROMPTS)} prompts; {args.sessions} sessions per schedule; a check every {args.every} ratings")
    medians: dict[str, float] = {}
    wrong: dict[str, int] = {}
    for schedule in ("round-robin", "adaptive"):
        start = time.perf_counter()
        outcomes = [simulate(schedule, 1000 + n, args.every) for n in range(args.sessions)]
        medians[schedule] = statistics.median(o.ratings for o in outcomes)
        wrong[schedule] = sum(o.wrong for o in outcomes)
        never = sum(not o.separated for o in outcomes)
        print(f"{schedule:>11}: median {medians[schedule]:.0f} ratings until the stop line says separated "
              f"(quartiles {statistics.quantiles([o.ratings for o in outcomes], n=4)[0]:.0f}-"
              f"{statistics.quantiles([o.ratings for o in outcomes], n=4)[2]:.0f}); wrong winner "
              f"{wrong[schedule]}/{args.sessions}; never separated {never}; {time.perf_counter() - start:.1f} s")
    ms = next_pair_ms()
    print(f"next pair with 16 models and 20,000 ratings: {ms:.1f} ms (median of 15; target <= 50 ms)")
    ratio = medians["adaptive"] / medians["round-robin"]
    print(f"schedule: adaptive/round-robin ratings ratio {ratio:.2f}, wrong winners {wrong['adaptive']} vs "
          f"{wrong['round-robin']}, next-pair ms {ms:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
