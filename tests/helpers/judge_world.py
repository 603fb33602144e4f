"""A rated workspace for judge calibration: two humans and a judge on one session's first twelve items.

Answers and ratings go in through the core API, so no model server is needed.
"""

from __future__ import annotations

import random
from pathlib import Path

from core.arena.judge.prompt import judge_name
from core.arena.prompts import register_prompt_set
from core.arena.ratings import RatingInput, RatingStore
from core.arena.sessions import create_session, opening_messages, session_items, store_response
from core.base.db import open_workspace
from core.base.workspace import Workspace
from core.models import register_endpoint
from core.models.client import StreamStats

STATS = StreamStats(0.1, 20, 40.0, "stop", 0.5)
JUDGE = judge_name("m-judge")
PREFERENCES = ("left", "right", "tie", "both_bad")


def _scores(rng: random.Random) -> dict[str, int]:
    return {"empathy": rng.randint(1, 5), "professionalism": rng.randint(1, 5), "safe": rng.choice((0, 1, 1))}


def _noisy(scores: dict[str, int], rng: random.Random) -> dict[str, int]:
    out = dict(scores)
    for key in ("empathy", "professionalism"):
        out[key] = min(5, max(1, out[key] + rng.choice((-1, 0, 0, 1, 2))))
    return out




def build_rated(root: Path) -> tuple[Workspace, str, list[RatingInput]]:
    """Two humans (h2 a noisy copy of h1) on 12 items; the judge copies h1 exactly."""
    workspace = open_workspace(Workspace(root))
    a = register_endpoint(workspace, "m-a", "http://127.0.0.1:9/a").id
    b = register_endpoint(workspace, "m-b", "http://127.0.0.1:9/b").id
    register_endpoint(workspace, "m-judge", "http://127.0.0.1:9/j")
    session = create_session(workspace, register_prompt_set(workspace).id, a, b, side_seed=3)
    rng = random.Random(7)
    inputs: list[RatingInput] = []
    with RatingStore(workspace) as store:
        for item in session_items(workspace, session.id)[:12]:
            left, right = (store_response(workspace, session, model, opening_messages(item), f"{model} 的回答", STATS)
                           for model in (item.left_model, item.right_model))
            first = (_scores(rng), _scores(rng), rng.choice(PREFERENCES))
            second = (_noisy(first[0], rng), _noisy(first[1], rng),
                      first[2] if rng.random() < 0.6 else rng.choice(PREFERENCES))
            for rater, (ls, rs, preference) in (("h1", first), ("h2", second), (JUDGE, first)):
                rating = RatingInput(session.id, item.position, rater, "default", item.left_model, item.right_model,
                                     ls, rs, preference, left_response_id=left.id, right_response_id=right.id,
                                     crisis=item.crisis)
                store.submit(rating)
                inputs.append(rating)
    return workspace, session.id, inputs

