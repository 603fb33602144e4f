"""An OpenAI-compatible server that someone else runs takes part in a session like any model.

The server here is a real ``llama_cpp.server`` on the demo's GGUF, started as a plain
process outside mhbench's registry (as a vLLM or lmdeploy server on another box would be)
and registered by URL only. A rater's item is answered through the answers helper and
rated through :class:`ArenaController`, exactly as the Arena screen does it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core.arena.answers import ModelServers, obtain_answer
from core.arena.controller import ArenaController
from core.arena.prompts import register_prompt_set
from core.arena.ratings import current_ratings
from core.arena.sessions import create_session, get_response
from core.demo import create_demo
from core.models import get_model, register_endpoint
from core.models.jobs import convert_to_gguf
from core.models.serving import free_port, list_servers, stop_server
from core.models.targets import sync_catalog
from tests.helpers.real_runs import wait_for_job

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed"),
]

PROMPTS = [
    {"id": "e1", "prompt": "最近工作压力很大，晚上总是失眠。", "tags": ["睡眠"]},
    {"id": "e2", "prompt": "和父母沟通总是吵架，我该怎么办？", "tags": ["家庭"]},
]


def _wait_for_models(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the external server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as answer:  # 127.0.0.1 only
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the external server never answered: {log.read_text(errors='replace')[-2000:]}")


def test_endpoint_models_are_answered_stored_and_rated_like_any_model(tmp_path: Path) -> None:
    workspace = create_demo(tmp_path / "ws").workspace
    sync_catalog(workspace)
    job = wait_for_job(workspace, convert_to_gguf(workspace, "tiny-llama3").id, 300, "the f16 conversion")
    assert job.status == "finished", job.diagnosis
    gguf = get_model(workspace, job.result_model_id or "")
    assert gguf.path is not None
    port = free_port()
    log = tmp_path / "external-server.log"
    with log.open("wb") as out:
        external = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf.path), "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "1024", "--interrupt_requests", "false", "--model_alias", "remote-llm"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_for_models(url, external, log, 180)
        # By URL, as an operator registers a server someone else runs (`mhbench models --endpoint`), against a
        # local model that mhbench serves itself: the two kinds meet in one comparison.
        a = register_endpoint(workspace, "remote-a", url, api_key="sk-a", served_name="remote-llm").id
        b = gguf.id
        prompt_file = tmp_path / "prompts.jsonl"
        prompt_file.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in PROMPTS), encoding="utf-8")
        from core.models.client import GenerationParams

        session = create_session(workspace, register_prompt_set(workspace, prompt_file).id, a, b,
                                 params=GenerationParams(max_tokens=12), side_seed=5,
                                 reveal="item")  # names after each submit: read after the first of two items
        controller = ArenaController.open(workspace, session.id, "rater-1")
        servers = ModelServers()

        async def answer_both() -> None:
            await servers.connect(workspace, session)
            for pending in controller.start_turn():
                response = await obtain_answer(controller.answers, pending, target_for=servers.target_for)
                assert controller.answers.accept(pending, response)

        asyncio.run(answer_both())
        assert servers.error is None
        assert servers.targets[a].base_url == url and servers.targets[a].server_id is None
        assert servers.targets[a].api_key == "sk-a" and servers.targets[b].server_id is not None
        for side in ("left", "right"):
            response = controller.responses[side]
            assert response is not None and response.text and response.tokens
            assert response.model_id == controller.side_model(side)
        for key in "43s54sa":
            assert controller.press(key), key
        rating = controller.submit()
        assert controller.submitted and controller.revealed
        assert {rating.left_model, rating.right_model} == {a, b}
        (saved,) = current_ratings(workspace, session_id=session.id)
        assert saved.rater == "rater-1" and saved.preference == "left"
        for response_id in (saved.left_response_id, saved.right_response_id):
            assert response_id is not None and get_response(workspace, response_id).text
        # Only the local model got a server of mhbench's own: the endpoint is called where it is.
        (own,) = list_servers(workspace, active_only=True)
        assert own.model_ids == (b,) or list(own.model_ids) == [b]
    finally:
        for server in list_servers(workspace, active_only=True):
            stop_server(workspace, server.id, timeout=20)
        os.killpg(external.pid, signal.SIGTERM)
        external.wait(timeout=30)
