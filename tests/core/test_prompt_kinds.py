"""A prompt row keeps its kind, its history and its case through the database."""

from __future__ import annotations

from pathlib import Path

from core.arena.prompts import Prompt, Turn, get_prompt_set, register_prompt_set, store_prompts
from core.base.db import open_workspace, write_transaction
from core.base.workspace import Workspace


def test_rows_of_every_kind_come_back_as_stored(tmp_path: Path) -> None:
    workspace = open_workspace(Workspace(tmp_path / "ws"))
    opening = register_prompt_set(workspace)
    assert {prompt.kind for prompt in get_prompt_set(workspace, opening.id).prompts} == {"opening"}
    history = (Turn("user", "我最近睡不着。"), Turn("assistant", "能多说说吗？"), Turn("user", "一闭眼就想考试。"))
    rows = [
        Prompt("t1", history[-1].content, "听起来考试让你很紧张。", ("睡眠",), False, 0, "turn", history),
        Prompt("c1", "你好，我想聊聊。", None, ("crisis",), True, 1, "dialogue", (),
               {"id": "c1", "title": "失眠的大学生", "background": "大三学生"}),
    ]
    with write_transaction(workspace) as connection:
        connection.execute("INSERT INTO prompt_sets (id, name, source, sha256, created_at) VALUES"
                           " ('mixed', 'mixed', 'test', 'x', '2026-12-06T00:00:00Z')")
        store_prompts(connection, "mixed", rows)
    stored = get_prompt_set(workspace, "mixed").prompts
    assert stored == tuple(rows)
    assert [prompt.case for prompt in stored] == [{}, rows[1].case]
    assert stored[0].messages() == [{"role": t.role, "content": t.content} for t in history]
    assert stored[1].messages() == [{"role": "user", "content": "你好，我想聊聊。"}]
