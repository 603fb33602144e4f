"""The first screen of a browser tab: the rater's token, and nothing else until it is right.

The token is checked in a thread (:func:`core.arena.raters.authenticate`); a wrong or
revoked one gets no app: the tab shows no session, no name and no count, only the
question again. After :data:`MAX_TRIES` wrong tokens the tab's app ends.
"""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

MAX_TRIES = 5


class TokenScreen(Screen[None]):
    """Asks for the token the operator gave (``mhbench raters add``)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "app.quit", "Quit", id="token.quit")]

    def __init__(self) -> None:
        super().__init__()
        self.tries = 0

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="token-box"):
            yield Static("mhbench rater mode\n\nPaste the token your operator gave you, then Enter.", markup=False)
            yield Input(placeholder="mhb_…", password=True, id="token-input")
            yield Static("", id="token-note", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        token = event.value.strip()
        event.input.value = ""
        if token:
            event.input.disabled = True
            self.check(token)

    @work(thread=True, exclusive=True, group="token")
    def check(self, token: str) -> None:
        from core.arena.raters import authenticate

        rater = authenticate(self.app.workspace, token)  # type: ignore[attr-defined]
        self.app.call_from_thread(self.checked, rater)

    def checked(self, rater: str | None) -> None:
        from tui.rater.sessions import RaterSessions

        field = self.query_one(Input)
        if rater is None:
            self.tries += 1
            if self.tries >= MAX_TRIES:
                self.app.exit(message="mhbench: too many wrong tokens.")
                return
            field.disabled = False
            field.focus()
            self.query_one("#token-note", Static).update(
                "✗ That token is not valid (or was revoked). Ask your operator for a new one.")
            return
        self.app.bind_rater(rater)  # type: ignore[attr-defined]
        self.app.switch_screen(RaterSessions())
