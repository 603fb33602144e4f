"""``mhbench session generate`` in waves: the demo's three tiny models under a budget that fits one server at a time.

Real ``swift deploy`` servers on a CPU: the servers' recorded start and end times show that no two
ran together, every answer is stored once and equals what one-at-a-time generation makes with the
same seed, and a job killed with SIGKILL mid-wave is resumed by the next one, which also stops the
server the killed job left behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from itertools import pairwise
from pathlib import Path

import pytest

from core.arena.prompts import register_prompt_set
from core.arena.sessions import Session, create_session, generate, get_session, stored_response
from core.base.db import registry
from core.base.workspace import Workspace
from core.demo import create_demo
from core.models.client import GenerationParams
from core.models.jobs import get_job
from core.models.serving import list_servers, stop_server
from core.models.targets import connect_models, sync_catalog
from tests.helpers.commands import mhbench
from tests.helpers.machine import scaled
from tests.helpers.real_runs import wait_for_job

pytestmark = pytest.mark.integration

MODELS = ("tiny-qwen2", "tiny-llama3", "learning-qwen2")
ONE_SERVER = "1.5"
"""GB: each demo profile's inference estimate is 1 GB, so one server fits and two do not."""
PROMPTS = ["最近总是睡不着，白天也没精神。", "我和父母总是吵架，不知道怎么办。", "工作压力很大，我快撑不住了。",
           "朋友都不理我了，我觉得很孤单。"]


def _session(root: Path, prompts: int) -> tuple[Workspace, Session]:
    workspace = create_demo(root).workspace
    sync_catalog(workspace)
    prompt_file = root.parent / "prompts.jsonl"
    prompt_file.write_text("".join(json.dumps({"id": f"p{n}", "prompt": text}, ensure_ascii=False) + "\n"
                                   for n, text in enumerate(PROMPTS[:prompts])), encoding="utf-8")
    session = create_session(workspace, register_prompt_set(workspace, prompt_file).id, *MODELS,
                             schedule="adaptive", params=GenerationParams(max_tokens=12))
    return workspace, session


def _stored_rows(workspace: Workspace) -> list[tuple[str, str]]:
    with registry(workspace) as connection:
        return [(row[0], row[1]) for row in connection.execute("SELECT context_key, model_id FROM responses")]


def _stop_all(workspace: Workspace) -> None:
    for server in list_servers(workspace, active_only=True):
        stop_server(workspace, server.id, timeout=20)


def test_one_server_at_a_time_never_overlaps_and_makes_the_answers_of_one_at_a_time(tmp_path: Path) -> None:
    workspace, session = _session(tmp_path / "ws", 2)
    root = workspace.root
    try:
        dry = mhbench("session", "generate", session.id, "--dry-run", "--json", "--memory-budget", ONE_SERVER,
                      workspace=root)
        assert dry.returncode == 0, dry.stderr
        plan = json.loads(dry.stdout)
        assert [wave["models"] for wave in plan["waves"]] == [[model] for model in MODELS]
        assert all(wave["memory_gb"] == 1.0 and wave["tasks"] == 2 for wave in plan["waves"])
        assert plan["estimates"] == dict.fromkeys(MODELS, 1.0) and plan["tasks"] == 6
        assert plan["budget_gb"] == 1.5 and not list_servers(workspace), "a dry run starts nothing"

        run = mhbench("session", "generate", session.id, "--memory-budget", ONE_SERVER, "--wait", "--json",
                      workspace=root)
        assert run.returncode == 0, run.stderr
        job = get_job(workspace, json.loads(run.stdout)["job"])
        log = job.stdout_path.read_text(errors="replace")
        assert job.status == "finished", log[-2000:]
        assert all(f"wave {n}/3:" in log for n in (1, 2, 3)) and "wave 3/3: 2/2 done" in log
        assert "done: 6 responses generated" in log

        servers = sorted(list_servers(workspace), key=lambda server: server.created_at)
        assert [server.model_ids for server in servers] == [(model,) for model in MODELS]
        assert all(server.status == "stopped" and server.ended_at for server in servers)
        for earlier, later in pairwise(servers):
            assert earlier.ended_at is not None and earlier.ended_at <= later.created_at, (earlier, later)
        assert len(_stored_rows(workspace)) == 6

        # One at a time, as a rater's Arena asks: the same text for the same seed.
        for model in MODELS:
            (target,) = connect_models(workspace, [model])
            for text in PROMPTS[:2]:
                messages = [{"role": "user", "content": text}]
                stored = stored_response(workspace, session, model, messages)
                assert stored is not None and stored.created_by == "pregenerate"
                again, _ = asyncio.run(generate(target.base_url, target.model, session, messages, stop=target.stop))
                assert again == stored.text, (model, text)
            _stop_all(workspace)
    finally:
        _stop_all(workspace)


