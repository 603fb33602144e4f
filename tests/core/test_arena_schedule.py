"""Pair schedules without a terminal or a database: round-robin balance, adaptive choices, at most once per rater."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from core.arena.schedule import (
    Draw,
    capacity,
    check_models,
    next_draw,
    pair_gains,
    pair_key,
    pairs_of,
    round_robin,
)
from core.base.errors import MhbenchError
from core.stats import Battle, RatingCI, separated, separation

MODELS = ["a", "b", "c", "d"]
PROMPTS = [f"p{i}" for i in range(7)]


def test_round_robin_shows_every_prompt_with_every_pair_once_with_balanced_sides() -> None:
    draws = round_robin(MODELS, PROMPTS, seed=5)
    assert len(draws) == capacity(MODELS, len(PROMPTS)) == 6 * 7
    keys = [(d.prompt_id, pair_key(MODELS, d.left, d.right)) for d in draws]
    assert len(set(keys)) == len(keys)  # every (prompt, pair) once
    assert Counter(pair for _, pair in keys) == dict.fromkeys(pairs_of(MODELS), 7)
    assert Counter(d.prompt_id for d in draws) == dict.fromkeys(PROMPTS, 6)
    for pair in pairs_of(MODELS):
        lefts = Counter(d.left for d in draws if pair_key(MODELS, d.left, d.right) == pair)
        assert abs(lefts[pair[0]] - lefts[pair[1]]) <= 1, pair
    # Every round is one item per prompt, and any prefix of rounds keeps the pairs within one of each other.
    for rounds in range(1, 7):
        prefix = draws[: rounds * len(PROMPTS)]
        assert Counter(d.prompt_id for d in prefix) == dict.fromkeys(PROMPTS, rounds)
        counts = Counter(pair_key(MODELS, d.left, d.right) for d in prefix)
        assert max(counts.values()) - min(counts.get(pair, 0) for pair in pairs_of(MODELS)) <= 2
    lefts = Counter(d.left for d in draws)
    assert all(abs(lefts[m] - 21 / 2 * 2 / 2) <= 3 for m in MODELS)  # each model is on the left about half its items
    assert round_robin(MODELS, PROMPTS, seed=5) == draws and round_robin(MODELS, PROMPTS, seed=6) != draws


def test_a_two_model_round_robin_is_drawn_exactly_as_before() -> None:
    # The two-model draw of every earlier version: one coin per prompt from the side seed.
    coins = random.Random(7)
    before = [Draw(p, *(("x", "y") if coins.random() < 0.5 else ("y", "x"))) for p in PROMPTS]
    assert round_robin(["x", "y"], PROMPTS, seed=7) == before


def test_a_session_has_two_to_sixteen_distinct_models() -> None:
    with pytest.raises(MhbenchError, match="2 to 16"):
        check_models(["a"])
    with pytest.raises(MhbenchError, match="2 to 16"):
        check_models([f"m{i}" for i in range(17)])
    with pytest.raises(MhbenchError, match="twice"):
        check_models(["a", "b", "a"])


def _battles(wins: dict[tuple[str, str], int]) -> list[Battle]:
    """``wins[(x, y)]`` battles that x won against y, sides alternating."""
    battles = []
    for (winner, loser), count in wins.items():
        for n in range(count):
            battles.append(Battle(winner, loser, "model_a") if n % 2 else Battle(loser, winner, "model_b"))
    return battles


def _best(gains: dict[tuple[str, str], float]) -> tuple[str, str]:
    return max(gains, key=lambda pair: gains[pair])


def test_adaptive_compares_the_leaders_while_they_are_close() -> None:
    # a and b are close at the top, both well clear of c and d, which are measured well.
    battles = _battles({("a", "b"): 6, ("b", "a"): 5, ("a", "c"): 18, ("c", "a"): 2, ("b", "c"): 17, ("c", "b"): 3,
                        ("a", "d"): 19, ("d", "a"): 1, ("b", "d"): 18, ("d", "b"): 2, ("c", "d"): 10, ("d", "c"): 10})
    gains = pair_gains(MODELS, battles)
    assert _best(gains) == ("a", "b")
    assert gains["a", "b"] > 2 * gains["c", "d"]  # the bottom pair, settled or not, matters less than the top


def test_adaptive_measures_an_untested_challenger_of_the_leader() -> None:
    # a beat b and c clearly; d has never played: it could be the best, so it is measured first.
    battles = _battles({("a", "b"): 16, ("b", "a"): 4, ("a", "c"): 17, ("c", "a"): 3, ("b", "c"): 10, ("c", "b"): 10})
    gains = pair_gains(MODELS, battles)
    assert "d" in _best(gains)
    assert min(gains[pair] for pair in gains if "d" in pair) > max(gains[pair] for pair in gains if "d" not in pair)


def test_adaptive_moves_down_the_ranking_once_the_top_is_settled() -> None:
    # a is far ahead of everyone (many battles); b and c are level and barely measured against each other.
    battles = _battles({("a", "b"): 60, ("b", "a"): 2, ("a", "c"): 60, ("c", "a"): 2, ("a", "d"): 60, ("d", "a"): 1,
                        ("b", "c"): 2, ("c", "b"): 1, ("b", "d"): 8, ("d", "b"): 2, ("c", "d"): 8, ("d", "c"): 2})
    assert separated(_intervals(battles))
    assert _best(pair_gains(MODELS, battles)) == ("b", "c")


def _intervals(battles: list[Battle]) -> dict[str, RatingCI]:
    from core.stats import bootstrap_bradley_terry

    return bootstrap_bradley_terry(battles, rounds=300, seed=1)


def test_adaptive_shows_a_rater_each_prompt_and_pair_at_most_once_then_stops() -> None:
    rng = random.Random(3)
    strength = {"a": 1.0, "b": 0.6, "c": 0.0, "d": -0.5}
    prompts = PROMPTS[:3]
    seen: set[tuple[str, tuple[str, str]]] = set()
    left_counts: Counter[tuple[str, str]] = Counter()
    battles: list[Battle] = []
    while (draw := next_draw(MODELS, prompts, battles, seen=seen, left_counts=left_counts, seed=len(seen))) is not None:
        key = (draw.prompt_id, pair_key(MODELS, draw.left, draw.right))
        assert key not in seen
        seen.add(key)
        left_counts[draw.left, draw.right] += 1
        p = 1.0 / (1.0 + math.exp(strength[draw.right] - strength[draw.left]))
        battles.append(Battle(draw.left, draw.right, "model_a" if rng.random() < p else "model_b"))
    assert len(seen) == capacity(MODELS, len(prompts)) == 18
    # Sides: the model a pair showed on the left less goes there next, so each pair is balanced.
    for first, second in pairs_of(MODELS):
        assert abs(left_counts[first, second] - left_counts[second, first]) <= 1


def test_adaptive_is_deterministic_given_its_seed_and_skips_what_the_rater_saw() -> None:
    battles = _battles({("a", "b"): 3, ("b", "c"): 3, ("c", "d"): 3})
    one = next_draw(MODELS, PROMPTS, battles, seen=set(), left_counts={}, seed=9)
    assert one == next_draw(MODELS, PROMPTS, battles, seen=set(), left_counts={}, seed=9)
    assert one is not None
    pair = pair_key(MODELS, one.left, one.right)
    seen = {(prompt, pair) for prompt in PROMPTS}  # this rater has seen that pair on every prompt
    other = next_draw(MODELS, PROMPTS, battles, seen=seen, left_counts={}, seed=9)
    assert other is not None and pair_key(MODELS, other.left, other.right) != pair


def test_adaptive_spreads_draws_not_rated_yet_over_the_pairs() -> None:
    # Raters drawing before anyone rated: each pending comparison counts as information on its way.
    left_counts: Counter[tuple[str, str]] = Counter()
    pending: list[tuple[str, str]] = []
    for n in range(6):
        draw = next_draw(MODELS, PROMPTS, [], seen=set(), left_counts=left_counts, seed=n, pending=pending)
        assert draw is not None
        left_counts[draw.left, draw.right] += 1
        pending.append((draw.left, draw.right))
    assert len({pair_key(MODELS, *pair) for pair in pending}) == 6  # the first six draws are the six pairs


def test_separated_reads_the_leaders_interval_against_every_other() -> None:
    clear = {"a": RatingCI(1100, 1060, 1140), "b": RatingCI(1000, 960, 1050), "c": RatingCI(900, 850, 1055)}
    verdict = separation(clear)
    assert (verdict.top, verdict.runner_up, verdict.margin) == ("a", "c", 5) and verdict.separated
    overlapping = {**clear, "c": RatingCI(900, 850, 1065)}
    assert not separated(overlapping) and separation(overlapping).runner_up == "c"
    assert not separated({"a": RatingCI(1000, 990, 1010)}) and separation({}).top is None
    assert not separated({"a": RatingCI(1000, math.nan, math.nan), "b": RatingCI(900, 800, 950)})
