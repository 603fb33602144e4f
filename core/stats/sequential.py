"""An always-valid test that the leader is stronger than its challenger: safe to read after every rating.

A test at 95 % that is re-read after every rating is wrong far more than 5 % of the time:
with enough looks, a random walk crosses any fixed line. The test here stays valid however
often it is read. It asks whether the Bradley–Terry difference of the two models, d̂ with
variance V (from the penalised fit's Hessian, so every battle counts, indirect ones too),
is told apart from zero by a mixture sequential probability ratio test: under "the two are
equal", d̂ is close to normal with mean 0, and with a normal mixture N(0, τ²) over the
alternatives the likelihood ratio

    Λ = √(V / (V + τ²)) · exp(τ² d̂² / (2 V (V + τ²)))

is (approximately) a non-negative martingale starting at 1, so by Ville's inequality the
chance that it *ever* reaches 1/α is at most α (Robbins; Johari et al., "Always valid
inference"). The approximations (a fitted variance, a weak prior, raters' position bias and
ties, a pair chosen by the data) are why ``tests/bench/verdicts.py`` checks the whole stopping
rule by simulation: equal models, biased raters, a look after every rating.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIXTURE_SD = 0.5
"""τ: the spread of the differences the test is tuned to detect, in natural-log strength (about 87 Elo).
Larger gaps are found fast whatever τ is; τ near the gaps that matter makes those found soonest."""


def log_mixture_evidence(difference: float, variance: float, *, tau: float = MIXTURE_SD) -> float:
    """log Λ of the module's docstring for an estimated ``difference`` with ``variance``."""
    if not variance > 0 or not math.isfinite(variance):
        return 0.0
    spread = variance + tau * tau
    return 0.5 * math.log(variance / spread) + tau * tau * difference * difference / (2.0 * variance * spread)


@dataclass(frozen=True, slots=True)
class Evidence:
    """The always-valid verdict on one pair: is the first model stronger than the second."""

    difference: float
    """The first's strength minus the second's (natural log; × 400/ln 10 for Elo points)."""
    variance: float
    evidence: float
    """The mixture likelihood ratio Λ: how many times likelier the data are if the two differ."""
    needed: float
    """The ratio at which the pair is declared apart: comparisons / α."""

    @property
    def apart(self) -> bool:
        """The first model is stronger, at the level the test was built for, however often it is looked at."""
        return self.difference > 0 and self.evidence >= self.needed

    def more_ratings(self, ratings: int) -> int | None:
        """Roughly how many more ratings until apart, if the difference stays and its variance shrinks as 1/n."""
        if self.apart:
            return 0
        if ratings <= 0 or not self.difference > 0 or not math.isfinite(self.variance):
            return None
        target = math.log(self.needed)
        total = ratings
        while total < 10_000_000:
            total = max(total + 1, int(total * 1.05))
            if log_mixture_evidence(self.difference, self.variance * ratings / total) >= target:
                return total - ratings
        return None


def pair_evidence(difference: float, variance: float, *, pairs: int = 1, alpha: float = 0.05) -> Evidence:
    """The always-valid test of one pair's ``difference``, α shared among ``pairs`` such comparisons."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha}")
    if pairs < 1:
        raise ValueError(f"pairs must be at least 1, not {pairs}")
    # Capped where a float would overflow: far past any bar the test is held to.
    ratio = math.exp(min(log_mixture_evidence(difference, variance), 700.0))
    return Evidence(difference, variance, ratio, pairs / alpha)
