"""Whether the leader of a Bradley–Terry leaderboard is separated from every other model at the intervals' level.

The stopping rule of a tournament: rate until the model on top is known to be on top.
The test is the plain reading of the leaderboard's intervals: the top model's lower
bound lies above the upper bound of every other model. (Two non-overlapping 95 %
intervals are a stricter test than a 95 % test of the gap, so "separated" errs on the
side of rating a little longer.) Pure functions of the intervals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from core.stats.bradley_terry import RatingCI


@dataclass(frozen=True, slots=True)
class Separation:
    """The leader, its closest challenger and the room between their intervals."""

    top: str | None
    """The model with the highest rating; ``None`` with no models."""
    runner_up: str | None
    """The other model whose upper bound reaches highest: the one the leader must clear."""
    margin: float
    """The leader's lower bound minus the runner-up's upper bound (rating points); > 0 when separated."""

    @property
    def separated(self) -> bool:
        return self.top is not None and self.runner_up is not None and self.margin > 0.0


def separation(intervals: Mapping[str, RatingCI]) -> Separation:
    """The leader of ``intervals`` (e.g. :func:`~core.stats.bootstrap_bradley_terry`) against its closest challenger.

    Ties in rating go to the first model in order, as the leaderboard lists them. One
    model alone is not separated from anything (``runner_up`` is ``None``); NaN bounds
    never separate.
    """
    if not intervals:
        return Separation(top=None, runner_up=None, margin=math.nan)
    top = max(intervals, key=lambda name: intervals[name].rating)
    others = [name for name in intervals if name != top]
    if not others:
        return Separation(top=top, runner_up=None, margin=math.nan)
    runner_up = max(others, key=lambda name: (intervals[name].high, intervals[name].rating))
    margin = intervals[top].low - intervals[runner_up].high
    return Separation(top=top, runner_up=runner_up, margin=margin if not math.isnan(margin) else math.nan)


def separated(intervals: Mapping[str, RatingCI]) -> bool:
    """True when the top model's interval lies wholly above every other model's (see :func:`separation`)."""
    return separation(intervals).separated
