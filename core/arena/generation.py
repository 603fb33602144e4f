"""What a session owes before raters come: units of generation, each naming the models it needs served.

Opening and turn items owe one answer per (prompt, model); dialogue items owe one transcript per
(case, candidate), which needs the client model served beside the candidate. Whatever the kind,
the job that fills a session (``mhbench session generate``) sees only :class:`GenerationTask`s: it
plans which servers run together (waves that fit the memory budget), keeps each server's queue
full, and runs every task whose models are all up. A task stores what it makes and skips what is
already stored, so a killed job resumes where it was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from core.arena.prompts import Prompt, get_prompt_set
from core.arena.sessions import Session, session_items
from core.base.workspace import Workspace
from core.models.targets import ChatTarget


@dataclass(frozen=True)
class GenerationTask:
    """One unit of work of a session's generation."""

    label: str
    """What the job's log calls it, e.g. ``prompt p07 → qwen-lora`` or ``case c03 × qwen-lora``."""
    models: tuple[str, ...]
    """The catalog ids whose servers must all be up while it runs (a dialogue needs the client too)."""
    run: Callable[[Mapping[str, ChatTarget]], Awaitable[int]]
    """Does the work against the connected targets (by catalog id); returns how many rows it stored."""


def prompts_owed(workspace: Workspace, session: Session) -> list[tuple[Prompt, tuple[str, ...]]]:
    """Each row the session can show, in the set's order, with the models that may be asked on it.

    An adaptive session can draw any pair on any row, so every model is owed on every row; a
    round-robin session owes only the models of the items it drew.
    """
    prompts = get_prompt_set(workspace, session.prompt_set_id).prompts
    if session.adaptive:
        return [(prompt, session.models) for prompt in prompts]
    shown: dict[str, set[str]] = {}
    for item in session_items(workspace, session.id):
        shown.setdefault(item.prompt_id, set()).update((item.left_model, item.right_model))
    return [(prompt, tuple(m for m in session.models if m in shown[prompt.id]))
            for prompt in prompts if prompt.id in shown]
