"""A turn item's conversation so far, above the two answers: the context the next turn is written for.

The turns are real people's words (or a model's, in a copied transcript), so they are shown as
plain text with escapes stripped, each labelled client or counsellor. The pane is short, scrolls
on its own (``k`` up, ``j`` down, or the mouse wheel) and starts at the end: the turns nearest the
one being answered matter most. An opening item has no history, and no pane.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from core.base.text import strip_control

if TYPE_CHECKING:
    from core.arena.prompts import Turn

SPEAKERS = {"user": "client", "assistant": "counsellor"}


def turn_text(turn: Turn) -> Text:
    text = Text(f"{SPEAKERS.get(turn.role, turn.role)}: ", style="bold" if turn.role == "user" else "bold cyan")
    text.append(strip_control(turn.content))
    return text


class HistoryPane(VerticalScroll, can_focus=False):
    """The earlier turns of the current item; hidden for an item without them."""

    def show(self, earlier: tuple[Turn, ...]) -> None:
        self.remove_children()
        self.display = bool(earlier)
        if earlier:
            self.border_subtitle = f"conversation so far: {len(earlier)} turns · k/j scroll"
            self.mount_all([Static(turn_text(turn), classes=f"history-{turn.role}", markup=False)
                            for turn in earlier])
            self.call_after_refresh(self.scroll_end, animate=False)
