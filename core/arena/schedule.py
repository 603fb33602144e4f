"""Pair schedules: which two of a session's models each item compares, and on which sides.

A session holds 2 to 16 models; an item is a prompt with a pair drawn from them. Two
schedules, chosen per session and recorded with it:

* ``round-robin`` (:func:`round_robin`): every (prompt, pair) once, precomputed when the
  session is created. Items come in rounds of one item per prompt, the pair shifting by
  one each round, so any prefix a rater gets through is balanced over pairs and prompts;
  each pair alternates which model shows on the left, so sides balance too. A two-model
  session is drawn exactly as it always was: one coin per prompt from the side seed.
* ``adaptive`` (:func:`next_draw`): a rater's next item is drawn when they need it, from
  the session's current human ratings. One Bradley–Terry fit (:func:`core.stats.bradley_terry`)
  and its Fisher information give, in closed form, how much one more comparison of each
  pair would lower the chance that the ranking has some pair of models in the wrong
  order, weighted toward the top of the ranking (:func:`pair_gains`). The pair with the
  largest gain is drawn, with a prompt this rater has not seen it on.

Pure functions: the database side (reading ratings, recording a draw) is
:mod:`core.arena.draws`. numpy and the statistics load only when a gain is computed.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.base.errors import MhbenchError
from core.stats import Battle, bradley_terry

if TYPE_CHECKING:
    from core.stats.arrays import FloatArray

SCHEDULES = ("round-robin", "adaptive")
MIN_MODELS, MAX_MODELS = 2, 16

PRIOR_TIES = 1.0
"""Virtual ties of every model with a fixed anchor: a weak prior that keeps a model that won its first
few battles from being taken as settled (a bare maximum-likelihood rating would run off towards infinity)."""
FOCUS = 0.1
"""How much less a gap counts for each place further down the ranking: the top of the ranking matters most."""
Z95 = 1.959963984540054
"""The half-width of a 95 % normal interval, in standard deviations."""
_ANCHOR = "\0anchor"
_LN10_PER_ELO = math.log(10.0) / 400.0

Pair = tuple[str, str]
"""Two models in the session's order (the first listed first): the same pair whichever side each shows on."""


@dataclass(frozen=True, slots=True)
class Draw:
    """One item's comparison: the prompt and the model shown on each side."""

    prompt_id: str
    left: str
    right: str


def check_models(models: Sequence[str]) -> None:
    if len(set(models)) != len(models):
        raise MhbenchError("a model is listed twice.", fix="list each model once.")
    if not MIN_MODELS <= len(models) <= MAX_MODELS:
        raise MhbenchError(f"a session compares {MIN_MODELS} to {MAX_MODELS} models, not {len(models)}.",
                           fix="pick between two and sixteen catalog models.")


def check_schedule(schedule: str) -> str:
    if schedule not in SCHEDULES:
        raise MhbenchError(f"unknown schedule '{schedule}'.", fix=f"use one of {', '.join(SCHEDULES)}.")
    return schedule


def pairs_of(models: Sequence[str]) -> list[Pair]:
    """Every pair of distinct models, in the session's order."""
    return list(itertools.combinations(models, 2))


def pair_key(models: Sequence[str], a: str, b: str) -> Pair:
    """The pair of ``a`` and ``b`` in the session's order."""
    return (a, b) if models.index(a) < models.index(b) else (b, a)


def capacity(models: Sequence[str], prompts: int) -> int:
    """How many distinct (prompt, pair) items a session can show one rater."""
    return prompts * len(models) * (len(models) - 1) // 2


# --- round-robin ---------------------------------------------------------------------------------


def round_robin(models: Sequence[str], prompt_ids: Sequence[str], seed: int) -> list[Draw]:
    """Every (prompt, pair) once, in balanced rounds, sides alternating per pair; deterministic given ``seed``."""
    check_models(models)
    rng = random.Random(seed)
    if len(models) == 2:
        first, second = models
        # The two-model draw of every earlier version: old sessions and their seeds mean the same.
        return [Draw(prompt, *((first, second) if rng.random() < 0.5 else (second, first))) for prompt in prompt_ids]
    pairs = pairs_of(models)
    rng.shuffle(pairs)
    flips = {pair: rng.random() < 0.5 for pair in pairs}
    shown: dict[Pair, int] = dict.fromkeys(pairs, 0)
    draws = []
    for round_number in range(len(pairs)):
        for index, prompt in enumerate(prompt_ids):
            pair = pairs[(index + round_number) % len(pairs)]
            left_first = (shown[pair] % 2 == 0) != flips[pair]
            shown[pair] += 1
            draws.append(Draw(prompt, *(pair if left_first else pair[::-1])))
    return draws


# --- adaptive ------------------------------------------------------------------------------------


