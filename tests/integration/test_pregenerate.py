"""Pre-generation: a detached job fills a session's answers from two real llama.cpp servers, once each."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from core.arena.pregenerate import start_pregeneration
from core.arena.prompts import register_prompt_set
from core.arena.sessions import create_session, opening_messages, session_items, stored_response
from core.models.client import GenerationParams
from tests.helpers.ggufs import PROMPTS, two_ggufs
from tests.helpers.real_runs import wait_for_job

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed"),
]


def test_pregenerate_fills_every_answer_once_and_a_second_run_adds_nothing(tmp_path: Path) -> None:
    from core.models.serving import list_servers, stop_server

    workspace, f16, q8 = two_ggufs(tmp_path / "ws")
    prompt_file = tmp_path / "prompts.jsonl"
    prompt_file.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in PROMPTS), encoding="utf-8")
    try:
        session = create_session(workspace, register_prompt_set(workspace, prompt_file).id, q8, f16,
                                 params=GenerationParams(max_tokens=16))
        job = wait_for_job(workspace, start_pregeneration(workspace, session.id).id, 300, "the pre-generation")
        assert job.status == "finished", job.stdout_path.read_text(errors="replace")[-2000:]
        assert "[3/3]" in job.stdout_path.read_text() and "done: 6 responses generated" in job.progress_text()
        answers = [stored_response(workspace, session, model, opening_messages(item))
                   for item in session_items(workspace, session.id) for model in (q8, f16)]
        assert all(answer is not None and answer.text and answer.tokens for answer in answers)
        again = wait_for_job(workspace, start_pregeneration(workspace, session.id).id, 300, "the pre-generation")
        assert again.status == "finished" and "done: 0 responses generated" in again.progress_text()
    finally:
        for server in list_servers(workspace, active_only=True):
            stop_server(workspace, server.id, timeout=20)
