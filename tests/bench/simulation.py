"""Simulated rating sessions for the benchmarks: noisy raters with a position bias, the arena's own schedules,
and the stop line exactly as Results draws it. Not a test module (tests/bench is not collected).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from core.arena.schedule import Draw, next_draw, pair_key, round_robin
from core.stats import (
    LEADERBOARD_PENALTY,
    Battle,
    Stopping,
    Winner,
    bootstrap_bradley_terry,
    fit_strengths,
    pair_evidence,
    stopping_rule,
)

RATERS = 3
TIE_RATE = 0.1
BIAS = (0.15, 0.35)
"""Each simulated rater's pull towards the left answer, in logits, drawn once per rater from this range."""


@dataclass(frozen=True)
class Outcome:
    ratings: int
    """Ratings made when the stop line first said "separated", or the cap."""
    separated: bool
    top: str | None


def judge(strengths: Mapping[str, float], draw: Draw, bias: float, rng: random.Random) -> Winner:
    """A noisy rater: Bradley–Terry on the true strengths (Elo points), plus a pull towards the left answer."""
    if rng.random() < TIE_RATE:
        return "tie"
    logit = (strengths[draw.left] - strengths[draw.right]) * math.log(10.0) / 400.0 + bias
    return "model_a" if rng.random() < 1.0 / (1.0 + math.exp(-logit)) else "model_b"


def stop_line(battles: Sequence[Battle], *, rounds: int = 1000, seed: int = 0) -> Stopping:
    """The stop line as Results computes it (the leaderboard's weak prior, then the stopping rule)."""
    ratings = bootstrap_bradley_terry(battles, rounds=rounds, seed=seed, penalty=LEADERBOARD_PENALTY)
    return stopping_rule(ratings, len(battles), battles)


def could_separate(battles: Sequence[Battle]) -> bool:
    """Whether the leader's difference from some other model passes the rule's always-valid test yet.

    The stopping rule needs that test passed for its leader pair, so while no pair passes there is no
    need to bootstrap the leaderboard: one fit per look keeps a check after every rating affordable.
    """
    fit = fit_strengths(battles, penalty=LEADERBOARD_PENALTY)
    if len(fit.names) < 2:
        return False
    top = fit.names[int(fit.strengths.argmax())]
    return any(pair_evidence(*fit.difference(top, other)).apart for other in fit.names if other != top)


def rate_session(strengths: Mapping[str, float], prompts: Sequence[str], schedule: str, seed: int, *, cap: int,
                 after_rating: Callable[[list[Battle]], bool]) -> int:
    """Rate one simulated session until ``after_rating`` (called with the battles so far, after every rating)
    says to stop, or ``cap`` ratings; returns how many ratings were made."""
    rng = random.Random(seed)
    models = list(strengths)
    rng.shuffle(models)  # the schedule must not profit from the order models are listed in
    biases = [rng.uniform(*BIAS) for _ in range(RATERS)]
    queues = [round_robin(models, list(prompts), seed + rater) for rater in range(RATERS)]
    seen: list[set[tuple[str, tuple[str, str]]]] = [set() for _ in range(RATERS)]
    left_counts: dict[tuple[str, str], int] = {}
    battles: list[Battle] = []
    for count in range(min(cap, RATERS * len(queues[0]))):
        rater = count % RATERS
        if schedule == "round-robin":
            draw: Draw | None = queues[rater][count // RATERS]
        else:
            draw = next_draw(models, list(prompts), battles, seen=seen[rater], left_counts=left_counts,
                             seed=seed * 100_003 + count)
        assert draw is not None
        seen[rater].add((draw.prompt_id, pair_key(models, draw.left, draw.right)))
        left_counts[draw.left, draw.right] = left_counts.get((draw.left, draw.right), 0) + 1
        battles.append(Battle(draw.left, draw.right, judge(strengths, draw, biases[rater], rng)))
        if after_rating(battles):
            break
    return len(battles)


def run_session(strengths: Mapping[str, float], prompts: Sequence[str], schedule: str, seed: int, *, cap: int,
                every: int = 1, rounds: int = 1000) -> Outcome:
    """One simulated session of at most ``cap`` ratings, the stop line read every ``every`` ratings."""
    verdicts: list[Stopping] = []

    def separated(battles: list[Battle]) -> bool:
        if len(battles) % every or not could_separate(battles):
            return False
        verdicts.append(stop_line(battles, rounds=rounds, seed=seed))
        return verdicts[-1].separated

    ratings = rate_session(strengths, prompts, schedule, seed, cap=cap, after_rating=separated)
    done = bool(verdicts) and verdicts[-1].separated
    return Outcome(ratings, done, verdicts[-1].top if done else None)
