"""The two answers of one turn: asked once, read from the store or streamed, then stored for everyone.

:class:`TurnAnswers` holds one item's per-side histories and the answers accepted for the
current turn (an item already rated shows the versions it was rated on). Each time a turn starts it hands out one :class:`PendingAnswer` per side:
the model, the exact history it is asked, whether it is a regenerate, and the text
streamed so far. :func:`obtain_answer` is the async path that fills one — the stored
answer when it exists (another rater's, or the pre-generate job's), else a live stream
from the model's server (:class:`ModelServers`), stored when complete. It runs on the
caller's event loop and moves every database call to a thread, so the loop is never
blocked; :meth:`TurnAnswers.accept`, on the caller's side, is the only state change.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.arena.rubric import Side
from core.arena.sessions import generate, next_generation, opening_messages, shown_response, store_response
from core.base.errors import MhbenchError
from core.base.processes import utc_now
from core.models.targets import connect_models

if TYPE_CHECKING:
    from core.arena.sessions import Item, Response, Session
    from core.base.workspace import Workspace
    from core.models.client import Message, StreamStats
    from core.models.targets import ChatTarget

SIDES: tuple[Side, Side] = ("left", "right")
_tickets = itertools.count(1)
"""One number per started turn, unique across items: an answer carrying an old one is dropped."""


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
    parts: list[str] = field(default_factory=list)

    def add(self, piece: str) -> None:
        """Record one streamed piece."""
        self.parts.append(piece)

    @property
    def text(self) -> str:
        return "".join(self.parts)


class TurnAnswers:
    """One item's conversation with both sides, and the answers accepted for its current turn."""

    def __init__(self, workspace: Workspace, session: Session, item: Item, rater: str) -> None:
        self.workspace, self.session, self.item, self.rater = workspace, session, item, rater
        # A follow-up goes on top of the item's history (a turn item's real conversation).
        self.histories: dict[Side, list[Message]] = {side: opening_messages(item) for side in SIDES}
        self.responses: dict[Side, Response | None] = {side: None for side in SIDES}
        self.ticket = 0
        self.shown_at: str | None = None
        """When both answers were first on screen (UTC), recorded with the rating."""
        self.ready_since: float | None = None

    def side_model(self, side: Side) -> str:
        return self.item.left_model if side == "left" else self.item.right_model

    def start(self, regenerate: bool = False) -> list[PendingAnswer]:
        """Forget the accepted answers and ask both sides again: one pending answer per side."""
        self.ticket = next(_tickets)
        self.responses = {side: None for side in SIDES}
        self.shown_at, self.ready_since = None, None
        return [PendingAnswer(side, self.side_model(side), tuple(self.histories[side]), regenerate, self.ticket)
                for side in SIDES]

    def follow(self, text: str) -> None:
        """Add each side's answer and the rater's next message to that side's own history."""
        for side in SIDES:
            answer = self.responses[side]
            if answer is None:
                raise MhbenchError("Wait for both answers before following up.")
            self.histories[side] += [{"role": "assistant", "content": answer.text}, {"role": "user", "content": text}]

    def is_current(self, pending: PendingAnswer) -> bool:
        return pending.ticket == self.ticket

    @property
    def ready(self) -> bool:
        return all(self.responses[side] is not None for side in SIDES)

    def seconds_spent(self) -> float | None:
        """Seconds since both answers were on screen: how long the rating took."""
        return round(time.monotonic() - self.ready_since, 3) if self.ready_since else None

    def stored_answer(self, pending: PendingAnswer) -> Response | None:
        """Blocking: the stored answer to what ``pending`` asks (never for a regenerate).

        An item already rated shows the version it was rated on, not a newer one
        (:func:`~core.arena.sessions.shown_response`).
        """

        if pending.regenerate:
            return None
        return shown_response(self.workspace, self.session, self.item.position, pending.model_id, pending.messages,
                              self.rater)

    def store_answer(self, pending: PendingAnswer, stats: StreamStats | None) -> Response:
        """Blocking: store the text streamed into ``pending``; a regenerate is the next generation.

        When another rater stored the same answer first, theirs is returned: everyone reads the same.
        """

        generation = next_generation(self.workspace, self.session, pending.model_id, pending.messages) \
            if pending.regenerate else 0
        return store_response(self.workspace, self.session, pending.model_id, pending.messages, pending.text, stats,
                              generation=generation, created_by=self.rater)

    def accept(self, pending: PendingAnswer, response: Response) -> bool:
        """Take ``response`` as its side's answer; False (and ignored) when the turn has moved on since."""

        if not self.is_current(pending):
            return False
        self.responses[pending.side] = response
        if self.ready:
            self.mark_shown()
        return True

    def mark_shown(self) -> None:
        """Both sides are on screen now: the rating's time starts."""
        self.shown_at, self.ready_since = utc_now(), time.monotonic()


class ModelServers:
    """A session's model servers (one per model, or shared): connected once (reused or started), awaited by answers."""

    def __init__(self) -> None:
        self.targets: dict[str, ChatTarget] = {}
        self.error: str | None = None
        self._connected = asyncio.Event()

    async def connect(self, workspace: Workspace, session: Session,
                      progress: Callable[[str], None] | None = None) -> None:
        """Find or start every model's server in a thread (``progress`` is called from it); never raises."""

        try:
            targets = await asyncio.to_thread(connect_models, workspace, list(session.models),
                                              progress=progress)
            self.targets = {target.model_id: target for target in targets}
        except MhbenchError as error:
            self.error = str(error)
        finally:
            self._connected.set()

    async def target_for(self, model_id: str) -> ChatTarget:
        """The model's server once connected; the error names no model (the sides are blind)."""
        await self._connected.wait()
        target = self.targets.get(model_id)
        if target is None:
            raise MhbenchError(self.error or "no server")
        return target


async def obtain_answer(
    answers: TurnAnswers,
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
    cancellation (the rater pressed Esc), leaving nothing stored. The caller accepts the result.
    """

    stored = await asyncio.to_thread(answers.stored_answer, pending)
    if stored is not None:
        return stored
    if on_generating is not None:
        on_generating()
    target = await target_for(pending.model_id)

    def piece(text: str) -> None:
        pending.add(text)
        if on_text is not None:
            on_text(text)

    _, stats = await generate(target.base_url, target.model, answers.session, pending.messages,
                              api_key=target.api_key, on_text=piece, stop=target.stop)
    return await asyncio.to_thread(answers.store_answer, pending, stats)
