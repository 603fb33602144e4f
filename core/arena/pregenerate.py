"""Fill a session's answers ahead of the raters, in waves: ``python -m core.arena.pregenerate WORKSPACE SESSION``.

Runs as a detached job (:func:`start_pregeneration`, ``mhbench session generate``). What the
session owes becomes :class:`~core.arena.generation.GenerationTask`s: the answer of every
(opening or turn item, model) the session can show (for a round-robin session the models of its
items, for an adaptive one every model on every item, since any pair can be drawn), and for a
dialogue session its transcripts (:func:`dialogue_tasks`). Tasks already stored are left out, so a
stopped or killed job resumes where it was.

The tasks' servers are planned in waves that fit the memory budget (:mod:`core.models.waves`). A
wave's servers are started (or reused), every task of the wave is submitted at once with a
semaphore per server holding its engine's concurrency, so each server's queue stays full until the
wave's work is done; then the servers this job started are stopped, unless the next wave needs
them. Servers that ran before the job are reused and left running. Progress is one line per task
on stdout (``wave 2/4: 17/96 done · [3/49] p03 → qwen-lora``), which the job's log and the
Models/Arena screens show.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.arena.generation import GenerationTask, prompts_owed
from core.arena.prompts import Prompt, get_prompt_set
from core.arena.sessions import generate, get_session, store_response, stored_response
from core.arena.transcripts import transcript_tasks
from core.base.errors import MhbenchError
from core.base.processes import process_alive, process_start_time, write_json_atomic
from core.base.workspace import Workspace
from core.models.jobs import new_job_dir, start_job
from core.models.serving import get_server, list_servers, stop_server
from core.models.targets import connect_models
from core.models.waves import Budget, WavePlan, concurrency_of, memory_budget, plan_for, unit_spec

if TYPE_CHECKING:
    from core.arena.sessions import Session
    from core.models.client import Message
    from core.models.jobs import Job
    from core.models.targets import ChatTarget

STARTED_BY_FILE = "started-by.json"
"""In a server's folder: the generation job that started it, so that a resumed job stops it when done."""


# --- what a session owes -------------------------------------------------------------------------


def answers_wanted(workspace: Workspace, session: Session) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Per prompt id, in the set's order: its text and the models whose answer the session can show."""

    return {prompt.id: (prompt.text, models) for prompt, models in _prompts_owed(workspace, session)}


def _prompts_owed(workspace: Workspace, session: Session) -> list[tuple[Prompt, tuple[str, ...]]]:
    return [(prompt, models) for prompt, models in prompts_owed(workspace, session) if prompt.kind != "dialogue"]


def answer_tasks(workspace: Workspace, session: Session) -> list[GenerationTask]:
    """One task per (opening or turn item, model) whose answer is not stored yet; each stores its answer."""

    owed = _prompts_owed(workspace, session)
    tasks = []
    for index, (prompt, models) in enumerate(owed, 1):
        messages: list[Message] = list(prompt.messages())
        for model in models:
            if stored_response(workspace, session, model, messages) is None:
                tasks.append(GenerationTask(f"[{index}/{len(owed)}] {prompt.id} → {model}", (model,),
                                            _answer_run(workspace, session, model, messages)))
    return tasks


def _answer_run(workspace: Workspace, session: Session, model: str,
                messages: list[Message]) -> Callable[[Mapping[str, ChatTarget]], Awaitable[int]]:
    async def run(targets: Mapping[str, ChatTarget]) -> int:
        if stored_response(workspace, session, model, messages) is not None:
            return 0  # stored meanwhile, by a rater or another job
        target = targets[model]
        text, stats = await generate(target.base_url, target.model, session, messages, api_key=target.api_key,
                                     stop=target.stop)
        store_response(workspace, session, model, messages, text, stats, created_by="pregenerate")
        return 1

    return run


def generation_tasks(workspace: Workspace, session: Session) -> list[GenerationTask]:
    """Everything ``session`` still owes, whatever its items' kind."""
    prompts = get_prompt_set(workspace, session.prompt_set_id).prompts
    dialogues = transcript_tasks(workspace, session) if any(p.kind == "dialogue" for p in prompts) else []
    return answer_tasks(workspace, session) + dialogues


