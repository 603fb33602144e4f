"""Three endpoint models rated by two raters over three sessions, with known quality m1 > m2 > m3.

Answers and ratings go in through the core API, so no model server is needed; the
results tests and the Results mode's Pilot tests read the same ratings.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.arena.prompts import register_prompt_set
from core.arena.ratings import RatingInput, RatingStore
from core.arena.sessions import Item, Session, create_session, opening_messages, session_items, store_response
from core.base.workspace import Workspace
from core.models import register_endpoint
from core.models.client import StreamStats

QUALITY = {"m1": 4, "m2": 3, "m3": 2}
ITEMS = 8
STATS = StreamStats(0.1, 20, 40.0, "stop", 0.5)


@dataclass
class Built:
    workspace: Workspace
    ids: dict[str, str]
    """short name (m1, m2, m3) → catalog id"""
    sessions: list[Session]
    items: dict[str, list[Item]]
    submitted: list[RatingInput]
    """The current ratings, in submit order."""


def _answer(name: str, item: Item) -> str:
    if name == "m1" and item.reference:
        return item.reference
    return f"听起来你最近很辛苦。{name} 想多了解一下你的情况，可以慢慢说。"


def _scores(name: str, rater: str, position: int, unsafe: bool = False) -> dict[str, int]:
    quality = QUALITY[name]
    if rater == "r1":
        empathy, professionalism = quality + position % 2, quality
    else:
        empathy, professionalism = quality + ((position + 1) % 3 == 0), quality - (position % 4 == 0)
    return {"empathy": min(5, empathy), "professionalism": max(1, professionalism), "safe": 0 if unsafe else 1}


def build_ratings(workspace: Workspace) -> Built:
    ids = {name: register_endpoint(workspace, name, f"http://127.0.0.1:9/{name}").id for name in QUALITY}
    short = {model_id: name for name, model_id in ids.items()}
    prompt_set = register_prompt_set(workspace)
    pairs = [("m1", "m2"), ("m2", "m3"), ("m1", "m3")]
    sessions = [create_session(workspace, prompt_set.id, ids[a], ids[b], side_seed=11 + n)
                for n, (a, b) in enumerate(pairs)]
    items = {s.id: session_items(workspace, s.id) for s in sessions}
    submitted: list[RatingInput] = []

    def rating(session: Session, position: int, rater: str, winner: str | None, *, both_bad: bool = False,
               turn: int = 1, responses: tuple[int, int] | None = None, unsafe: str | None = None) -> RatingInput:
        item = items[session.id][position]
        left, right = short[item.left_model], short[item.right_model]
        if responses is None:
            messages = opening_messages(item)
            responses = tuple(store_response(workspace, session, ids[name], messages, _answer(name, item), STATS).id
                              for name in (left, right))  # type: ignore[assignment]
        assert responses is not None
        preference = "both_bad" if both_bad else "tie" if winner is None else "left" if winner == left else "right"
        return RatingInput(
            session_id=session.id, item_position=position, rater=rater, rubric="default",
            left_model=item.left_model, right_model=item.right_model,
            left_scores=_scores(left, rater, position, unsafe == left),
            right_scores=_scores(right, rater, position, unsafe == right),
            preference=preference, turn=turn, left_response_id=responses[0], right_response_id=responses[1],
            seconds_spent=10.0 if rater == "r1" else 20.0)

    with RatingStore(workspace) as store:
        for session, (better, worse) in zip(sessions, pairs, strict=True):
            for rater in ("r1", "r2"):
                for position in range(ITEMS):
                    winner = better if position < 6 else worse if position == 6 else None
                    both_bad = rater == "r2" and position == 5
                    if rater == "r1" and position == 1 and session is sessions[2]:
                        store.submit(rating(session, position, rater, worse))  # edited below: counts once
                    submitted.append(rating(session, position, rater, winner, both_bad=both_bad,
                                            unsafe="m3" if (rater, position) == ("r1", 0) else None))
                    store.submit(submitted[-1])
        first = sessions[0]
        # An item only r1 rated, and a follow-up turn only r1 rated: both count, neither pairs for agreement.
        submitted.append(rating(first, ITEMS, "r1", "m1"))
        store.submit(submitted[-1])
        item = items[first.id][0]
        follow = [*opening_messages(item), {"role": "assistant", "content": "嗯"}, {"role": "user", "content": "然后呢？"}]
        turn2 = tuple(store_response(workspace, first, model_id, follow, "我们一起想想办法。", STATS).id
                      for model_id in (item.left_model, item.right_model))
        submitted.append(rating(first, 0, "r1", "m1", turn=2, responses=turn2))  # type: ignore[arg-type]
        store.submit(submitted[-1])
    return Built(workspace, ids, sessions, items, submitted)
