"""F1 in the arena: the session's rubric and the keys that fill it."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from core.base.i18n import N_

RATING_KEY_LINES = N_("""\
  digits      score the highlighted field (A's fields, then B's)     ⌫  back one field
  s / u       safety: safe / unsafe (asked on every item; default-crisis-only: on crisis items only)
  [ / ]       flag side A / B unsafe at any time
  a b t x     preference: A better, B better, tie, both bad
  Enter       save the rating (names show as the session says); Enter again goes on
  c comment   f follow-up (both models, each with its own history)
  Esc         stop the answers streaming        p previous item     e edit a saved rating
  k / j       scroll a turn item's conversation so far back / forward (the mouse wheel too)
  l / w       a whole session: link or unlink the two transcripts' scrolling / switch column
""")
"""The keys of rating one item, for the operator's Arena and the rater mode alike."""

RATING_KEYS = "\nKeys\n" + RATING_KEY_LINES

ARENA_KEY_LINES = RATING_KEY_LINES + (
    "  r regenerate both answers (a new recorded version, shown on items not yet rated; a rated item keeps its own)\n"
    "  n new session   o open another session   g pre-generate this session's answers in the background\n")
"""The operator's Arena: the rating keys and the keys that choose sessions (F1's Arena section lists them too)."""

ARENA_KEYS = "\nKeys\n" + ARENA_KEY_LINES


class RubricHelp(ModalScreen[None]):
    """The rubric's text and the keys."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "dismiss", "Close", id="rubric.close")]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(self.text, markup=False)
