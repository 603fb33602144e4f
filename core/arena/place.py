"""A rater's place among a session's items, and the moves between them (the base of the arena controller).

A round-robin session's items are all there from the start; an adaptive session's are
drawn one at a time, for this rater, when they go past the last one drawn:
:meth:`SessionPlace.draw_next` (blocking: it reads the ratings and records the draw, see
:mod:`core.arena.draws`) and then :meth:`SessionPlace.take_drawn` (a quick state change on
the caller's own thread, like every other move).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.arena.draws import draw_item
from core.arena.schedule import capacity
from core.base.errors import MhbenchError

if TYPE_CHECKING:
    from core.arena.sessions import Item, Session
    from core.base.workspace import Workspace


class SessionPlace:
    """The items shown to one rater, the current one, and the moves; the subclass resets an item's state."""

    submitted: bool
    """The current item's current turn is saved (kept by the subclass)."""

    def __init__(self, workspace: Workspace, session: Session, items: list[Item], rater: str, *,
                 index: int = 0) -> None:
        if not items:
            raise MhbenchError(f"session {session.id} has no items.", fix="create it again from a prompt set.")
        if not rater.strip():
            raise MhbenchError("rating needs a rater.", fix="give --rater NAME, or the rater asked at the start.")
        self.workspace, self.session, self.items, self.rater = workspace, session, items, rater
        self.index = min(max(index, 0), len(items) - 1)
        self.exhausted = not session.adaptive
        """No further item can be drawn for this rater (always so for a round-robin session)."""
        self.prompt_count = len({item.prompt_id for item in items})
        """The prompts of the session's set (what an adaptive session's comparisons are counted on)."""
        self.submitted = False

    def reset_item(self) -> None:
        """Put the current item back at its first turn (the subclass's state)."""
        raise NotImplementedError

    @property
    def item(self) -> Item:
        return self.items[self.index]

    def next_item(self) -> bool:
        """Go on to the next item once this one is saved; False at the last item (the session is done)."""
        if not self.submitted:
            raise MhbenchError("Save the rating first (Enter), or p to go back.")
        if self.index + 1 >= len(self.items):
            return False
        self.index += 1
        self.reset_item()
        return True

    @property
    def can_draw(self) -> bool:
        """At the last item drawn, saved, in an adaptive session with comparisons left: :meth:`draw_next` may go on."""
        return not self.exhausted and self.submitted and self.index + 1 >= len(self.items)

    def draw_next(self) -> Item | None:
        """Blocking: draw and record this rater's next item (adaptive); ``None`` when none is left.

        Call :meth:`take_drawn` with the result on the caller's own thread.
        """

        if not self.can_draw:
            raise MhbenchError("Save the rating first (Enter)." if not self.submitted else "No item left to draw.")
        return draw_item(self.workspace, self.session, self.rater)

    def take_drawn(self, item: Item | None) -> bool:
        """Move onto a freshly drawn item; False (and the session done for this rater) when there is none."""
        if item is None:
            self.exhausted = True
            return False
        if item.session_id != self.session.id or any(known.position == item.position for known in self.items):
            return False
        self.items.append(item)
        self.index = len(self.items) - 1
        self.reset_item()
        return True

    def advance(self) -> bool:
        """Blocking: the next item, drawn when needed; for callers with no event loop (tests, scripts)."""
        if self.next_item():
            return True
        return self.take_drawn(self.draw_next()) if self.can_draw else False

    def previous_item(self) -> bool:
        """Go back one item (to see or edit its rating); False at the first."""
        if self.index == 0:
            return False
        self.index -= 1
        self.reset_item()
        return True

    @property
    def count(self) -> int:
        """Items to rate: every item of a round-robin session; an adaptive one's every possible comparison."""
        if not self.session.adaptive:
            return len(self.items)

        return max(len(self.items), capacity(self.session.models, self.prompt_count)) if not self.exhausted \
            else len(self.items)
