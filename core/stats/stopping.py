"""The stopping rule: is the top model known to be on top, and roughly how many more ratings would tell.

Results re-reads this line after every rating, so it must stay valid under continual looks.
Two conditions, both required:

1. **The intervals are apart**: the leader's lower bound lies above every other model's upper
   bound (:func:`~core.stats.separation`), on the weakly regularised, unit-resampled
   leaderboard. This is what the leaderboard shows; alone, re-read after every rating, it
   declares equal models apart far too often, and on thin data (one model winning five of
   five) a percentile interval has no width at all.
2. **The leader's own games against its closest challenger pass an always-valid test**
   (:mod:`core.stats.sequential`): a mixture likelihood ratio held to pairs/α, whose chance of
   *ever* passing for two equal models is at most α/pairs however often it is read. With
   m models there are m(m-1)/2 pairs, so the chance that the line ever declares any pair of
   equal models apart is at most α. ``tests/bench/verdicts.py`` checks it by simulation
   (equal models, noisy raters with a position bias, a look after every rating).

How many more: a bootstrap interval's width shrinks roughly as 1/√n, so the intervals stop
overlapping at about N = n·(spread/gap)², and the head-to-head test passes after about the
number of games at which its evidence, growing by the win rate's divergence from a fair
coin per game, reaches the bar; the larger of the two, in ratings. A rough figure to plan
rating hours with, not a promise; when the two are level nothing can be extrapolated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.stats.battles import Battle
from core.stats.bradley_terry import RatingCI
from core.stats.separation import separation
from core.stats.sequential import HeadToHead, head_to_head

ALPHA = 0.05
"""The chance, over a whole session of looks, that equal models are ever declared apart."""


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
    intervals_apart: bool = False
    """Condition 1 alone: the leader's interval clears every other model's."""
    games: HeadToHead | None = None
    """Condition 2: the leader's decisive games against the second, and their always-valid test."""


def stopping_rule(ratings: Mapping[str, RatingCI], n_ratings: int, battles: Sequence[Battle] = (), *,
                  alpha: float = ALPHA) -> Stopping:
    """The stopping verdict for Bradley–Terry ``ratings`` (with 95 % intervals) fitted to ``n_ratings`` ratings,
    whose ``battles`` hold the leader's head-to-head games.

    The leader and the challenger it must clear are :func:`~core.stats.separation`'s, the same
    test the adaptive schedule's simulation stops on. Without battles the head-to-head test
    cannot pass, so nothing is declared separated.
    """
    verdict = separation(ratings)
    if verdict.top is None or verdict.runner_up is None:
        return Stopping(verdict.top, None, False, math.nan, math.nan, n_ratings, None)
    top, second = verdict.top, verdict.runner_up
    first, runner_up = ratings[top], ratings[second]
    gap = first.rating - runner_up.rating
    spread = (first.rating - first.low) + (runner_up.high - runner_up.rating)
    wins = sum(1 for b in battles if (b.model_a, b.model_b, b.winner) in ((top, second, "model_a"),
                                                                           (second, top, "model_b")))
    losses = sum(1 for b in battles if (b.model_a, b.model_b, b.winner) in ((second, top, "model_a"),
                                                                             (top, second, "model_b")))
    models = len(ratings)
    games = head_to_head(wins, losses, pairs=models * (models - 1) // 2, alpha=alpha)
    separated = verdict.separated and games.apart
    return Stopping(top, second, separated, gap, spread, n_ratings,
                    _more(verdict.separated, games, gap, spread, n_ratings, wins + losses),
                    verdict.separated, games)


def _more(intervals_apart: bool, games: HeadToHead, gap: float, spread: float, n_ratings: int,
          decisive: int) -> int | None:
    if intervals_apart and games.apart:
        return 0
    estimates: list[int] = []
    if not intervals_apart:
        if n_ratings <= 0 or not gap > 0 or not math.isfinite(spread) or spread <= 0:
            return None
        estimates.append(max(1, math.ceil(n_ratings * (spread / gap) ** 2 - n_ratings)))
    if not games.apart:
        more_games = games.more_games()
        if more_games is None or decisive == 0:
            return None
        # The pair's games come at today's share of all ratings.
        estimates.append(max(1, math.ceil(more_games * n_ratings / decisive)))
    return max(estimates)
