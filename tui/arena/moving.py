"""The Arena's moves between items: next (drawing one when the schedule is adaptive), previous, and the end.

:class:`ItemMoves` is owned by :class:`~tui.arena.screen.ArenaScreen` and given the
screen as its host: the controller decides where the rater goes; an adaptive draw reads
the ratings so far in a thread worker, and the screen redraws only if the rater is
still in the session it was drawn for.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from core.base.errors import MhbenchError
from core.base.i18n import N_, tr

if TYPE_CHECKING:
    from core.arena.controller import ArenaController
    from core.arena.sessions import Item
    from tui.arena.choosing import ArenaHost

SESSION_DONE = N_("That was the last item: the leaderboard is in Results (F6).")
"""What the operator is told after the last item (the rater mode says its own)."""


class ItemMoves:
    """Next, previous and the session's end; the host draws the item moved to."""

    def __init__(self, host: ArenaHost, session_done: str = SESSION_DONE) -> None:
        self.host = host
        self.session_done_text = session_done

    def next(self) -> None:
        controller = self.host.controller
        if controller is None:
            return
        try:
            moved = controller.next_item()
        except MhbenchError as error:
            self.host.notify(str(error), severity="warning")
            return
        if moved:
            self.host.show_item()
        elif controller.can_draw:
            # Adaptive: the schedule picks the next pair from the ratings so far.
            self.host.run_worker(partial(self.draw_next, controller), group="arena-draw", exclusive=True,
                                 thread=True)
        else:
            self.session_done()

    def previous(self) -> None:
        controller = self.host.controller
        if controller is not None and controller.previous_item():
            self.host.show_item()

    def session_done(self) -> None:
        self.host.show_titles()  # the last draw came back empty: an ``end`` reveal may be due now
        self.host.notify(tr(self.session_done_text), title=tr("Session done"))

    def draw_next(self, controller: ArenaController) -> None:
        """In a thread: draw the adaptive session's next item."""
        try:
            item = controller.draw_next()
        except MhbenchError as error:
            self.host.app.call_from_thread(self.host.notify, str(error), title=tr("Next item"), severity="error",
                                           timeout=15)
            return
        self.host.app.call_from_thread(self.after_draw, controller, item)

    def after_draw(self, controller: ArenaController, item: Item | None) -> None:
        if controller is not self.host.controller:
            return
        if controller.take_drawn(item):
            self.host.show_item()
        elif item is None:
            self.session_done()
