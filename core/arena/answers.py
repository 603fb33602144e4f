"""One side's answer for one turn: asked once, read from the store or streamed, then stored for everyone.

A :class:`PendingAnswer` is what the arena controller hands out when a turn starts: the
model, the exact history it is asked, whether it is a regenerate, and the text streamed
so far. :func:`obtain_answer` is the async path that fills it — the stored answer when
one exists (another rater's, or the pre-generate job's), else a live stream from the
model's server, stored when complete. It runs on the caller's event loop and moves every
database call to a thread, so the loop is never blocked; the controller's own state is
changed only by :meth:`~core.arena.controller.ArenaController.accept`, on the caller's side.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.arena.rubric import Side

if TYPE_CHECKING:
    from core.arena.controller import ArenaController
    from core.arena.sessions import Response
    from core.models.client import Message
    from core.models.targets import ChatTarget


@dataclass
class PendingAnswer:
    """One side's answer being fetched: what was asked, and the text streamed so far."""

    side: Side
    model_id: str
    messages: tuple[Message, ...]
    """The whole history the model is asked, up to the rater's last turn: the response's key."""
    regenerate: bool
    """A new generation is wanted: the stored answer is not reused."""
    ticket: int
    """The controller's turn counter when this was asked; an answer for an older turn is dropped."""
    parts: list[str] = field(default_factory=list)

    def add(self, piece: str) -> None:
        """Record one streamed piece."""
        self.parts.append(piece)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def streamed(self) -> bool:
        """Whether any text came live (rather than from the store)."""
        return bool(self.parts)


async def obtain_answer(
    controller: ArenaController,
    pending: PendingAnswer,
    *,
    target_for: Callable[[str], Awaitable[ChatTarget]],
    on_generating: Callable[[], None] | None = None,
    on_text: Callable[[str], None] | None = None,
) -> Response:
    """The stored answer for ``pending``, else one streamed from the model's server and stored.

    ``target_for`` waits for the model's server (and raises ``MhbenchError`` when there is
    none); ``on_generating`` is called once before a live stream starts, ``on_text`` with
    each piece. A :class:`~core.models.client.ChatError` from the server propagates; so does
    cancellation (the rater pressed Esc), leaving nothing stored.
    """
    from core.arena.sessions import generate

    stored = await asyncio.to_thread(controller.stored_answer, pending)
    if stored is not None:
        return stored
    if on_generating is not None:
        on_generating()
    target = await target_for(pending.model_id)

    def piece(text: str) -> None:
        pending.add(text)
        if on_text is not None:
            on_text(text)

    _, stats = await generate(target.base_url, target.model, controller.session, pending.messages,
                              api_key=target.api_key, on_text=piece)
    return await asyncio.to_thread(controller.store_answer, pending, stats)