def pair_gains(models: Sequence[str], battles: Sequence[Battle], *, pending: Sequence[tuple[str, str]] = (),
               focus: float = FOCUS) -> dict[Pair, float]:
    """For each pair, how much one more comparison of it shrinks the overlap of the leaderboard's intervals.

    θ is the Bradley–Terry fit of ``battles`` (plus :data:`PRIOR_TIES` virtual ties of each
    model with a fixed anchor) and Σ the inverse of its Fisher information, so a model's
    rating, centred as the leaderboard shows it, has sd s_i = √(u_iᵀΣu_i), u_i = e_i − 1/K,
    and its 95 % interval is θ_i ± 1.96 s_i. Two models are told apart when their intervals
    no longer overlap; the overlap of i above j is O_ij = 1.96 (s_i + s_j) − (θ_i − θ_j).
    One more comparison of (a, b), worth w = p(1 − p) of information, lowers var(u_i) by
    w (u_iᵀΣv)² / (1 + w vᵀΣv) (Sherman–Morrison, v = e_a − e_b), so s_i by that over 2 s_i.
    The gain of (a, b) is the total shrinkage of the overlaps, each overlap weighted by
    Φ(O_ij / (s_i + s_j)) (about 1 while the intervals overlap, about 0 once they are clear)
    times ``focus`` ** (the better place of i and j in the ranking): the leader's overlaps
    count most, and once they are clear the next places take over; models level in rating
    share a place. ``pending`` comparisons (drawn, not rated yet) count as information
    already on its way, so raters drawing at once spread over the pairs. Closed form from
    one fit: no bootstrap per choice.
    """
    import numpy as np


    size = len(models)
    index = {model: i for i, model in enumerate(models)}
    left, right, own = [], [], []
    for battle in battles:
        a, b = index.get(battle.model_a), index.get(battle.model_b)
        if a is not None and b is not None and a != b:
            left.append(a)
            right.append(b)
            own.append(battle)
    prior = [Battle(model, _ANCHOR, "tie") for model in models] * max(1, round(PRIOR_TIES))
    ratings = bradley_terry(own + prior)
    theta = np.array([(ratings[model] - ratings[_ANCHOR]) * _LN10_PER_ELO for model in models])
    for a_model, b_model in pending:
        a, b = index.get(a_model), index.get(b_model)
        if a is not None and b is not None and a != b:
            left.append(a)
            right.append(b)
    met = np.zeros((size, size))
    np.add.at(met, (np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)), 1.0)
    met += met.T
    p = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))
    weights = met * p * (1.0 - p)
    fisher = np.diag(weights.sum(axis=1)) - weights
    p_anchor = 1.0 / (1.0 + np.exp(-theta))
    fisher[np.diag_indices(size)] += PRIOR_TIES * p_anchor * (1.0 - p_anchor)
    cov = np.linalg.inv(fisher)
    centred = cov - cov.mean(axis=0, keepdims=True)  # row i: Σ u_i
    sd = np.sqrt(np.maximum(np.diag(centred) - centred.mean(axis=1), 1e-12))  # u_iᵀΣu_i = (Σu_i)_i − mean(Σu_i)
    first, second = (np.array(column, dtype=np.int64) for column in zip(*itertools.combinations(range(size), 2),
                                                                        strict=True))
    place = (theta[None, :] > theta[:, None] + 1e-9).sum(axis=1)  # how many models are clearly above
    spread = sd[first] + sd[second]
    overlap = Z95 * spread - np.abs(theta[first] - theta[second])
    weight = focus ** np.minimum(place[first], place[second]) * _normal_cdf(overlap / spread)
    per_model = np.zeros(size)
    np.add.at(per_model, first, weight)
    np.add.at(per_model, second, weight)
    cross = centred[:, first] - centred[:, second]  # cross[i, v] = u_iᵀ Σ v
    variance = cov[first, first] + cov[second, second] - 2.0 * cov[first, second]  # vᵀ Σ v
    information = p[first, second] * (1.0 - p[first, second])
    shrink = information * ((cross * cross).T @ (per_model / (2.0 * sd))) / (1.0 + information * variance)
    return {pair: float(gain) for pair, gain in zip(pairs_of(models), shrink, strict=True)}


def _normal_cdf(x: FloatArray) -> FloatArray:
    import numpy as np

    result: FloatArray = 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))
    return result


def next_draw(
    models: Sequence[str],
    prompt_ids: Sequence[str],
    battles: Sequence[Battle],
    *,
    seen: Collection[tuple[str, Pair]],
    left_counts: Mapping[tuple[str, str], int],
    seed: int,
    pending: Sequence[tuple[str, str]] = (),
    focus: float = FOCUS,
) -> Draw | None:
    """The adaptive schedule's next item for one rater; ``None`` when they have seen every (prompt, pair).

    ``battles`` are the session's current human ratings, ``seen`` the (prompt, pair) this
    rater was already drawn, ``left_counts`` how often each (left, right) was drawn in the
    session, ``pending`` the (left, right) of items drawn and not rated yet. The pair with
    the largest :func:`pair_gains` that this rater has a fresh
    prompt for wins (ties: the pair compared least, then ``seed``); the prompt is the one
    this rater has seen least; the model shown on the left is the one this pair has shown
    there less, so sides stay balanced and a position bias cancels. Deterministic given ``seed``.
    """
    check_models(models)
    rng = random.Random(seed)
    gains = pair_gains(models, battles, pending=pending, focus=focus)
    compared: dict[Pair, int] = dict.fromkeys(gains, 0)
    for (a, b), count in left_counts.items():
        if a in models and b in models and a != b:
            compared[pair_key(models, a, b)] += count
    seen_prompts: dict[str, int] = {prompt: 0 for prompt in prompt_ids}
    for prompt, _ in seen:
        if prompt in seen_prompts:
            seen_prompts[prompt] += 1
    seen_set = set(seen)
    order = sorted(gains, key=lambda pair: (-round(gains[pair], 12), compared[pair], rng.random()))
    for pair in order:
        fresh = [prompt for prompt in prompt_ids if (prompt, pair) not in seen_set]
        if not fresh:
            continue
        prompt = min(fresh, key=lambda name: (seen_prompts[name], rng.random()))
        first, second = pair
        on_left, on_right = left_counts.get((first, second), 0), left_counts.get((second, first), 0)
        left_first = on_left < on_right or (on_left == on_right and rng.random() < 0.5)
        return Draw(prompt, *(pair if left_first else pair[::-1]))
    return None
