"""Percentile bootstrap: the checks and the interval every resampling statistic shares, and a mean's interval.

Every bootstrap takes a ``seed`` and builds its own numpy Generator, so the same data
always give the same interval on screen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.stats.arrays import FloatArray

# Resampled indices held in memory at once by mean_ci (int64: 8 MiB, and as much again
# for the values they pick); larger chunks measured no faster.
_MEAN_CI_CHUNK = 1_000_000


@dataclass(frozen=True, slots=True)
class MeanCI:
    """A sample mean with its bootstrap percentile interval; ``n`` values went in."""

    mean: float
    low: float
    high: float
    n: int


def check_bootstrap(rounds: int, level: float) -> None:
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, not {rounds}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1, not {level}")


def percentile_interval(samples: FloatArray, level: float) -> tuple[FloatArray, FloatArray]:
    """The bounds of the central ``level`` of ``samples`` along its first axis (one bound per column)."""
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail], axis=0)
    return low, high


def mean_ci(
    values: Sequence[float],
    *,
    rounds: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> MeanCI:
    """Mean of ``values`` with a percentile bootstrap interval, deterministic given ``seed``.

    No values give NaN for the mean and both bounds; one value gives a zero-width
    interval. NaN values are not dropped: they make the result NaN. Rounds are
    resampled in chunks so memory stays bounded (about 16 MiB) for any input size.
    """
    check_bootstrap(rounds, level)
    data = np.asarray(values, dtype=np.float64)
    n = int(data.size)
    if n == 0:
        return MeanCI(mean=math.nan, low=math.nan, high=math.nan, n=0)
    mean = float(data.mean())
    if n == 1:
        return MeanCI(mean=mean, low=mean, high=mean, n=1)
    rng = np.random.default_rng(seed)
    distinct, counts = np.unique(data, return_counts=True)
    if distinct.size * 16 <= n:
        # Few distinct values (rubric scores): a resample is multinomial counts per value,
        # O(values) per round instead of O(n), and the same distribution.
        drawn = rng.multinomial(n, counts / n, size=rounds)
        means = drawn @ distinct / n
    else:
        means = np.empty(rounds, dtype=np.float64)
        chunk = max(1, _MEAN_CI_CHUNK // n)
        for start in range(0, rounds, chunk):
            stop = min(rounds, start + chunk)
            picks = rng.integers(0, n, size=(stop - start, n))
            means[start:stop] = data[picks].mean(axis=1)
    low, high = percentile_interval(means, level)
    return MeanCI(mean=mean, low=float(low), high=float(high), n=n)
