"""The steps after a queued run: merge, GGUF, quantise, a session, its answers.

Each step starts the job the Models screen and the CLI start (merge, convert, quantise,
pre-generation) or does a short thing at once (the session), and says what it made, so
the runner can wait for a job across its own restarts: an entry records the job's id,
and what each finished step made in its ``results``.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.arena.pregenerate import start_pregeneration
from core.arena.prompts import DEMO_SET, register_prompt_set
from core.arena.sessions import create_session, extend_session, list_sessions
from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from core.models import ancestry, register_adapter
from core.models.gguf import normalise_quant
from core.models.jobs import Job, convert_to_gguf, merge, quantize
from core.train.run_queue import QueueEntry, step_kind, step_value
from core.train.runs import checkpoints_on_disk, get_run

MODEL_STEPS = ("quantise", "gguf", "merge")
"""The steps that make a model, the last made first: the session gets the newest of them."""


@dataclass(frozen=True)
class StepStart:
    """A started step: the job to wait for, or (for a step done at once) what it made."""

    job: Job | None = None
    made: str | None = None


def check_step_values(steps: tuple[str, ...]) -> None:
    """What only this floor can check before anything is queued: the quantisation types."""
    for step in steps:
        if step_kind(step) == "quantise":
            normalise_quant(step_value(step))


def start_step(workspace: Workspace, entry: QueueEntry, step: str) -> StepStart:
    """Start ``step`` of ``entry`` on what the run and the earlier steps made."""
    kind, value = step_kind(step), step_value(step)
    if entry.run_id is None:
        raise MhbenchError(f"queue entry {entry.id} has no run.", fix="queue it again.")
    if kind == "merge":
        return StepStart(job=merge(workspace, entry.run_id))
    if kind == "gguf":
        return StepStart(job=convert_to_gguf(workspace, entry.results["merge"]))
    if kind == "quantise":
        return StepStart(job=quantize(workspace, entry.results["gguf"], value))
    if kind == "session":
        return StepStart(made=add_to_session(workspace, entry, value))
    if kind == "generate":
        return StepStart(job=generate_answers(workspace, entry.results["session"]))
    raise MhbenchError(f"unknown queue step '{step}'.", fix="queue it again with known steps.")


def generate_answers(workspace: Workspace, session_id: str) -> Job:
    """The one place the queue starts a session's answers, so the generation job can change behind it."""
    return start_pregeneration(workspace, session_id)


def newest_model(workspace: Workspace, entry: QueueEntry) -> str:
    """The last model the entry's steps made; without a model step, the run's adapter (its last checkpoint)."""
    for kind in MODEL_STEPS:
        if kind in entry.results:
            return entry.results[kind]
    assert entry.run_id is not None
    run = get_run(workspace, entry.run_id)
    found = checkpoints_on_disk(run.output_dir)
    if not found:
        raise MhbenchError(f"run {run.id} saved no checkpoint to compare.", path=run.output_dir,
                           fix="train with save_steps within max_steps, or merge first.")
    return register_adapter(workspace, found[-1][1], run.id).id


def add_to_session(workspace: Workspace, entry: QueueEntry, name: str) -> str:
    """Put the run's base and its newest model in the adaptive session ``name``, made on first use.

    Adaptive, because any pair can be drawn and models join as their runs finish; the base is
    there so that each fine-tune is compared with where it started.
    """
    model = newest_model(workspace, entry)
    chain = ancestry(workspace, model)
    base = next((found.id for found in chain if found.kind == "base"), None) or next(
        (found.base_id for found in chain if found.base_id), None)
    models = [base, model] if base else [model]
    existing = [session for session in list_sessions(workspace) if session.name == name]
    if existing:
        return extend_session(workspace, existing[0].id, models).id
    if len(models) < 2:
        raise MhbenchError(f"session {name} needs two models, and {model} has no base model in the catalog.",
                           fix="register the base (`mhbench models`), then queue again.")
    prompt_set = register_prompt_set(workspace, DEMO_SET)
    return create_session(workspace, prompt_set.id, *models, schedule="adaptive", name=name,
                          created_by=f"queue entry {entry.id}").id
