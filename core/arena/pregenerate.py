"""Fill a session's responses ahead of the raters: ``python -m core.arena.pregenerate WORKSPACE SESSION``.

Runs as a detached job (see :func:`start_pregeneration`): the session's model servers
are started or reused, and the opening answer of every (prompt, model) the session can
show is generated once and stored, a prompt's models at once: for a round-robin session
the models of its items, for an adaptive one every model on every prompt, since any
pair can be drawn. Answers already stored (by a rater, or an earlier run of this job)
are skipped, so a stopped job resumes where it was. Progress is one line per prompt on
stdout, which the job's log and the Models/Arena screens show.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.arena.prompts import get_prompt_set
from core.arena.sessions import generate, get_session, session_items, store_response, stored_response
from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from core.models.jobs import new_job_dir, start_job
from core.models.targets import connect_models

if TYPE_CHECKING:
    from core.arena.sessions import Session
    from core.models.client import Message
    from core.models.jobs import Job


async def pregenerate(workspace: Workspace, session_id: str) -> int:
    """Generate what is missing; returns how many responses were made."""

    session = get_session(workspace, session_id)
    wanted = answers_wanted(workspace, session)
    targets = dict(zip(session.models,
                       connect_models(workspace, list(session.models),
                                      progress=lambda text: print(f"mhbench: {text}", flush=True)), strict=True))
    made = 0

    async def one(model: str, messages: list[Message]) -> None:
        target = targets[model]
        text, stats = await generate(target.base_url, target.model, session, messages, api_key=target.api_key,
                                      stop=target.stop)
        store_response(workspace, session, model, messages, text, stats, created_by="pregenerate")

    # A turn item is asked its whole history (i18a); i21b's generation job replaces this loop.
    asked = {prompt.id: prompt.messages() for prompt in get_prompt_set(workspace, session.prompt_set_id).prompts}
    for index, (prompt_id, (_text, models)) in enumerate(wanted.items(), 1):
        messages: list[Message] = list(asked[prompt_id])
        todo = [model for model in models if stored_response(workspace, session, model, messages) is None]
        await asyncio.gather(*(one(model, messages) for model in todo))
        made += len(todo)
        print(f"[{index}/{len(wanted)}] {prompt_id}: {len(todo)} new, {made} made", flush=True)
    return made


def answers_wanted(workspace: Workspace, session: Session) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Per prompt id, in the set's order: its text and the models whose opening answer the session can show."""

    prompts = get_prompt_set(workspace, session.prompt_set_id).prompts
    if session.adaptive:
        return {prompt.id: (prompt.text, session.models) for prompt in prompts}
    shown: dict[str, set[str]] = {}
    for item in session_items(workspace, session.id):
        shown.setdefault(item.prompt_id, set()).update((item.left_model, item.right_model))
    return {prompt.id: (prompt.text, tuple(m for m in session.models if m in shown[prompt.id]))
            for prompt in prompts if prompt.id in shown}


def start_pregeneration(workspace: Workspace, session_id: str) -> Job:
    """Start the detached job; it shows in ``mhbench jobs`` and the Models screen like the others."""

    session = get_session(workspace, session_id)
    job = new_job_dir(workspace, "pregenerate", session.id)
    return start_job(workspace, "pregenerate",
                     [sys.executable, "-m", "core.arena.pregenerate", str(workspace.root), session.id],
                     source_id=session.id, job=job, env={"PYTHONUNBUFFERED": "1"})


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m core.arena.pregenerate WORKSPACE SESSION", file=sys.stderr)
        return 2
    try:
        made = asyncio.run(pregenerate(Workspace(Path(argv[0])), argv[1]))
    except MhbenchError as error:
        print(f"mhbench: error: {error}", file=sys.stderr)
        return 1
    print(f"done: {made} responses generated", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
