"""A workspace with an opening-line session and a session of turn items cut from real conversations.

Answers and ratings go in through the core API, so no model server is needed; the turn-item tests
(exports, Results, calibration, the judge, the Arena) read the same sessions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.arena.judge.prompt import judge_name
from core.arena.prompts import register_prompt_set
from core.arena.ratings import RatingInput, RatingStore
from core.arena.sessions import Session, create_session, opening_messages, session_items, store_response
from core.base.db import open_workspace
from core.base.workspace import Workspace
from core.models import register_endpoint
from core.models.client import StreamStats

STATS = StreamStats(0.1, 20, 40.0, "stop", 0.5)
JUDGE = judge_name("m-judge")
# The first client turn carries the risk; the last reads as everyday: a turn item's crisis mark must come
# from its whole history.
LONG_HISTORY = [
    {"role": "user", "content": "我最近总觉得活着没什么意思，有时候想一了百了。"},
    *[turn for n in range(1, 9) for turn in (
        {"role": "assistant", "content": f"谢谢你愿意告诉我。第{n}次回应：能多说一点那种感觉吗？"},
        {"role": "user", "content": f"第{n}次回答：主要是工作上的事情，领导总是当众批评我。"})],
]
TURN_ROWS = [
    {"id": "long", "history": LONG_HISTORY, "reference": "听起来工作上的压力一直压着你。"},
    {"id": "short", "history": [{"from": "human", "value": "我和室友闹翻了。"}, {"from": "gpt", "value": "发生了什么？"},
                                {"from": "human", "value": "她说我太吵。"}],
     "reference": "被这样说，你心里是什么感受？"},
    {"id": "exam", "history": [{"role": "user", "content": "下周考试，我一点都看不进去。"}],
     "reference": "离考试越近越看不进去，这种着急很常见。"},
]


@dataclass
class TurnWorld:
    workspace: Workspace
    models: tuple[str, str]
    opening: Session
    turns: Session


def write_turn_prompts(path: Path) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in TURN_ROWS), encoding="utf-8")
    return path


def build_turn_world(root: Path, *, rate: bool = True) -> TurnWorld:
    """Two endpoint models; an opening session (demo prompts) and a turn session, both answered;
    with ``rate``, each item rated by two humans (m-a always preferred on turns, m-b on openings) and a judge."""
    workspace = open_workspace(Workspace(root / "ws"))
    a = register_endpoint(workspace, "m-a", "http://127.0.0.1:9/a").id
    b = register_endpoint(workspace, "m-b", "http://127.0.0.1:9/b").id
    register_endpoint(workspace, "m-judge", "http://127.0.0.1:9/j")
    opening = create_session(workspace, register_prompt_set(workspace).id, a, b, side_seed=5, name="openings")
    turn_set = register_prompt_set(workspace, write_turn_prompts(root / "turns.jsonl"))
    turns = create_session(workspace, turn_set.id, a, b, side_seed=6, name="turns")
    with RatingStore(workspace) as store:
        for session, winner in ((opening, b), (turns, a)):
            for item in session_items(workspace, session.id)[:3]:
                left, right = (store_response(workspace, session, model, opening_messages(item),
                                              f"{model} 对 {item.prompt_id} 的回答", STATS)
                               for model in (item.left_model, item.right_model))
                if not rate:
                    continue
                preference = "left" if item.left_model == winner else "right"
                for rater in ("h1", "h2", JUDGE):
                    store.submit(RatingInput(
                        session.id, item.position, rater, "default", item.left_model, item.right_model,
                        {"empathy": 4, "professionalism": 3, "safe": 1}, {"empathy": 2, "professionalism": 3, "safe": 1},
                        preference, left_response_id=left.id, right_response_id=right.id, crisis=item.crisis))
    return TurnWorld(workspace, (a, b), opening, turns)
