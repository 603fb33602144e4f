"""Battles and their raw counts: each model's record against each other, and whether the left answer is favoured.

These counts are what the ratings of :mod:`core.stats.bradley_terry` are fitted to.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from core.stats.bootstrap import check_bootstrap, percentile_interval

Winner = Literal["model_a", "model_b", "tie", "tie (bothbad)"]

WINNERS: frozenset[str] = frozenset(("model_a", "model_b", "tie", "tie (bothbad)"))
TIES: frozenset[str] = frozenset(("tie", "tie (bothbad)"))


@dataclass(frozen=True, slots=True)
class Battle:
    """One blind A/B judgement. ``model_a`` was shown on the left, ``model_b`` on the right."""

    model_a: str
    model_b: str
    winner: Winner
    unit: str | None = None
    """The independent unit this battle belongs to: the stored comparison (one pair of stored answers)
    that several raters may have judged. Battles of one unit are resampled together; ``None`` makes
    the battle a unit of its own."""


@dataclass(frozen=True, slots=True)
class WinTieLoss:
    """One model's record against one opponent. ``ties`` includes the ``both_bad`` ties."""

    wins: int
    ties: int
    losses: int
    both_bad: int = 0

    @property
    def battles(self) -> int:
        return self.wins + self.ties + self.losses


@dataclass(frozen=True, slots=True)
class PositionBias:
    """How often the left answer won among decided battles (ties excluded), with an interval."""

    left_wins: int
    decided: int
    rate: float
    low: float
    high: float


def check_winner(battle: Battle) -> None:
    if battle.winner not in WINNERS:
        raise ValueError(f"unknown winner {battle.winner!r}; expected one of {sorted(WINNERS)}")


def win_matrix(battles: Sequence[Battle]) -> dict[str, dict[str, WinTieLoss]]:
    """Each model's record against each other model, whichever side it was shown on.

    ``matrix[a][b]`` is a's record against b (a's wins are b's losses); it exists for
    every pair of distinct models, with zeros where they never met. Both kinds of tie
    count in ``ties``; the "tie (bothbad)" ones are also counted in ``both_bad``.
    Models are in order of first appearance; battles of a model against itself are ignored.
    """
    names: dict[str, None] = {}
    tally: Counter[tuple[str, str, str]] = Counter()
    for battle in battles:
        check_winner(battle)
        a, b = battle.model_a, battle.model_b
        names.setdefault(a)
        names.setdefault(b)
        if a == b:
            continue
        if battle.winner == "model_a":
            tally[a, b, "wins"] += 1
            tally[b, a, "losses"] += 1
        elif battle.winner == "model_b":
            tally[b, a, "wins"] += 1
            tally[a, b, "losses"] += 1
        else:
            tally[a, b, "ties"] += 1
            tally[b, a, "ties"] += 1
            if battle.winner == "tie (bothbad)":
                tally[a, b, "both_bad"] += 1
                tally[b, a, "both_bad"] += 1
    return {
        row: {
            column: WinTieLoss(
                wins=tally[row, column, "wins"],
                ties=tally[row, column, "ties"],
                losses=tally[row, column, "losses"],
                both_bad=tally[row, column, "both_bad"],
            )
            for column in names
            if column != row
        }
        for row in names
    }


def position_bias(
    battles: Sequence[Battle],
    *,
    rounds: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> PositionBias:
    """Share of decided battles (ties excluded) won by the answer shown on the left, with a bootstrap interval.

    Resampling the decided battles with replacement makes the number of left wins
    Binomial(decided, rate), so each round is one binomial draw. With no decided
    battle everything is NaN. Note that a percentile bootstrap collapses to a point
    when every decided battle went one way (rate 0 or 1): read small counts with care.
    """
    check_bootstrap(rounds, level)
    left_wins = decided = 0
    for battle in battles:
        check_winner(battle)
        if battle.winner in TIES:
            continue
        decided += 1
        left_wins += battle.winner == "model_a"
    if decided == 0:
        return PositionBias(left_wins=0, decided=0, rate=math.nan, low=math.nan, high=math.nan)
    rate = left_wins / decided
    rng = np.random.default_rng(seed)
    shares = rng.binomial(decided, rate, size=rounds) / decided
    low, high = percentile_interval(shares, level)
    return PositionBias(left_wins=left_wins, decided=decided, rate=rate, low=float(low), high=float(high))