def _wait_for_line(path: Path, text: str, limit_s: float) -> None:
    deadline = time.monotonic() + scaled(limit_s)
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never reached {path}: {path.read_text(errors='replace')[-2000:]}")


def test_a_wave_job_killed_mid_wave_is_resumed_and_its_orphaned_server_stopped(tmp_path: Path) -> None:
    from core.arena.pregenerate import start_pregeneration

    workspace, session = _session(tmp_path / "ws", 4)
    try:
        killed = start_pregeneration(workspace, session.id, 1.5)
        _wait_for_line(killed.stdout_path, "wave 2/3: 1/4 done", 120)
        assert killed.pgid is not None
        os.killpg(killed.pgid, signal.SIGKILL)  # the job and its supervisor; the servers have groups of their own
        killed = wait_for_job(workspace, killed.id, 30, "the killed job")
        assert killed.status != "finished"
        left = list_servers(workspace, active_only=True)
        assert [server.model_ids for server in left] == [(MODELS[1],)], "the killed job's wave-2 server is left"
        made_before = len(_stored_rows(workspace))
        assert 5 <= made_before < 12

        resumed = wait_for_job(workspace, start_pregeneration(workspace, session.id, 1.5).id, 300, "the resumed job")
        log = resumed.stdout_path.read_text(errors="replace")
        assert resumed.status == "finished", log[-2000:]
        assert f"done: {12 - made_before} responses generated" in log
        assert f"reusing server {left[0].id}" in log, "the orphaned server is reused, not loaded again"
        rows = _stored_rows(workspace)
        assert len(rows) == len(set(rows)) == 12, "every answer once"
        assert all(stored_response(workspace, get_session(workspace, session.id), model,
                                   [{"role": "user", "content": text}]) is not None
                   for model in MODELS for text in PROMPTS)
        assert not list_servers(workspace, active_only=True), "the resumed job stopped the orphan and its own"
    finally:
        _stop_all(workspace)


def test_a_stopped_wave_job_stops_the_servers_it_started(tmp_path: Path) -> None:
    from core.arena.pregenerate import start_pregeneration
    from core.models.jobs import stop_job

    workspace, session = _session(tmp_path / "ws", 4)
    try:
        job = start_pregeneration(workspace, session.id, 1.5)
        _wait_for_line(job.stdout_path, "wave 1/3: 1/4 done", 120)
        # Between waves no server runs for a moment: stop the job while one does.
        deadline = time.monotonic() + scaled(120)
        while len(list_servers(workspace, active_only=True)) != 1:
            assert time.monotonic() < deadline, job.stdout_path.read_text(errors="replace")[-2000:]
            time.sleep(0.05)
        stopped = stop_job(workspace, job.id, timeout=60)
        assert stopped.status == "stopped", stopped.stdout_path.read_text(errors="replace")[-2000:]
        assert "stopped: the servers this job started are stopped" in stopped.stdout_path.read_text()
        assert not list_servers(workspace, active_only=True), "SIGTERM gives the wave's memory back"
    finally:
        _stop_all(workspace)
