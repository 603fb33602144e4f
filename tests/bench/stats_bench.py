"""Cost of the Results mode's statistics in ``core.stats``: prints figures, passes nothing.

1. ``bootstrap_bradley_terry`` with 1,000 rounds on 10 models and 10,000 random
   battles (ties included), point fit included (target <= 1 s on a 2-core CPU).
2. ``mean_ci`` with 1,000 rounds on 100,000 distinct values (the resample-by-index
   path) and on 100,000 rubric scores 1..5 (the multinomial-by-value path).

Every figure is the median of ``--rounds`` rounds.

    .venv/bin/python tests/bench/stats_bench.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.stats import Battle, Winner, bootstrap_bradley_terry, bradley_terry, mean_ci  # noqa: E402

MODELS = 10
BATTLES = 10_000
BOOTSTRAP_ROUNDS = 1_000
VALUES = 100_000


def random_battles(models: int, count: int, seed: int) -> list[Battle]:
    """Battles between models of spread-out strengths: 10 % ties, 5 % both-bad ties, sides at random."""
    rng = np.random.default_rng(seed)
    strengths = rng.normal(0.0, 0.6, size=models)
    pairs = np.array([rng.choice(models, size=2, replace=False) for _ in range(count)])
    p_left = 1.0 / (1.0 + np.exp(strengths[pairs[:, 1]] - strengths[pairs[:, 0]]))
    u, v = rng.random(count), rng.random(count)
    battles = []
    for (a, b), p, tie, left in zip(pairs, p_left, u, v, strict=True):
        winner: Winner
        if tie < 0.10:
            winner = "tie"
        elif tie < 0.15:
            winner = "tie (bothbad)"
        else:
            winner = "model_a" if left < p else "model_b"
        battles.append(Battle(f"model-{a}", f"model-{b}", winner))
    return battles


def timed(call: Callable[[], object], rounds: int) -> tuple[float, list[float]]:
    """(median seconds, every run's seconds) of ``call``."""
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return statistics.median(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"this machine: {os.cpu_count()} CPUs, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")

    battles = random_battles(MODELS, BATTLES, seed=0)
    median, times = timed(lambda: bradley_terry(battles), args.rounds)
    print(f"bradley_terry, {MODELS} models, {BATTLES:,} battles: {median * 1e3:.1f} ms (median of {args.rounds})")
    median, times = timed(lambda: bootstrap_bradley_terry(battles, rounds=BOOTSTRAP_ROUNDS), args.rounds)
    print(
        f"bootstrap_bradley_terry, {MODELS} models, {BATTLES:,} battles, {BOOTSTRAP_ROUNDS:,} rounds: "
        f"{median:.3f} s (median of {args.rounds}; runs {', '.join(f'{t:.3f}' for t in times)}; target <= 1 s)"
    )
    ratings = bootstrap_bradley_terry(battles, rounds=BOOTSTRAP_ROUNDS)
    widest = max(ratings.values(), key=lambda ci: ci.high - ci.low)
    print(f"  widest 95 % interval: {widest.high - widest.low:.1f} Elo points")

    rng = np.random.default_rng(1)
    distinct = rng.normal(3.0, 1.0, size=VALUES).tolist()
    scores = rng.integers(1, 6, size=VALUES).astype(float).tolist()
    median, times = timed(lambda: mean_ci(distinct, rounds=BOOTSTRAP_ROUNDS), args.rounds)
    print(
        f"mean_ci, {VALUES:,} distinct values, {BOOTSTRAP_ROUNDS:,} rounds: {median:.3f} s "
        f"(median of {args.rounds}; runs {', '.join(f'{t:.3f}' for t in times)})"
    )
    median, times = timed(lambda: mean_ci(scores, rounds=BOOTSTRAP_ROUNDS), args.rounds)
    print(
        f"mean_ci, {VALUES:,} scores in 1..5, {BOOTSTRAP_ROUNDS:,} rounds: {median * 1e3:.1f} ms "
        f"(median of {args.rounds}; runs {', '.join(f'{t * 1e3:.1f}' for t in times)})"
    )


if __name__ == "__main__":
    main()
