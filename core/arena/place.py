"""A rater's place among a session's items, and the moves between them; the arena controller has one.

A round-robin session's items are all there from the start; an adaptive session's are
drawn one at a time, for this rater, when they go past the last one drawn:
:meth:`SessionPlace.draw` (blocking: it reads the ratings and records the draw, see
:mod:`core.arena.draws`) and then :meth:`SessionPlace.take` (a quick state change on
the caller's own thread, like every other move).

The place knows nothing of ratings: whoever holds it (:class:`~core.arena.controller.ArenaController`)
says when a move is allowed (the current item saved) and what a new current item starts with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.arena.draws import draw_item
from core.arena.prompts import get_prompt_set
from core.arena.schedule import capacity
from core.arena.sessions import first_unrated, get_session, session_items
from core.base.errors import MhbenchError

if TYPE_CHECKING:
    from core.arena.sessions import Item, Session
    from core.base.workspace import Workspace


class SessionPlace:
    """The items shown to one rater, the current one, and the moves between them."""

    def __init__(self, workspace: Workspace, session: Session, items: list[Item], rater: str, *,
                 index: int = 0, exhausted: bool = False, all_rated: bool = False,
                 prompt_count: int | None = None) -> None:
        if not items:
            raise MhbenchError(f"session {session.id} has no items left for rater '{rater}'.",
                               fix="every item was set aside by a report: ask the operator to look at them.")
        if not rater.strip():
            raise MhbenchError("rating needs a rater.", fix="give --rater NAME, or the rater asked at the start.")
        self.workspace, self.session, self.items, self.rater = workspace, session, items, rater
        self.index = min(max(index, 0), len(items) - 1)
        self.exhausted = exhausted or not session.adaptive
        """No further item can be drawn for this rater (always so for a round-robin session)."""
        self.all_rated = all_rated
        """Opened with every item already rated by this rater (the last one is current)."""
        self.prompt_count = prompt_count if prompt_count is not None else len({item.prompt_id for item in items})
        """The prompts of the session's set (what an adaptive session's comparisons are counted on)."""

    @classmethod
    def open(cls, workspace: Workspace, session_id: str, rater: str) -> SessionPlace:
        """Blocking: the session at ``rater``'s first unrated item (the last item when all are rated).

        In an adaptive session with nothing unrated left for ``rater``, their next item is drawn first.
        """

        if not rater.strip():
            raise MhbenchError("rating needs a rater.", fix="give --rater NAME, or the rater asked at the start.")
        session = get_session(workspace, session_id)
        items = session_items(workspace, session.id, rater)
        position = first_unrated(workspace, session.id, rater)
        exhausted = False
        if position is None and session.adaptive:
            drawn = draw_item(workspace, session, rater)
            if drawn is not None:
                items, position = [*items, drawn], drawn.position
            exhausted = drawn is None
        index = len(items) - 1 if position is None else \
            next((i for i, item in enumerate(items) if item.position == position), 0)
        prompt_count = len(get_prompt_set(workspace, session.prompt_set_id).prompts) if session.adaptive else None
        return cls(workspace, session, items, rater, index=index, exhausted=exhausted, all_rated=position is None,
                   prompt_count=prompt_count)

    @property
    def item(self) -> Item:
        return self.items[self.index]

    @property
    def at_last(self) -> bool:
        """The current item is the last one shown (or drawn) so far."""
        return self.index + 1 >= len(self.items)

    def forward(self) -> bool:
        """Go on to the next item; False at the last one."""
        if self.at_last:
            return False
        self.index += 1
        return True

    def back(self) -> bool:
        """Go back one item; False at the first."""
        if self.index == 0:
            return False
        self.index -= 1
        return True

    def set_aside(self) -> bool:
        """Leave the current item out of this rater's items (they reported a broken answer).

        The place stays at the item that followed it (else the one before); False when no item is left.
        """
        del self.items[self.index]
        self.index = min(self.index, max(len(self.items) - 1, 0))
        return bool(self.items)

    @property
    def can_draw(self) -> bool:
        """At the last item drawn, in an adaptive session with comparisons left: :meth:`draw` may go on."""
        return not self.exhausted and self.at_last

    def draw(self) -> Item | None:
        """Blocking: draw and record this rater's next item (adaptive); ``None`` when none is left.

        Call :meth:`take` with the result on the caller's own thread.
        """
        if not self.can_draw:
            raise MhbenchError("No item left to draw.")
        return draw_item(self.workspace, self.session, self.rater)

    def take(self, item: Item | None) -> bool:
        """Move onto a freshly drawn item; False (and the session done for this rater) when there is none."""
        if item is None:
            self.exhausted = True
            return False
        if item.session_id != self.session.id or any(known.position == item.position for known in self.items):
            return False
        self.items.append(item)
        self.index = len(self.items) - 1
        return True

    @property
    def count(self) -> int:
        """Items to rate: every item of a round-robin session; an adaptive one's every possible comparison."""
        if not self.session.adaptive or self.exhausted:
            return len(self.items)
        return max(len(self.items), capacity(self.session.models, self.prompt_count))