@dataclass(frozen=True)
class GenerationPlan:
    """A session's missing work and the waves it will be done in."""

    session: Session
    tasks: tuple[GenerationTask, ...]
    waves: WavePlan

    def tasks_of(self, wave: int) -> list[GenerationTask]:
        """The tasks done in wave ``wave`` (0-based): those whose models are all first together there."""
        return [task for task in self.tasks if (self.waves.wave_of(task.models) or 0) == wave]

    def as_json(self) -> dict[str, object]:
        return {"session": self.session.id, "tasks": len(self.tasks),
                "budget_gb": round(self.waves.budget.gb, 3), "budget_source": self.waves.budget.source,
                "waves": [{"models": list(wave.models), "memory_gb": round(wave.memory_gb, 3),
                           "tasks": len(self.tasks_of(index))} for index, wave in enumerate(self.waves.waves)],
                "estimates": {model: round(gb, 3) for model, gb in self.waves.estimates.items()}}

    def lines(self) -> list[str]:
        """The plan as the dry run and the job's log print it."""
        budget = self.waves.budget
        lines = [f"session {self.session.id}: {len(self.tasks)} to generate in {len(self.waves.waves)} wave(s), "
                 f"budget {budget.gb:.1f} GB ({budget.source})"]
        for index, wave in enumerate(self.waves.waves):
            models = ", ".join(f"{model} ({self.waves.estimates[model]:.1f} GB)" for model in wave.models)
            lines.append(f"  wave {index + 1}/{len(self.waves.waves)}: {models}; {wave.memory_gb:.1f} GB, "
                         f"{len(self.tasks_of(index))} to generate")
        return lines


def plan_generation(workspace: Workspace, session_ref: str, budget_gb: float | None = None) -> GenerationPlan:
    """What ``session_ref`` owes and its waves; refuses (before any work) a model that cannot fit the budget."""
    session = get_session(workspace, session_ref)
    tasks = generation_tasks(workspace, session)
    budget: Budget = memory_budget(budget_gb)
    return GenerationPlan(session, tuple(tasks), plan_for(workspace, [task.models for task in tasks], budget))


# --- running the waves ---------------------------------------------------------------------------


def _mark_started(workspace: Workspace, server_id: str, session_id: str) -> None:
    write_json_atomic(get_server(workspace, server_id).server_dir / STARTED_BY_FILE,
                      {"session": session_id, "pid": os.getpid(), "start_time": process_start_time(os.getpid())})


def _orphaned_servers(workspace: Workspace, session_id: str) -> set[str]:
    """Live servers that a job of this session started and that job is gone (killed): this job stops them."""
    orphans = set()
    for server in list_servers(workspace, active_only=True):
        marker = server.server_dir / STARTED_BY_FILE
        try:
            owner = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if owner.get("session") == session_id and not process_alive(owner.get("pid"), owner.get("start_time")):
            orphans.add(server.id)
    return orphans


async def run_plan(workspace: Workspace, plan: GenerationPlan, say: Callable[[str], None], *,
                   requests_per_server: int | None = None) -> int:
    """Do every wave of ``plan``; returns how many rows the tasks stored.

    ``requests_per_server``: in flight on each server at once; ``None``: as many as its engine
    serves well (:func:`~core.models.waves.concurrency_of`). ``tests/bench/pregenerate.py`` sets 1
    for its one-at-a-time baseline.
    """

    waves = plan.waves.waves
    ours = _orphaned_servers(workspace, plan.session.id)
    before = {server.id for server in list_servers(workspace, active_only=True)} - ours
    made = 0
    failed = 0
    try:
        for index, wave in enumerate(waves):
            tasks = plan.tasks_of(index)
            header = f"wave {index + 1}/{len(waves)}"
            say(f"{header}: {', '.join(wave.models)} ({wave.memory_gb:.1f} GB), {len(tasks)} to generate")
            if not tasks:
                continue
            targets, limits = await _servers_of_wave(workspace, plan, index, before, ours, say,
                                                     requests_per_server=requests_per_server)
            stored, broken = await run_tasks(tasks, targets, limits, header, say)
            made, failed = made + stored, failed + broken
            await _stop_unneeded(workspace, plan, index + 1, ours, say)
    finally:
        # Stopped, killed by an error or done: the servers this job started give their memory back.
        for server_id in sorted(ours):
            if get_server(workspace, server_id).active:
                await asyncio.to_thread(stop_server, workspace, server_id, timeout=30.0)
    if failed:
        raise MhbenchError(f"{failed} of {len(plan.tasks)} generations failed ({made} stored); the log names each.",
                           fix=f"run `mhbench session generate {plan.session.id}` again: it makes only what is "
                               "missing.")
    return made


