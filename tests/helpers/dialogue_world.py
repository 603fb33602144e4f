"""Simulated-client sessions for tests: a fake OpenAI server playing candidates and a client, and a task runner.

The fake answers from what it was asked (the request's messages, model and seed), so a test can
tell whose client line answered whom and that a resumed transcript went on as it would have.
:func:`run_tasks` stands in for the session's generation job (issue 21's `mhbench session generate`):
it connects the models with :func:`core.models.targets.connect_models` and awaits each task.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from core.arena.cases import register_case_set
from core.arena.generation import GenerationTask
from core.arena.sessions import Session, create_session
from core.arena.transcripts import CURRENT_CLIENT_PROMPT, RESOLVED, transcript_tasks
from core.base.db import open_workspace
from core.base.workspace import Workspace
from core.models import register_endpoint
from core.models.targets import connect_models
from tests.helpers.fake_openai import SSE_HEAD, FakeServer, chunk, fake_server

CANDIDATES = ("cand_a", "cand_b")
CLIENT = "client_m"


class DialogueServer(FakeServer):
    """Candidates answer ``<model> 回应 <n>``; the client answers ``来访者 <n> 对 <last counsellor line>``.

    ``slow`` seconds pass before each reply, so a test can cancel between turns; ``resolve_at`` makes
    the client end with the resolved phrase at that many counsellor turns.
    """

    slow = 0.0
    resolve_at: int | None = None

    async def _reply(self, writer: asyncio.StreamWriter, text: str) -> None:
        await asyncio.sleep(self.slow)
        await self.send(writer, SSE_HEAD, chunk(text), chunk(finish="stop"), b"data: [DONE]\n\n", pause=0)

    async def _counsellor(self, writer: asyncio.StreamWriter) -> None:
        body = self.requests[-1]
        asked = [m for m in body["messages"] if m["role"] == "user"]
        await self._reply(writer, f"{body['model']} 回应 {len(asked)}（种子 {body['seed']}）")

    async def scenario_cand_a(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._counsellor(writer)

    async def scenario_cand_b(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._counsellor(writer)

    async def scenario_client_m(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = self.requests[-1]
        heard = [m["content"] for m in body["messages"] if m["role"] == "user"]
        counsellor_turns = len(heard) - 1
        end = RESOLVED if self.resolve_at is not None and counsellor_turns >= self.resolve_at else ""
        await self._reply(writer, f"来访者 {counsellor_turns + 1} 对 {heard[-1]}{end}<|im_end|>")

    async def scenario_judge(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reply = {"A": {"empathy": 4, "professionalism": 3, "safe": 1},
                 "B": {"empathy": 2, "professionalism": 2, "safe": 1}, "preference": "A"}
        await self._reply(writer, json.dumps(reply))


def dialogue_session(root: Path, url: str, *, turns: int = 3, cases: str | Path = "demo",
                     side_seed: int = 5) -> tuple[Workspace, Session]:
    """A workspace with the two candidates, the client and a judge on ``url``, and a dialogue session of them."""
    workspace = open_workspace(Workspace(root))
    for name in (*CANDIDATES, CLIENT, "judge"):
        register_endpoint(workspace, name, url)
    session = create_session(workspace, register_case_set(workspace, cases).id, *CANDIDATES, side_seed=side_seed,
                             client_model=CLIENT, turns=turns, client_prompt_version=CURRENT_CLIENT_PROMPT)
    return workspace, session


def write_cases(path: Path, count: int) -> Path:
    """The first ``count`` demo cases as a case file of their own."""
    from core.arena.cases import demo_case_file

    path.write_text("\n".join(demo_case_file().read_text(encoding="utf-8").splitlines()[:count]) + "\n",
                    encoding="utf-8")
    return path


async def run_tasks(workspace: Workspace, tasks: list[GenerationTask]) -> int:
    """Every task in turn against its models' targets; the rows they stored."""
    made = 0
    for task in tasks:
        targets = await asyncio.to_thread(connect_models, workspace, list(task.models))
        made += await task.run({target.model_id: target for target in targets})
    return made


async def generated_dialogues(root: Path, cases: int, turns: int) -> tuple[Workspace, Session]:
    """A dialogue session of the first ``cases`` demo cases whose transcripts are all made (the server then stops)."""
    async with fake_server(DialogueServer) as server:
        workspace, session = dialogue_session(root / "ws", server.url, turns=turns,
                                              cases=write_cases(root / f"{cases}-cases.jsonl", cases))
        await run_tasks(workspace, transcript_tasks(workspace, session))
    return workspace, session
