"""A turn item's conversation so far, above the two answers: the context the next turn is written for.

The turns are real people's words (or a model's, in a copied transcript), so they are shown as
plain text with escapes stripped, each labelled client or counsellor, in order, ending with the
client turn the two answers reply to (marked). The pane is short, scrolls on its own (``k`` up,
``j`` down, or the mouse wheel) and starts at the end: the turns nearest the one being answered
matter most. An opening item (or a turn item of one client message) has no pane: its words are in
the item's header.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from core.base.i18n import N_, tr
from core.base.text import strip_control

if TYPE_CHECKING:
    from core.arena.prompts import Turn

SPEAKERS = {"user": N_("client"), "assistant": N_("counsellor")}


def turn_text(turn: Turn, *, answered: bool = False) -> Text:
    """One turn, its speaker first; ``answered``: the client turn the two answers reply to."""
    speaker = tr(SPEAKERS.get(turn.role, turn.role))
    label = f"{speaker} ▸ {tr('answer this')}: " if answered else f"{speaker}: "
    text = Text(label, style="bold reverse" if answered else "bold" if turn.role == "user" else "bold cyan")
    text.append(strip_control(turn.content), style="bold" if answered else "")
    return text


class HistoryPane(VerticalScroll, can_focus=False):
    """The current turn item's conversation; hidden for an item without one."""

    def show(self, conversation: tuple[Turn, ...]) -> None:
        self.remove_children()
        self.display = bool(conversation)
        if conversation:
            self.border_subtitle = tr("conversation so far: {turns} turns · k/j scroll").format(turns=len(conversation))
            last = len(conversation) - 1
            self.mount_all([Static(turn_text(turn, answered=n == last), classes=f"history-{turn.role}", markup=False)
                            for n, turn in enumerate(conversation)])
            self.call_after_refresh(self.scroll_end, animate=False)
