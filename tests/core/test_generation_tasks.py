"""What a session owes as generation tasks: one per (opening or turn item, model) not stored yet, from its messages."""

from __future__ import annotations

from pathlib import Path

from core.arena.pregenerate import generation_tasks, plan_generation
from core.arena.prompts import Prompt, Turn, store_prompts
from core.arena.sessions import create_session, store_response
from core.base.db import open_workspace, write_transaction
from core.base.workspace import Workspace
from core.models import register_endpoint

HISTORY = (Turn("user", "我最近睡不着。"), Turn("assistant", "能多说说吗？"), Turn("user", "一闭眼就想考试。"))


def test_opening_and_turn_items_owe_an_answer_per_model_until_it_is_stored(tmp_path: Path) -> None:
    workspace = open_workspace(Workspace(tmp_path / "ws"))
    models = [register_endpoint(workspace, f"model-{n}", f"http://127.0.0.1:9/v{n}").id for n in range(2)]
    rows = [Prompt("o1", "和男朋友吵架了。", None, (), False, 0),
            Prompt("t1", HISTORY[-1].content, None, (), False, 1, "turn", HISTORY),
            Prompt("c1", "你好，我想聊聊。", None, (), False, 2, "dialogue", (), {"id": "c1"})]
    with write_transaction(workspace) as connection:
        connection.execute("INSERT INTO prompt_sets (id, name, source, sha256, created_at) VALUES"
                           " ('mixed', 'mixed', 'test', 'x', '2026-12-06T00:00:00Z')")
        store_prompts(connection, "mixed", rows)
    session = create_session(workspace, "mixed", *models, schedule="adaptive")

    tasks = generation_tasks(workspace, session)
    assert [task.label for task in tasks] == [f"[{i}/2] {p} → {m}" for i, p in ((1, "o1"), (2, "t1")) for m in models]
    assert [task.models for task in tasks] == [(m,) for _ in range(2) for m in models]
    # The turn item is answered after its whole history: storing that context settles its task.
    history = [{"role": turn.role, "content": turn.content} for turn in HISTORY]
    store_response(workspace, session, models[0], history, "听起来考试让你很紧张。", None)
    assert [task.label for task in generation_tasks(workspace, session)] == [
        f"[1/2] o1 → {models[0]}", f"[1/2] o1 → {models[1]}", f"[2/2] t1 → {models[1]}"]

    plan = plan_generation(workspace, session.id, 10.0).as_json()
    assert plan["tasks"] == 3 and plan["estimates"] == {}, "endpoints are served elsewhere: no estimate, no server"
    assert plan["waves"] == [{"models": [], "memory_gb": 0.0, "tasks": 3}]
