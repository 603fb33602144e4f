"""The stopping rule: is the top model known to be on top, and roughly how many more ratings would tell.

Results re-reads this line after every rating, so it must stay valid under continual looks.
Two conditions, both required:

1. **The intervals are apart**: the leader's lower bound lies above every other model's upper
   bound (:func:`~core.stats.separation`), on the weakly regularised, unit-resampled
   leaderboard. This is what the leaderboard shows; alone, re-read after every rating, it
   declares equal models apart far too often, and on thin data (one model winning five of
   five) a percentile interval has no width at all.
2. **The leader's difference from its closest challenger passes an always-valid test**
   (:mod:`core.stats.sequential`): a normal-mixture likelihood ratio on the Bradley–Terry
   difference (every battle counts, indirect ones too), held to 1/α, whose chance of *ever*
   passing for two equal models is at most α however often it is read.

The rule is condition 1 (what a naive stop line reads) made stricter by condition 2. That the
pair is chosen by the data, and that the fit is only approximately normal, the theory does not
cover; simulation does: ``tests/bench/verdicts.py`` rates sessions of 2, 3, 4 and 8 *equal*
models (noisy raters with a position bias, both schedules, a look after every rating) and
counts the sessions in which the line *ever* says separated; it must stay under α. Sharing α
among the pairs as well (Bonferroni, which needs no simulation) left the adaptive schedule of
the 8-model benchmark unseparated after 2,520 ratings in half of its sessions, while the
simulated false separations were already near zero without it.

How many more: a bootstrap interval's width shrinks roughly as 1/√n, so the intervals stop
overlapping at about N = n·(spread/gap)², and the always-valid test passes once the
difference's variance, shrinking as 1/n, lets its evidence reach the bar; the larger of the two. A rough figure to plan
rating hours with, not a promise; when the two are level nothing can be extrapolated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.stats.battles import Battle
from core.stats.bradley_terry import LEADERBOARD_PENALTY, RatingCI, fit_strengths
from core.stats.separation import separation
from core.stats.sequential import Evidence, pair_evidence

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
    evidence: Evidence | None = None
    """Condition 2: the always-valid test of the leader's difference from the second."""


def stopping_rule(ratings: Mapping[str, RatingCI], n_ratings: int, battles: Sequence[Battle] = (), *,
                  alpha: float = ALPHA, penalty: float = LEADERBOARD_PENALTY) -> Stopping:
    """The stopping verdict for Bradley–Terry ``ratings`` (with 95 % intervals) fitted to ``n_ratings`` ratings
    (``battles``, fitted with the same ``penalty``).

    The leader and the challenger it must clear are :func:`~core.stats.separation`'s, the same
    test the adaptive schedule's simulation stops on. Without battles the always-valid test
    cannot pass, so nothing is declared separated.
    """
    verdict = separation(ratings)
    if verdict.top is None or verdict.runner_up is None:
        return Stopping(verdict.top, None, False, math.nan, math.nan, n_ratings, None)
    top, second = verdict.top, verdict.runner_up
    first, runner_up = ratings[top], ratings[second]
    gap = first.rating - runner_up.rating
    spread = (first.rating - first.low) + (runner_up.high - runner_up.rating)
    evidence: Evidence | None = None
    if battles:
        fit = fit_strengths(battles, penalty=penalty)
        if top in fit.names and second in fit.names:
            difference, variance = fit.difference(top, second)
            evidence = pair_evidence(difference, variance, alpha=alpha)
    separated = verdict.separated and evidence is not None and evidence.apart
    return Stopping(top, second, separated, gap, spread, n_ratings,
                    _more(verdict.separated, evidence, gap, spread, n_ratings), verdict.separated, evidence)


def _more(intervals_apart: bool, evidence: Evidence | None, gap: float, spread: float, n_ratings: int) -> int | None:
    if intervals_apart and evidence is not None and evidence.apart:
        return 0
    estimates: list[int] = []
    if not intervals_apart:
        if n_ratings <= 0 or not gap > 0 or not math.isfinite(spread) or spread <= 0:
            return None
        estimates.append(max(1, math.ceil(n_ratings * (spread / gap) ** 2 - n_ratings)))
    if evidence is None or not evidence.apart:
        more = evidence.more_ratings(n_ratings) if evidence is not None else None
        if more is None:
            return None
        estimates.append(max(1, more))
    return max(estimates)
