"""The stopping rule: is the top model separated from the second, and roughly how many more ratings would do it.

Separated at 95 % means the two best models' Bradley–Terry bootstrap intervals do not
overlap: the top one's lower bound is above the second one's upper bound. That is
stricter than a test of their difference (two intervals can overlap a little while the
difference is significant), which is the safe side for declaring a winner.

How many more: a bootstrap interval's width shrinks roughly as 1/√n with the number of
ratings n. The two half-widths that face each other (the top model's lower half, the
second's upper half) add up to ``spread``; they stop overlapping once ``spread·√(n/N)``
is below the gap between the two ratings, i.e. at N = n·(spread/gap)². This assumes the
gap stays what it is now and that new ratings inform these two models as much as past
ones did (the adaptive schedule aims its pairs at the uncertain ones, so it should do
at least as well): a rough figure to plan rating hours with, not a promise. When the two
are level (no gap) nothing can be extrapolated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from core.stats.bradley_terry import RatingCI
from core.stats.separation import separation


@dataclass(frozen=True)
class Stopping:
    """The verdict of the stopping rule on the current ratings."""

    top: str | None
    second: str | None
    separated: bool
    gap: float
    """Top rating minus second rating (Elo points)."""
    spread: float
    """The top's lower half-interval plus the second's upper half-interval."""
    ratings: int
    more: int | None
    """Roughly how many more ratings until separated: 0 when it is, None when it cannot be said."""


def stopping_rule(ratings: Mapping[str, RatingCI], n_ratings: int) -> Stopping:
    """The stopping verdict for Bradley–Terry ``ratings`` (with 95 % intervals) fitted to ``n_ratings`` ratings.

    The leader and the challenger it must clear are :func:`~core.stats.separation`'s, the same
    test the adaptive schedule's simulation stops on.
    """
    verdict = separation(ratings)
    if verdict.top is None or verdict.runner_up is None:
        return Stopping(verdict.top, None, False, math.nan, math.nan, n_ratings, None)
    first, runner_up = ratings[verdict.top], ratings[verdict.runner_up]
    gap = first.rating - runner_up.rating
    spread = (first.rating - first.low) + (runner_up.high - runner_up.rating)
    more: int | None
    if verdict.separated:
        more = 0
    elif n_ratings <= 0 or not gap > 0 or not math.isfinite(spread) or spread <= 0:
        more = None
    else:
        more = max(1, math.ceil(n_ratings * (spread / gap) ** 2 - n_ratings))
    return Stopping(verdict.top, verdict.runner_up, verdict.separated, gap, spread, n_ratings, more)
