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
