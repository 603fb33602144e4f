"""A scrolling transcript of one chat: user turns and streamed answers, shown verbatim.

Model output is untrusted: it is shown as plain :class:`~rich.text.Text` (markup in it
is displayed, not interpreted) after terminal control sequences are stripped, and an
answer without the chat template's special tokens a server let through. Streamed
pieces are coalesced: the answer's widget is redrawn at most every ``REDRAW_S``, so a
fast model cannot flood the event loop.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from core.base.text import clean_answer, strip_control

REDRAW_S = 0.05


def safe_text(text: str, style: str = "") -> Text:
    """Untrusted text for a widget: controls stripped, no markup, no emoji codes."""
    return Text(strip_control(text), style=style, no_wrap=False)


def safe_answer(text: str) -> Text:
    """A model's answer for a widget: :func:`safe_text`, and no ``<|im_end|>``-like tokens nor what follows them."""
    return Text(clean_answer(text), no_wrap=False)


class ChatPane(VerticalScroll, can_focus=True):
    """The transcript; :meth:`begin_answer`, :meth:`append` and :meth:`end_answer` stream into it."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.answer_parts: list[str] = []
        self.answer_widget: Static | None = None
        self.last_redraw = 0.0

    @property
    def answer(self) -> str:
        """The answer being streamed (or the last one), raw."""
        return "".join(self.answer_parts)

    def add_user(self, text: str) -> None:
        self.mount(Static(safe_text(text), classes="chat-user", markup=False))
        self.scroll_end(animate=False)

    def add_note(self, text: str, style: str = "dim") -> None:
        self.mount(Static(safe_text(text, style), classes="chat-note", markup=False))
        self.scroll_end(animate=False)

    def begin_answer(self) -> None:
        self.answer_parts = []
        self.answer_widget = Static("…", classes="chat-answer", markup=False)
        self.mount(self.answer_widget)
        self.scroll_end(animate=False)

    def append(self, piece: str) -> None:
        self.answer_parts.append(piece)
        now = time.monotonic()
        if now - self.last_redraw >= REDRAW_S:
            self.redraw()

    def redraw(self) -> None:
        self.last_redraw = time.monotonic()
        if self.answer_widget is not None:
            self.answer_widget.update(safe_answer(self.answer))
            self.scroll_end(animate=False)

    def end_answer(self, note: str | None = None, style: str = "dim") -> None:
        self.redraw()
        self.answer_widget = None
        if note:
            self.add_note(note, style)

    def replace_answer(self, text: str) -> None:
        """Show ``text`` instead of the last answer (another rater's stored answer won the race)."""
        answers = self.query(".chat-answer")
        if answers:
            answers.last(Static).update(safe_answer(text))
        self.answer_parts = [text]

    def clear_transcript(self) -> None:
        self.answer_widget = None
        self.answer_parts = []
        self.remove_children()