async def _servers_of_wave(
    workspace: Workspace, plan: GenerationPlan, index: int, before: set[str], ours: set[str],
    say: Callable[[str], None], *, requests_per_server: int | None,
) -> tuple[dict[str, ChatTarget], dict[str, asyncio.Semaphore]]:
    """Start (or reuse) the wave's servers; the targets by catalog id and a semaphore per catalog id's server."""
    wave = plan.waves.waves[index]
    endpoints = sorted({model for task in plan.tasks_of(index) for model in task.models
                        if model not in plan.waves.estimates})
    models = [*wave.models, *endpoints]
    found = await asyncio.to_thread(connect_models, workspace, models, progress=lambda text: say(f"mhbench: {text}"))
    targets = dict(zip(models, found, strict=True))
    for target in found:
        if target.server_id is not None and target.server_id not in before and target.server_id not in ours:
            ours.add(target.server_id)
            _mark_started(workspace, target.server_id, plan.session.id)
    limits: dict[str, asyncio.Semaphore] = {}
    for unit in wave.units:
        semaphore = asyncio.Semaphore(requests_per_server or concurrency_of(unit_spec(workspace, unit)))
        limits.update(dict.fromkeys(unit.models, semaphore))
    return targets, limits


async def run_tasks(tasks: Sequence[GenerationTask], targets: Mapping[str, ChatTarget],
                    limits: Mapping[str, asyncio.Semaphore], header: str,
                    say: Callable[[str], None]) -> tuple[int, int]:
    """Every task submitted at once; each waits for a slot on each of its servers, so every queue stays full.

    Returns (rows stored, tasks failed). A failed task is logged and counted, and the others go on.
    """
    done = 0
    made = 0
    failed = 0
    started = time.perf_counter()

    async def one(task: GenerationTask) -> None:
        nonlocal done, made, failed
        semaphores = sorted({id(limits[m]): limits[m] for m in task.models if m in limits}.items())
        for _, semaphore in semaphores:  # always in one order: two dialogues never hold each other's slot
            await semaphore.acquire()
        try:
            stored = await task.run(targets)  # awaited first: `made += await …` would read `made` before the wait
        except Exception as error:  # one broken answer must not cost the night's others; a rerun retries it
            failed += 1
            say(f"{header}: failed · {task.label}: {error}")
            return
        finally:
            for _, semaphore in semaphores:
                semaphore.release()
        made += stored
        done += 1
        say(f"{header}: {done}/{len(tasks)} done · {task.label}")

    await asyncio.gather(*(one(task) for task in tasks))
    say(f"{header}: {made} generated in {time.perf_counter() - started:.1f} s"
        + (f", {failed} failed" if failed else ""))
    return made, failed


async def _stop_unneeded(workspace: Workspace, plan: GenerationPlan, next_index: int, ours: set[str],
                         say: Callable[[str], None]) -> None:
    """Stop the servers this job started that the next wave does not need (a dialogue's client may stay)."""
    waves = plan.waves.waves
    keep = set(waves[next_index].models) if next_index < len(waves) else set()
    for server_id in sorted(ours):
        server = get_server(workspace, server_id)
        if server.active and not keep.intersection(server.model_ids):
            say(f"mhbench: stopping server {server_id}")
            await asyncio.to_thread(stop_server, workspace, server_id, timeout=30.0)


async def pregenerate(workspace: Workspace, session_id: str, budget_gb: float | None = None) -> int:
    """Plan and generate what is missing; returns how many rows were stored."""

    plan = plan_generation(workspace, session_id, budget_gb)

    def say(text: str) -> None:
        print(text, flush=True)

    for line in plan.lines():
        say(line)
    return await run_plan(workspace, plan, say)


def start_pregeneration(workspace: Workspace, session_id: str, budget_gb: float | None = None) -> Job:
    """Start the detached job; it shows in ``mhbench jobs`` and the Models screen like the others."""

    session = get_session(workspace, session_id)
    job = new_job_dir(workspace, "pregenerate", session.id)
    argv = [sys.executable, "-m", "core.arena.pregenerate", str(workspace.root), session.id]
    if budget_gb is not None:
        argv += ["--memory-budget", str(budget_gb)]
    return start_job(workspace, "pregenerate", argv, source_id=session.id, job=job, env={"PYTHONUNBUFFERED": "1"})


async def _until_stopped(workspace: Workspace, session_id: str, budget_gb: float | None) -> int:
    """:func:`pregenerate`, cancelled by SIGTERM (the job's stop) so that its servers are stopped on the way out."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await pregenerate(workspace, session_id, budget_gb)


def main(argv: list[str]) -> int:
    budget: float | None = None
    if len(argv) == 4 and argv[2] == "--memory-budget":
        budget, argv = float(argv[3]), argv[:2]
    if len(argv) != 2:
        print("usage: python -m core.arena.pregenerate WORKSPACE SESSION [--memory-budget GB]", file=sys.stderr)
        return 2
    try:
        made = asyncio.run(_until_stopped(Workspace(Path(argv[0])), argv[1], budget))
    except MhbenchError as error:
        print(f"mhbench: error: {error}", file=sys.stderr)
        return 1
    except asyncio.CancelledError:
        print("stopped: the servers this job started are stopped", flush=True)
        return 143
    print(f"done: {made} responses generated", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
