"""The Arena's moves between items: next (drawing one when the schedule is adaptive), previous, and the end.

:class:`ItemMoves` sits between :class:`~tui.arena.choosing.SessionChoice` (which opens a
session) and :class:`~tui.arena.screen.ArenaScreen` (which draws an item): the controller
decides where the rater goes; an adaptive draw reads the ratings so far in a thread worker,
and the screen redraws only if the rater is still in the session it was drawn for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work

from core.base.errors import MhbenchError
from tui.arena.choosing import SessionChoice

if TYPE_CHECKING:
    from core.arena.controller import ArenaController
    from core.arena.sessions import Item


class ItemMoves(SessionChoice):
    """Next, previous and the session's end; the subclass draws the item moved to."""

    SESSION_DONE = "That was the last item: the leaderboard is in Results (F6)."
    """What the rater is told after the last item (the rater mode says its own)."""

    def show_item(self) -> None:
        """Draw the current item (the subclass has the widgets)."""
        raise NotImplementedError

    def action_next(self) -> None:
        if self.controller is None:
            return
        try:
            moved = self.controller.next_item()
        except MhbenchError as error:
            self.notify(str(error), severity="warning")
            return
        if moved:
            self.show_item()
        elif self.controller.can_draw:
            self.draw_next(self.controller)  # adaptive: the schedule picks the next pair from the ratings so far
        else:
            self.session_done()

    def session_done(self) -> None:
        self.notify(self.SESSION_DONE, title="Session done")

    @work(thread=True, exclusive=True, group="arena-draw")
    def draw_next(self, controller: ArenaController) -> None:
        try:
            item = controller.draw_next()
        except MhbenchError as error:
            self.app.call_from_thread(self.notify, str(error), title="Next item", severity="error", timeout=15)
            return
        self.app.call_from_thread(self.after_draw, controller, item)

    def after_draw(self, controller: ArenaController, item: Item | None) -> None:
        if controller is not self.controller:
            return
        if controller.take_drawn(item):
            self.show_item()
        elif item is None:
            self.session_done()

    def action_previous(self) -> None:
        if self.controller is not None and self.controller.previous_item():
            self.show_item()

