"""How far a session has got: per rater (items drawn, rated) and per pair (items, ratings, wins), for `session show`.

Counts are of current opening-turn ratings, like the leaderboard's; machine judges
(raters ``judge:…``) are listed apart from the humans and never counted in a pair's wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.arena.raters import JUDGE_PREFIX
from core.arena.schedule import capacity, pair_key, pairs_of
from core.base.db import registry

if TYPE_CHECKING:
    from core.arena.sessions import Session
    from core.base.workspace import Workspace


@dataclass(frozen=True)
class RaterProgress:
    rater: str
    rated: int
    of: int
    """Items this rater can rate: every item (round-robin), every possible comparison (adaptive)."""
    drawn: int
    """Items shown to this rater so far (for round-robin, every item)."""
    judge: bool


@dataclass(frozen=True)
class PairProgress:
    first: str
    second: str
    items: int
    ratings: int
    """Human ratings of this pair."""
    first_wins: int
    second_wins: int
    ties: int


@dataclass(frozen=True)
class SessionProgress:
    session: Session
    prompts: int
    items: int
    capacity: int
    """Distinct (prompt, pair) comparisons the session can show one rater."""
    raters: tuple[RaterProgress, ...]
    pairs: tuple[PairProgress, ...]


def session_progress(workspace: Workspace, session: Session) -> SessionProgress:
    """Each rater's and each pair's progress in ``session``."""

    models = list(session.models)
    with registry(workspace) as connection:
        prompts = connection.execute("SELECT COUNT(*) FROM prompts WHERE set_id = ?",
                                     (session.prompt_set_id,)).fetchone()[0]
        items = connection.execute("SELECT position, left_model, right_model, drawn_for FROM items "
                                   "WHERE session_id = ?", (session.id,)).fetchall()
        ratings = connection.execute(
            "SELECT rater, left_model, right_model, preference FROM ratings WHERE session_id = ? AND current = 1 "
            "AND turn = 1", (session.id,)).fetchall()
    shared = sum(1 for item in items if item["drawn_for"] is None)
    limit = capacity(models, prompts) if session.adaptive else len(items)
    drawn: dict[str, int] = {}
    for item in items:
        if item["drawn_for"] is not None:
            drawn[item["drawn_for"]] = drawn.get(item["drawn_for"], 0) + 1
    rated: dict[str, int] = {}
    pair_items = {pair: 0 for pair in pairs_of(models)}
    tally = {pair: [0, 0, 0, 0] for pair in pair_items}  # ratings, first wins, second wins, ties
    for item in items:
        if item["left_model"] in models and item["right_model"] in models:
            pair_items[pair_key(models, item["left_model"], item["right_model"])] += 1
    for rating in ratings:
        rater, left, right, preference = rating
        rated[rater] = rated.get(rater, 0) + 1
        if rater.startswith(JUDGE_PREFIX) or left not in models or right not in models:
            continue
        counts = tally[pair_key(models, left, right)]
        counts[0] += 1
        winner = {"left": left, "right": right}.get(preference)
        if winner is None:
            counts[3] += 1
        else:
            counts[1 if winner == pair_key(models, left, right)[0] else 2] += 1
    raters = tuple(RaterProgress(rater, rated.get(rater, 0), limit, shared + drawn.get(rater, 0),
                                 rater.startswith(JUDGE_PREFIX))
                   for rater in sorted(set(rated) | set(drawn)))
    pairs = tuple(PairProgress(first, second, pair_items[first, second], *tally[first, second])
                  for first, second in pair_items)
    return SessionProgress(session, prompts, len(items), capacity(models, prompts), raters, pairs)
