"""Simulated-client transcripts on real llama.cpp servers of the demo's tiny model: made, cut, resumed.

The tiny model's words are noise, so the test checks the mechanics: 2 candidates × 3 cases × 3
turns, each turn stored as it is made, a task cancelled mid-way going on from its stored turns, and
``session show --json`` listing the transcripts.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path

import pytest

from core.arena.cases import register_case_set
from core.arena.sessions import create_session
from core.arena.transcripts import CURRENT_CLIENT_PROMPT, session_transcripts, transcript_tasks
from core.models.client import GenerationParams
from tests.helpers.commands import cli
from tests.helpers.dialogue_world import run_tasks, write_cases
from tests.helpers.ggufs import two_ggufs

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed"),
]


def test_three_turn_transcripts_for_two_candidates_and_three_cases_resume_after_a_cut(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from core.models.serving import list_servers, stop_server

    workspace, f16, q8 = two_ggufs(tmp_path / "ws")
    try:
        cases = register_case_set(workspace, write_cases(tmp_path / "three.jsonl", 3))
        # The Q8_0 file is a candidate and the client too: one server serves both roles.
        session = create_session(workspace, cases.id, f16, q8, params=GenerationParams(max_tokens=24),
                                 client_model=q8, turns=3, client_prompt_version=CURRENT_CLIENT_PROMPT)
        tasks = transcript_tasks(workspace, session)
        assert len(tasks) == 6

        async def cut_then_resume() -> list[tuple[str, ...]]:
            running = asyncio.create_task(run_tasks(workspace, tasks[:1]))
            while not any(t.counsellor_turns >= 1 for t in session_transcripts(workspace, session)):
                await asyncio.sleep(0.01)  # llama-server answers the tiny model's turns in tens of ms
                assert not running.done(), "the first task ended before it could be cut"
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
            (cut,) = session_transcripts(workspace, session)
            assert cut.state == "running"
            await run_tasks(workspace, transcript_tasks(workspace, session))
            return [tuple(turn.text for turn in cut.turns)]

        (before,) = asyncio.run(cut_then_resume())
        transcripts = session_transcripts(workspace, session)
        assert len(transcripts) == 6
        for transcript in transcripts:
            assert transcript.ended in ("turns", "resolved", "client_stop"), transcript.ended
            assert transcript.counsellor_turns >= 1 and transcript.turns[0].role == "client"
            assert all(turn.tokens for turn in transcript.turns[1:]), "each generated turn keeps its stats"
        resumed = next(t for t in transcripts if t.case_id == "c01" and t.model_id == tasks[0].models[0])
        assert tuple(turn.text for turn in resumed.turns[:len(before)]) == before
        shown = json.loads(cli(capsys, workspace, "session", "show", session.id, "--json"))["transcripts"]
        assert sorted((t["case"], t["model"]) for t in shown) == sorted(
            (case, model) for case in ("c01", "c02", "c03") for model in (f16, q8))
        assert all(t["turns"] == next(x.counsellor_turns for x in transcripts if x.id == t["id"]) for t in shown)
    finally:
        for server in list_servers(workspace, active_only=True):
            stop_server(workspace, server.id, timeout=20)
