"""A workspace for the rater's door tests: one blind session whose answers are all stored, and raters.

Answers go in through the core API (``store_response``), so no model server is needed.
Each answer carries an ASCII marker (``alpha-…`` for model A, ``bravo-…`` for model B)
that a test can look for on the screen without knowing the blind sides.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.arena.prompts import register_prompt_set
from core.arena.sessions import Session, create_session, opening_messages, session_items, store_response
from core.base.workspace import Workspace
from core.models import register_endpoint
from core.models.client import StreamStats

PROMPTS = [
    {"id": "q1", "prompt": "最近总是睡不着，白天也没精神。"},
    {"id": "q2", "prompt": "和男朋友吵架了，怎么办？"},
    {"id": "q3", "prompt": "工作压力很大，想辞职。"},
]
STATS = StreamStats(0.1, 12, 30.0, "stop", 0.5)
MARKERS = {"model-a": "alpha", "model-b": "bravo"}


def answer_text(model_name: str, prompt_id: str) -> str:
    return f"{MARKERS[model_name]}-answer-{prompt_id} 我听到了你的感受，我们慢慢来。"


def make_session(workspace: Workspace, tmp_path: Path, name: str = "door", *, reveal: str = "end") -> Session:
    a = register_endpoint(workspace, "model-a", "http://127.0.0.1:9/v1").id
    b = register_endpoint(workspace, "model-b", "http://127.0.0.1:9/v2").id
    prompt_file = tmp_path / f"{name}-prompts.jsonl"
    prompt_file.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in PROMPTS), encoding="utf-8")
    session = create_session(workspace, register_prompt_set(workspace, prompt_file).id, a, b, side_seed=5,
                             name=name, reveal=reveal)
    for item in session_items(workspace, session.id):
        for model_id, model_name in ((a, "model-a"), (b, "model-b")):
            store_response(workspace, session, model_id, opening_messages(item),
                           answer_text(model_name, item.prompt_id), STATS, created_by="pregenerate")
    return session
