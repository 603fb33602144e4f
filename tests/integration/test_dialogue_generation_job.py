"""A dialogue session filled by the real generation job (``mhbench session generate``), killed and resumed.

Real llama.cpp servers of the demo's tiny Llama (f16 and Q8_0 as candidates, the Q8_0 as the
client too): the job's tasks are the transcripts, a SIGKILL mid-way leaves a transcript cut, and
the next job goes on from its stored turns and leaves no server running.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import time
from pathlib import Path

import pytest

from core.arena.cases import register_case_set
from core.arena.pregenerate import start_pregeneration
from core.arena.sessions import create_session
from core.arena.transcripts import CURRENT_CLIENT_PROMPT, session_transcripts
from core.models.client import GenerationParams
from core.models.serving import list_servers, stop_server
from tests.helpers.dialogue_world import write_cases
from tests.helpers.ggufs import two_ggufs
from tests.helpers.machine import scaled
from tests.helpers.real_runs import wait_for_job

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed"),
]


def test_the_generation_job_makes_transcripts_and_resumes_them_after_a_kill(tmp_path: Path) -> None:
    workspace, f16, q8 = two_ggufs(tmp_path / "ws")
    try:
        cases = register_case_set(workspace, write_cases(tmp_path / "three.jsonl", 3))
        session = create_session(workspace, cases.id, f16, q8, params=GenerationParams(max_tokens=24),
                                 client_model=q8, turns=3, client_prompt_version=CURRENT_CLIENT_PROMPT)
        killed = start_pregeneration(workspace, session.id)
        deadline = time.monotonic() + scaled(180)
        while not any(t.counsellor_turns >= 1 for t in session_transcripts(workspace, session)):
            assert time.monotonic() < deadline, killed.stdout_path.read_text(errors="replace")[-2000:]
            time.sleep(0.02)
        assert killed.pgid is not None
        os.killpg(killed.pgid, signal.SIGKILL)
        assert wait_for_job(workspace, killed.id, 30, "the killed job").status != "finished"
        before = {(t.case_id, t.model_id): tuple(turn.text for turn in t.turns)
                  for t in session_transcripts(workspace, session)}
        assert any(len(turns) < 7 for turns in before.values()), "the kill came before every transcript ended"

        resumed = wait_for_job(workspace, start_pregeneration(workspace, session.id).id, 600, "the resumed job")
        log = resumed.stdout_path.read_text(errors="replace")
        assert resumed.status == "finished", log[-2000:]
        assert "wave 1/" in log
        transcripts = session_transcripts(workspace, session)
        assert sorted((t.case_id, t.model_id) for t in transcripts) == sorted(
            (case, model) for case in ("c01", "c02", "c03") for model in (f16, q8))
        for transcript in transcripts:
            assert transcript.ended in ("turns", "resolved", "client_stop"), transcript.ended
            kept = before.get((transcript.case_id, transcript.model_id), ())
            assert tuple(turn.text for turn in transcript.turns[:len(kept)]) == kept, "stored turns are kept"
        assert not list_servers(workspace, active_only=True), "the job stopped the servers it started"
    finally:
        for server in list_servers(workspace, active_only=True):
            stop_server(workspace, server.id, timeout=20)
