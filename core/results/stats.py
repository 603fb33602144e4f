"""Statistics for the arena's Results mode: ratings, confidence intervals, agreement and text overlap.

Everything here is a pure function of its arguments: no I/O, no clock, no global
random state (every bootstrap takes a ``seed`` and builds its own numpy Generator,
so the same battles always give the same intervals on screen).

* :func:`bradley_terry` and :func:`bootstrap_bradley_terry`: Elo-scale ratings as
  Chatbot Arena reports them, with percentile bootstrap intervals. The bootstrap
  must stay interactive (1,000 rounds over 10,000 battles well under a second), so
  battles are aggregated into win-count matrices and all rounds are fitted at once
  by a batched, damped Newton method.
* :func:`win_matrix` and :func:`position_bias`: the raw counts behind the ratings,
  and whether raters favour the answer shown on the left.
* :func:`mean_ci`: a percentile bootstrap interval for a mean (e.g. rubric scores).
* :func:`krippendorff_alpha`: inter-rater agreement, coincidence-matrix formulation.
* :func:`bleu4` and :func:`rouge_l`: overlap with a reference answer on jieba words.

numpy is imported at module top; scipy is not needed, and jieba is imported only
inside the text metrics, so importing ``core`` stays light.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "Battle",
    "MeanCI",
    "PositionBias",
    "RatingCI",
    "WinTieLoss",
    "Winner",
    "bleu4",
    "bootstrap_bradley_terry",
    "bradley_terry",
    "krippendorff_alpha",
    "mean_ci",
    "position_bias",
    "rouge_l",
    "win_matrix",
]

Winner = Literal["model_a", "model_b", "tie", "tie (bothbad)"]
Level = Literal["nominal", "ordinal", "interval"]

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]

# L2 penalty on the natural-log strengths. Chatbot Arena fits with sklearn's
# LogisticRegression(C=1e6), i.e. the same 1e-6: too small to move any rating that
# the data determine, large enough that a model that won (or lost) every battle gets
# a finite, if very large, rating instead of running off to infinity.
PENALTY = 1e-6

_WINNERS: frozenset[str] = frozenset(("model_a", "model_b", "tie", "tie (bothbad)"))
_TIES: frozenset[str] = frozenset(("tie", "tie (bothbad)"))

# Resampled indices held in memory at once by mean_ci (int64: 8 MiB, and as much again
# for the values they pick); larger chunks measured no faster.
_MEAN_CI_CHUNK = 1_000_000


@dataclass(frozen=True, slots=True)
class Battle:
    """One blind A/B judgement. ``model_a`` was shown on the left, ``model_b`` on the right."""

    model_a: str
    model_b: str
    winner: Winner


@dataclass(frozen=True, slots=True)
class RatingCI:
    """A rating with the bounds of its bootstrap percentile interval."""

    rating: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class MeanCI:
    """A sample mean with its bootstrap percentile interval; ``n`` values went in."""

    mean: float
    low: float
    high: float
    n: int


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


# --------------------------------------------------------------------------- Bradley–Terry


def bradley_terry(
    battles: Sequence[Battle],
    *,
    scale: float = 400.0,
    base: float = 10.0,
    initial: float = 1000.0,
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
    names, cells, counts = _battle_cells(battles)
    if not names:
        return {}
    wins = (counts.astype(np.float64) @ _cell_contributions(cells, len(names))).reshape(1, len(names), len(names))
    ratings = _to_elo(_fit_log_strengths(wins), scale=scale, base=base, initial=initial)[0]
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
) -> dict[str, RatingCI]:
    """:func:`bradley_terry` ratings with percentile bootstrap intervals.

    The point estimate is the fit to all battles; the interval holds the central
    ``level`` of the ratings fitted to ``rounds`` resamples of the battles with
    replacement. A resample is drawn as multinomial counts over the distinct
    (winner, loser, tie) cells, which is the same distribution as resampling the
    battles one by one but costs O(cells) instead of O(battles) per round; all
    rounds are then fitted together. A model absent from a resample gets the mean
    rating in that round. Deterministic given ``seed``.
    """
    _check_scale(scale, base)
    _check_bootstrap(rounds, level)
    names, cells, counts = _battle_cells(battles)
    if not names:
        return {}
    size = len(names)
    contributions = _cell_contributions(cells, size)
    total = int(counts.sum())
    if total == 0:  # only self-battles: nothing to resample, every rating is the mean
        return {name: RatingCI(rating=initial, low=initial, high=initial) for name in names}
    rng = np.random.default_rng(seed)
    # A resample of the battles, as counts per cell: one row per round.
    drawn = rng.multinomial(total, counts / total, size=rounds)
    # Row 0 is the data itself, so the point estimate is fitted in the same batch.
    every = np.concatenate((counts[None, :], drawn)).astype(np.float64)
    wins = every @ contributions
    ratings = _to_elo(_fit_log_strengths(wins.reshape(-1, size, size)), scale=scale, base=base, initial=initial)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(ratings[1:], [tail, 1.0 - tail], axis=0)
    return {
        name: RatingCI(rating=float(ratings[0, i]), low=float(low[i]), high=float(high[i]))
        for i, name in enumerate(names)
    }


def _check_scale(scale: float, base: float) -> None:
    if not scale > 0.0:
        raise ValueError(f"scale must be positive, not {scale}")
    if not base > 1.0:
        raise ValueError(f"base must be greater than 1, not {base}")


def _check_bootstrap(rounds: int, level: float) -> None:
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, not {rounds}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1, not {level}")


def _check_winner(battle: Battle) -> None:
    if battle.winner not in _WINNERS:
        raise ValueError(f"unknown winner {battle.winner!r}; expected one of {sorted(_WINNERS)}")


def _battle_cells(battles: Sequence[Battle]) -> tuple[list[str], IntArray, IntArray]:
    """Models in order of first appearance, the distinct outcome cells and how many battles fell in each.

    A cell is (first, second, tie): ``first`` beat ``second`` when ``tie`` is 0; when it
    is 1 they tied, and first < second so a tie is one cell whichever side it was on.
    Battles with the same effect on the win matrix share a cell, which keeps the
    bootstrap's multinomial small (at most 1.5 K (K - 1) cells for K models).
    """
    index: dict[str, int] = {}
    codes: list[int] = []
    for battle in battles:
        _check_winner(battle)
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
    names = list(index)
    if not codes:
        return names, np.zeros((0, 3), dtype=np.int64), np.zeros(0, dtype=np.int64)
    unique, counts = np.unique(np.asarray(codes, dtype=np.int64), return_counts=True)
    cells = np.stack((unique >> 33, (unique >> 1) & 0xFFFFFFFF, unique & 1), axis=1)
    return names, cells.astype(np.int64), counts.astype(np.int64)


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


# --------------------------------------------------------------------------- counts


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
        _check_winner(battle)
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
    _check_bootstrap(rounds, level)
    left_wins = decided = 0
    for battle in battles:
        _check_winner(battle)
        if battle.winner in _TIES:
            continue
        decided += 1
        left_wins += battle.winner == "model_a"
    if decided == 0:
        return PositionBias(left_wins=0, decided=0, rate=math.nan, low=math.nan, high=math.nan)
    rate = left_wins / decided
    rng = np.random.default_rng(seed)
    shares = rng.binomial(decided, rate, size=rounds) / decided
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(shares, [tail, 1.0 - tail])
    return PositionBias(left_wins=left_wins, decided=decided, rate=rate, low=float(low), high=float(high))


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
    _check_bootstrap(rounds, level)
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
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return MeanCI(mean=mean, low=float(low), high=float(high), n=n)


# --------------------------------------------------------------------------- agreement


def krippendorff_alpha(
    reliability: Sequence[Sequence[float | None]],
    *,
    level: Level = "ordinal",
) -> float:
    """Krippendorff's α for ``reliability[rater][unit]``; None or NaN marks a missing value.

    Coincidence-matrix formulation (Krippendorff 2011, "Computing Krippendorff's
    Alpha-Reliability"): α = 1 - (n - 1) Σ o_ck δ²_ck / Σ n_c n_k δ²_ck, where o is the
    coincidence matrix of the values paired within units, n_c its margins and n the
    number of pairable values. Units with fewer than two values cannot be paired and
    are dropped. The ordinal δ² uses the margins n_c, as in the paper. Returns NaN
    when α is undefined: fewer than two pairable values, or no variation at all.
    """
    if level not in ("nominal", "ordinal", "interval"):
        raise ValueError(f"unknown level {level!r}; expected nominal, ordinal or interval")
    rows = [list(row) for row in reliability]
    if not rows:
        return math.nan
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise ValueError("every rater's row must have one entry per unit")
    data = np.array([[math.nan if v is None else float(v) for v in row] for row in rows], dtype=np.float64)
    present = ~np.isnan(data)
    pairable = present.sum(axis=0)
    keep = pairable >= 2
    if not keep.any():
        return math.nan
    data, present, pairable = data[:, keep], present[:, keep], pairable[keep]
    domain, codes = np.unique(data[present], return_inverse=True)
    units = np.nonzero(present)[1]  # row-major, the same order as data[present]
    counts = np.zeros((data.shape[1], len(domain)), dtype=np.float64)
    np.add.at(counts, (units, codes.reshape(-1)), 1.0)
    # o_ck = Σ_u (n_uc n_uk - [c = k] n_uc) / (m_u - 1): ordered pairs of values from different raters.
    weights = 1.0 / (pairable - 1.0)
    coincidences = (counts * weights[:, None]).T @ counts - np.diag(weights @ counts)
    margins = coincidences.sum(axis=1)
    n = float(margins.sum())
    if n < 2.0:
        return math.nan
    delta2 = _distances(domain, margins, level)
    expected = float((np.outer(margins, margins) * delta2).sum())
    if expected <= 0.0:
        return math.nan
    observed = float((coincidences * delta2).sum())
    return 1.0 - (n - 1.0) * observed / expected


def _distances(domain: FloatArray, margins: FloatArray, level: Level) -> FloatArray:
    """Squared distances δ²_ck between the values of the sorted ``domain``."""
    if level == "nominal":
        return 1.0 - np.eye(len(domain))
    if level == "interval":
        result: FloatArray = (domain[:, None] - domain[None, :]) ** 2
        return result
    # Ordinal: δ_ck = Σ_{g=c..k} n_g - (n_c + n_k) / 2 for c <= k.
    cumulative = np.concatenate(([0.0], np.cumsum(margins)))
    index = np.arange(len(domain))
    low, high = np.minimum.outer(index, index), np.maximum.outer(index, index)
    between = cumulative[high + 1] - cumulative[low]
    ordinal: FloatArray = (between - (margins[:, None] + margins[None, :]) / 2.0) ** 2
    return ordinal


# --------------------------------------------------------------------------- text overlap


def bleu4(candidate: str, reference: str) -> float:
    """Sentence-level BLEU-4 of ``candidate`` against one ``reference``, on jieba words.

    Geometric mean of the clipped 1- to 4-gram precisions times the brevity penalty.
    A precision with no match is smoothed to 0.1 / (candidate n-grams) (Chen & Cherry
    2014, method 1, as NLTK does), so a short, partly right answer does not score 0
    just for lacking a matching 4-gram; a candidate with no matching word at all, or
    an empty one, scores 0. An exact copy scores 1 when it has at least four words.
    """
    cand, ref = _words(candidate), _words(reference)
    if not cand or not ref:
        return 0.0
    log_sum = 0.0
    for order in range(1, 5):
        cand_grams = _ngrams(cand, order)
        ref_grams = _ngrams(ref, order)
        matches = sum(min(count, ref_grams[gram]) for gram, count in cand_grams.items())
        if order == 1 and matches == 0:
            return 0.0
        possible = max(1, len(cand) - order + 1)
        log_sum += math.log((matches if matches else 0.1) / possible)
    brevity = 1.0 if len(cand) > len(ref) else math.exp(1.0 - len(ref) / len(cand))
    return min(1.0, brevity * math.exp(log_sum / 4.0))


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 (β = 1) of ``candidate`` against ``reference``, on jieba words.

    F = 2 P R / (P + R) with P = LCS / |candidate| and R = LCS / |reference|, LCS being
    the longest common subsequence of words. Empty text on either side scores 0.
    """
    cand, ref = _words(candidate), _words(reference)
    if not cand or not ref:
        return 0.0
    common = _lcs_length(cand, ref)
    if common == 0:
        return 0.0
    precision, recall = common / len(cand), common / len(ref)
    return 2.0 * precision * recall / (precision + recall)


def _words(text: str) -> list[str]:
    """jieba words of ``text``, whitespace-only tokens dropped. jieba's start-up chatter is silenced."""
    import jieba  # imported here so that importing core never loads jieba's dictionary

    jieba.setLogLevel(logging.WARNING)
    return [word for word in jieba.lcut(text) if word.strip()]


def _ngrams(words: list[str], order: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(words[i : i + order]) for i in range(len(words) - order + 1))


def _lcs_length(first: Sequence[str], second: Sequence[str]) -> int:
    """Length of the longest common subsequence, bit-parallel (Hyyrö 2004): O(|second| · |first| / 64).

    Bit i of ``row`` is 1 while position i of ``first`` is still free; each word of
    ``second`` clears at most one more bit per match chain, and the LCS is the number
    of cleared bits. Python's big integers carry the whole row in one value.
    """
    positions: dict[str, int] = {}
    for i, word in enumerate(first):
        positions[word] = positions.get(word, 0) | (1 << i)
    full = (1 << len(first)) - 1
    row = full
    for word in second:
        matches = row & positions.get(word, 0)
        row = ((row + matches) | (row - matches)) & full
    return len(first) - row.bit_count()
