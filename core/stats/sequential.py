"""An always-valid test of one pair's head-to-head games: safe to look at after every rating.

A test at 95 % that is re-read after every rating is wrong far more than 5 % of the time:
with enough looks, a random walk crosses any fixed line. The test here stays valid however
often it is read. Under "the two models are equal" (each decisive game a fair coin, whatever
the sides, since sides are drawn at random), the likelihood ratio of a Beta(1, 1) mixture of
win rates against the fair coin,

    LR_n = 2^n · B(wins + 1, losses + 1) / B(1, 1),

is a non-negative martingale starting at 1, so by Ville's inequality the chance that it
*ever* reaches 1/α is at most α. A leaderboard of m models has m(m-1)/2 pairs, and the
pair that leads is chosen by the data, so each pair is held to α / pairs: the chance that
any pair of equal models is ever declared apart stays under α (Bonferroni over the pairs).
Ties and "both bad" say nothing about which is better and are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def log_mixture_evidence(wins: int, losses: int) -> float:
    """log LR_n of the module's docstring for ``wins`` and ``losses`` decisive games (0 with no games)."""
    if wins < 0 or losses < 0:
        raise ValueError(f"wins and losses must be counts, not {wins} and {losses}")
    games = wins + losses
    return games * math.log(2.0) + math.lgamma(wins + 1) + math.lgamma(losses + 1) - math.lgamma(games + 2)


@dataclass(frozen=True, slots=True)
class HeadToHead:
    """The always-valid verdict on one pair's decisive games."""

    wins: int
    """Games the first model won against the second (ties left out)."""
    losses: int
    evidence: float
    """The mixture likelihood ratio LR_n (how many times likelier the games are if the two differ)."""
    needed: float
    """The ratio at which the pair is declared apart: pairs / α."""

    @property
    def apart(self) -> bool:
        """The first model is better, at the level the test was built for, however often it is looked at."""
        return self.wins > self.losses and self.evidence >= self.needed

    def more_games(self) -> int | None:
        """Roughly how many more decisive games at today's win rate until the pair is apart; None when level."""
        games = self.wins + self.losses
        if self.apart:
            return 0
        if games == 0 or self.wins <= self.losses:
            return None
        rate = self.wins / games
        # log LR grows by the Kullback–Leibler divergence of the win rate from a fair coin per game,
        # less the mixture's price of about ½·log n: find the first n where it reaches log(needed).
        divergence = sum(share * math.log(2 * share) for share in (rate, 1 - rate) if share > 0)
        target = math.log(self.needed)
        total = games
        while total < 10_000_000:
            if total * divergence - 0.5 * math.log(total * math.pi / 2) >= target:
                return max(1, total - games)
            total = max(total + 1, int(total * 1.05))
        return None


def head_to_head(wins: int, losses: int, *, pairs: int = 1, alpha: float = 0.05) -> HeadToHead:
    """The always-valid test of ``wins`` against ``losses`` when the leaderboard has ``pairs`` pairs."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha}")
    if pairs < 1:
        raise ValueError(f"pairs must be at least 1, not {pairs}")
    # Capped where a float would overflow: far past any bar the test is held to.
    return HeadToHead(wins, losses, math.exp(min(log_mixture_evidence(wins, losses), 700.0)), pairs / alpha)
