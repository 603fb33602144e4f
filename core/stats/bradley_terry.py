"""Bradley–Terry ratings on the Elo scale, as Chatbot Arena reports them, with percentile bootstrap intervals.

The bootstrap must stay interactive (1,000 rounds over 10,000 battles well under a
second), so battles are aggregated into win-count matrices and all rounds are fitted at
once by a batched, damped Newton method. Pure functions, deterministic given ``seed``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.stats.arrays import FloatArray, IntArray
from core.stats.battles import Battle, check_winner
from core.stats.bootstrap import check_bootstrap, percentile_interval

# L2 penalty on the natural-log strengths. Chatbot Arena fits with sklearn's
# LogisticRegression(C=1e6), i.e. the same 1e-6: too small to move any rating that
# the data determine, large enough that a model that won (or lost) every battle gets
# a finite, if very large, rating instead of running off to infinity.
PENALTY = 1e-6

LEADERBOARD_PENALTY = 0.25
"""The weak prior the leaderboard and its stopping rule fit with: a normal prior of standard deviation 2
on the natural-log strengths (about ±350 Elo). It moves no rating that a few dozen battles determine,
but five wins out of five no longer make a 2,000-point gap."""


@dataclass(frozen=True, slots=True)
class RatingCI:
    """A rating with the bounds of its bootstrap percentile interval."""

    rating: float
    low: float
    high: float


def bradley_terry(
    battles: Sequence[Battle],
    *,
    scale: float = 400.0,
    base: float = 10.0,
    initial: float = 1000.0,
    penalty: float = PENALTY,
) -> dict[str, float]:
    """Maximum-likelihood Bradley–Terry ratings on the Elo scale.

    The model is P(a beats b) = 1 / (1 + base ** ((R_b - R_a) / scale)). Both kinds of
    tie count as half a win for each side. Ratings are identifiable only up to a
    constant, so they are shifted to average ``initial``. A tiny L2 penalty
    (:data:`PENALTY` on the natural-log strengths) keeps a model that won or lost
    everything finite; it is very large then, which is the honest answer of a
    maximum-likelihood fit to such data. Battles of a model against itself carry no
    information and are ignored.

    Keys are the models in order of first appearance; an empty input gives ``{}``.
    """
    _check_scale(scale, base)
    names, cells, counts, _units = _battle_cells(battles)
    if not names:
        return {}
    wins = (counts.astype(np.float64) @ _cell_contributions(cells, len(names))).reshape(1, len(names), len(names))
    ratings = _to_elo(_fit_log_strengths(wins, penalty=penalty), scale=scale, base=base, initial=initial)[0]
    return {name: float(rating) for name, rating in zip(names, ratings, strict=True)}


def bootstrap_bradley_terry(
    battles: Sequence[Battle],
    *,
    rounds: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    scale: float = 400.0,
    base: float = 10.0,
    initial: float = 1000.0,
    penalty: float = PENALTY,
) -> dict[str, RatingCI]:
    """:func:`bradley_terry` ratings with percentile bootstrap intervals.

    The point estimate is the fit to all battles; the interval holds the central
    ``level`` of the ratings fitted to ``rounds`` resamples of the battles with
    replacement. A resample is drawn as multinomial counts over the distinct
    (winner, loser, tie) cells, which is the same distribution as resampling the
    battles one by one but costs O(cells) instead of O(battles) per round; all
    rounds are then fitted together. A model absent from a resample gets the mean
    rating in that round. Deterministic given ``seed``.

    Battles that name a :attr:`~core.stats.Battle.unit` are resampled by unit: two raters
    judging the same stored comparison are one piece of evidence seen twice, not two.

    Where the percentile interval collapses (a model that won every battle wins every
    resample too, and the resamples all agree), the interval is widened to at least the
    normal approximation of the penalised fit (its inverse Hessian): the width the data
    cannot narrow stays visible. ``penalty`` is :data:`PENALTY` unless given, e.g.
    :data:`LEADERBOARD_PENALTY`.
    """
    _check_scale(scale, base)
    check_bootstrap(rounds, level)
    names, cells, counts, unit_counts = _battle_cells(battles, by_unit=True)
    if not names:
        return {}
    size = len(names)
    contributions = _cell_contributions(cells, size)
    total = int(counts.sum())
    if total == 0:  # only self-battles: nothing to resample, every rating is the mean
        return {name: RatingCI(rating=initial, low=initial, high=initial) for name in names}
    rng = np.random.default_rng(seed)
    units = unit_counts.shape[0]
    if units == total:
        # Every battle its own unit: a resample is multinomial counts per cell, one row per round.
        drawn = rng.multinomial(total, counts / total, size=rounds).astype(np.float64)
    else:
        # Resample the units, then add up the cells of the units drawn.
        drawn = rng.multinomial(units, np.full(units, 1.0 / units), size=rounds).astype(np.float64) @ unit_counts
    # Row 0 is the data itself, so the point estimate is fitted in the same batch.
    every = np.concatenate((counts[None, :].astype(np.float64), drawn))
    wins = (every @ contributions).reshape(-1, size, size)
    strengths = _fit_log_strengths(wins, penalty=penalty)
    ratings = _to_elo(strengths, scale=scale, base=base, initial=initial)
    low, high = percentile_interval(ratings[1:], level)
    half = _normal_half_widths(wins[0], strengths[0], penalty, level) * (scale / math.log(base))
    low = np.minimum(low, ratings[0] - half)
    high = np.maximum(high, ratings[0] + half)
    return {
        name: RatingCI(rating=float(ratings[0, i]), low=float(low[i]), high=float(high[i]))
        for i, name in enumerate(names)
    }


@dataclass(frozen=True)
class StrengthFit:
    """One penalised fit: natural-log strengths (centred) and their covariance from the penalised Hessian."""

    names: tuple[str, ...]
    strengths: FloatArray
    covariance: FloatArray
    """Of the centred strengths; infinite where the Hessian could not be inverted."""

    def difference(self, first: str, second: str) -> tuple[float, float]:
        """``first``'s strength minus ``second``'s (natural log) and the variance of that difference."""
        i, j = self.names.index(first), self.names.index(second)
        c = self.covariance
        return float(self.strengths[i] - self.strengths[j]), float(c[i, i] + c[j, j] - 2.0 * c[i, j])


def fit_strengths(battles: Sequence[Battle], *, penalty: float = PENALTY) -> StrengthFit:
    """The penalised maximum-likelihood strengths of ``battles`` with their normal-approximation covariance."""
    names, cells, counts, _units = _battle_cells(battles)
    size = len(names)
    if not size:
        return StrengthFit((), np.zeros(0), np.zeros((0, 0)))
    wins = (counts.astype(np.float64) @ _cell_contributions(cells, size)).reshape(size, size) if len(counts) \
        else np.zeros((size, size))
    theta = _fit_log_strengths(wins[None], penalty=penalty)[0]
    theta = theta - theta.mean()
    return StrengthFit(tuple(names), theta, _covariance(wins, theta, penalty))


def _covariance(wins: FloatArray, theta: FloatArray, penalty: float) -> FloatArray:
    """The covariance of the centred log strengths of one penalised fit: the inverse of its Hessian."""
    diff = theta[:, None] - theta[None, :]
    p = 0.5 * (1.0 + np.tanh(0.5 * diff))
    curvature = (wins + wins.T) * p * (1.0 - p)
    hessian = -curvature
    diagonal = np.arange(theta.shape[0])
    hessian[diagonal, diagonal] += curvature.sum(axis=1) + penalty
    size = theta.shape[0]
    centring = np.eye(size) - 1.0 / size
    try:
        covariance: FloatArray = centring @ np.linalg.inv(hessian) @ centring
    except np.linalg.LinAlgError:
        return np.full((size, size), math.inf)
    return covariance


def _normal_half_widths(wins: FloatArray, theta: FloatArray, penalty: float, level: float) -> FloatArray:
    """Half-widths of the normal-approximation interval of the centred log strengths of one penalised fit."""
    z = statistics.NormalDist().inv_cdf(0.5 + level / 2.0)
    widths: FloatArray = z * np.sqrt(np.clip(np.diag(_covariance(wins, theta, penalty)), 0.0, None))
    return widths


def _check_scale(scale: float, base: float) -> None:
    if not scale > 0.0:
        raise ValueError(f"scale must be positive, not {scale}")
    if not base > 1.0:
        raise ValueError(f"base must be greater than 1, not {base}")


def _battle_cells(battles: Sequence[Battle], *, by_unit: bool = False) -> tuple[list[str], IntArray, IntArray, FloatArray]:
    """Models in order of first appearance, the distinct outcome cells, how many battles fell in each,
    and (with ``by_unit``) the cell counts of each independent unit (units × cells).

    A cell is (first, second, tie): ``first`` beat ``second`` when ``tie`` is 0; when it
    is 1 they tied, and first < second so a tie is one cell whichever side it was on.
    Battles with the same effect on the win matrix share a cell, which keeps the
    bootstrap's multinomial small (at most 1.5 K (K - 1) cells for K models).
    """
    index: dict[str, int] = {}
    codes: list[int] = []
    unit_of: list[int] = []
    units: dict[str, int] = {}
    for position, battle in enumerate(battles):
        check_winner(battle)
        a = index.setdefault(battle.model_a, len(index))
        b = index.setdefault(battle.model_b, len(index))
        if a == b:
            continue
        if battle.winner == "model_a":
            codes.append(_code(a, b, 0))
        elif battle.winner == "model_b":
            codes.append(_code(b, a, 0))
        else:
            codes.append(_code(min(a, b), max(a, b), 1))
        if by_unit:
            key = battle.unit if battle.unit is not None else f"\0{position}"
            unit_of.append(units.setdefault(key, len(units)))
    names = list(index)
    if not codes:
        return (names, np.zeros((0, 3), dtype=np.int64), np.zeros(0, dtype=np.int64),
                np.zeros((0, 0), dtype=np.float64))
    unique, inverse, counts = np.unique(np.asarray(codes, dtype=np.int64), return_inverse=True, return_counts=True)
    cells = np.stack((unique >> 33, (unique >> 1) & 0xFFFFFFFF, unique & 1), axis=1)
    unit_counts = np.zeros((len(units), len(unique)), dtype=np.float64)
    if by_unit:
        np.add.at(unit_counts, (np.asarray(unit_of), inverse.reshape(-1)), 1.0)
    return names, cells.astype(np.int64), counts.astype(np.int64), unit_counts


def _code(first: int, second: int, tie: int) -> int:
    return (first << 33) | (second << 1) | tie


def _cell_contributions(cells: IntArray, size: int) -> FloatArray:
    """Matrix mapping cell counts to a flattened win matrix: W[i, j] = wins of i over j, ties half each."""
    contributions = np.zeros((len(cells), size * size), dtype=np.float64)
    rows = np.arange(len(cells))
    first, second, tie = cells[:, 0], cells[:, 1], cells[:, 2].astype(bool)
    contributions[rows[~tie], first[~tie] * size + second[~tie]] = 1.0
    contributions[rows[tie], first[tie] * size + second[tie]] = 0.5
    contributions[rows[tie], second[tie] * size + first[tie]] = 0.5
    return contributions


def _to_elo(log_strengths: FloatArray, *, scale: float, base: float, initial: float) -> FloatArray:
    centred = log_strengths - log_strengths.mean(axis=1, keepdims=True)
    ratings: FloatArray = initial + centred * (scale / math.log(base))
    return ratings


def _fit_log_strengths(
    wins: FloatArray,
    *,
    penalty: float = PENALTY,
    tol: float = 1e-10,
    max_iter: int = 500,
) -> FloatArray:
    """Fit every win matrix in the batch ``wins`` (B, K, K); returns natural-log strengths (B, K).

    Minimises, per matrix, f(θ) = -Σ W_ij log σ(θ_i - θ_j) + penalty/2 |θ|² + 1/2 (Σ θ)².
    The last term does not move the optimum (the penalised optimum already has
    Σ θ = 0, because the likelihood is shift-invariant) but makes the Hessian well
    conditioned along the shift direction the likelihood cannot see. f is strictly
    convex, so Newton's method with Armijo backtracking converges from θ = 0;
    matrices leave the batch as soon as their Newton step falls under ``tol``.
    """
    batch, size = wins.shape[0], wins.shape[1]
    theta = np.zeros((batch, size), dtype=np.float64)
    active = np.arange(batch)
    won = wins.sum(axis=2)
    for _ in range(max_iter):
        if active.size == 0:
            break
        w, th = wins[active], theta[active]
        value, grad, hess = _newton_terms(w, won[active], th, penalty)
        step = -np.linalg.solve(hess, grad[..., None])[..., 0]
        converged = np.abs(step).max(axis=1) < tol
        slope = np.einsum("bi,bi->b", grad, step)
        # Rounding noise of f near the optimum; without it a tiny exact step could be refused.
        slack = 1e-12 * (1.0 + np.abs(value))
        t = np.ones(len(active))
        for _halving in range(60):
            trial = _objective(w, th + t[:, None] * step, penalty)
            accepted = trial <= value + 1e-4 * t * slope + slack
            if accepted.all():
                break
            t = np.where(accepted, t, 0.5 * t)
        theta[active] = th + t[:, None] * step
        active = active[~converged]
    return theta


def _objective(wins: FloatArray, theta: FloatArray, penalty: float) -> FloatArray:
    diff = theta[:, :, None] - theta[:, None, :]
    # -log σ(x) = log(1 + e^-x), computed without overflow.
    loss = np.einsum("bij,bij->b", wins, np.logaddexp(0.0, -diff))
    total = theta.sum(axis=1)
    result: FloatArray = loss + 0.5 * penalty * np.einsum("bi,bi->b", theta, theta) + 0.5 * total * total
    return result


def _newton_terms(
    wins: FloatArray, won: FloatArray, theta: FloatArray, penalty: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Value, gradient (B, K) and Hessian (B, K, K) of the objective of :func:`_fit_log_strengths`."""
    diff = theta[:, :, None] - theta[:, None, :]
    p = 0.5 * (1.0 + np.tanh(0.5 * diff))  # σ(diff) without overflow
    met = wins + wins.transpose(0, 2, 1)
    total = theta.sum(axis=1)
    value = (
        np.einsum("bij,bij->b", wins, np.logaddexp(0.0, -diff))
        + 0.5 * penalty * np.einsum("bi,bi->b", theta, theta)
        + 0.5 * total * total
    )
    grad = (met * p).sum(axis=2) - won + penalty * theta + total[:, None]
    curvature = met * p * (1.0 - p)
    hess = 1.0 - curvature  # the 1 is the Hessian of the shift term 1/2 (Σ θ)²
    diagonal = np.arange(theta.shape[1])
    hess[:, diagonal, diagonal] += curvature.sum(axis=2) + penalty
    return value, grad, hess
