"""Pre-generation of an adaptive four-model session: the detached job fills every model's answer to every prompt.

Any pair can be drawn in an adaptive session, so every (prompt, model) is generated, once,
from four real llama.cpp servers (the demo's tiny Llama as f16, Q8_0, Q5_K_M and Q4_K_M GGUFs).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from core.arena.pregenerate import start_pregeneration
from core.arena.prompts import register_prompt_set
from core.arena.sessions import create_session, stored_response
from core.models.client import GenerationParams
from tests.helpers.ggufs import PROMPTS, four_ggufs
from tests.helpers.real_runs import wait_for_job

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed"),
]


def test_an_adaptive_session_pregenerates_every_model_on_every_prompt_once(tmp_path: Path) -> None:
    from core.models.serving import list_servers, stop_server

    workspace, models = four_ggufs(tmp_path / "ws")
    prompt_file = tmp_path / "prompts.jsonl"
    prompt_file.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in PROMPTS[:2]), encoding="utf-8")
    try:
        session = create_session(workspace, register_prompt_set(workspace, prompt_file).id, *models,
                                 schedule="adaptive", params=GenerationParams(max_tokens=12))
        job = wait_for_job(workspace, start_pregeneration(workspace, session.id).id, 300, "the pre-generation")
        log = job.stdout_path.read_text(errors="replace")
        assert job.status == "finished", log[-2000:]
        assert "[2/2]" in log and "done: 8 responses generated" in job.progress_text()
        answers = [stored_response(workspace, session, model, [{"role": "user", "content": prompt["prompt"]}])
                   for prompt in PROMPTS[:2] for model in models]
        assert all(answer is not None and answer.text and answer.created_by == "pregenerate" for answer in answers)
        again = wait_for_job(workspace, start_pregeneration(workspace, session.id).id, 300, "the pre-generation")
        assert again.status == "finished" and "done: 0 responses generated" in again.progress_text()
    finally:
        for server in list_servers(workspace, active_only=True):
            stop_server(workspace, server.id, timeout=20)
