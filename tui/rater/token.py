"""The first screen of a browser tab (and of ``mhbench rate --token``): the rater's token, and nothing else.

It says what the token is and where it comes from, shows that something was typed or pasted
(masked, with a count), answers an empty Enter, and checks the token in a thread through the
global try limit (:func:`core.arena.token_tries.try_token`): wrong tokens are counted across
every tab and door, and once too many the door closes for a while, doubling each time. The
rater is told why and until when; a wrong or revoked token gets no app: no session, no name
and no count, only the question again.
"""

from __future__ import annotations

import sys
import time
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Static

from core.arena.token_tries import TokenCheck, clock_time, try_token
from core.base.errors import MhbenchError
from core.base.i18n import N_, tr
from tui.rater.language import speak_bindings

TOKEN_HELP = N_(
    "Welcome. This is the rating page of mhbench: you will compare two counselling answers to the same "
    "message and score them.\n\n"
    "To start, paste your personal token below and press Enter (or click Log in). The token is the text "
    "beginning with mhb_ that the operator of this study sent you privately (by e-mail or message) "
    "together with the link. It is yours alone: it tells the study which ratings are yours. Do not share it. "
    "If you have none, or it no longer works, ask the operator for a new one.")


class TokenScreen(Screen[None]):
    """Asks for the token the operator gave (``mhbench raters add``)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "app.quit", N_("Quit"), id="token.quit")]

    def __init__(self) -> None:
        super().__init__()
        speak_bindings(self)

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="token-box"):
            yield Static(tr(TOKEN_HELP), id="token-help", markup=False)
            yield Input(placeholder=tr("paste your token here: mhb_…"), password=True, id="token-input")
            yield Button(tr("Log in"), id="token-submit", compact=True)
            yield Static("", id="token-typed", markup=False)
            yield Static("", id="token-note", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def note(self, text: str) -> None:
        self.query_one("#token-note", Static).update(text)

    def on_input_changed(self, event: Input.Changed) -> None:
        # The field is masked: the count shows that the paste arrived, and whole.
        count = len(event.value.strip())
        self.query_one("#token-typed", Static).update(
            tr("{count} characters entered (a token has 47).").format(count=count) if count else "")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.submit()

    def submit(self) -> None:
        field = self.query_one(Input)
        if field.disabled:
            return
        token = field.value.strip()
        if not token:
            self.note(tr("Nothing was entered: paste the token the operator sent you (it begins with mhb_), "
                        "then press Enter."))
            field.focus()
            return
        field.value = ""
        field.disabled = True
        self.note(tr("Checking…"))
        self.check(token)

    @work(thread=True, exclusive=True, group="token")
    def check(self, token: str) -> None:
        result = try_token(self.app.workspace, token, self.app.source, time.time())  # type: ignore[attr-defined]
        self.app.call_from_thread(self.checked, result)

    def checked(self, result: TokenCheck) -> None:
        from tui.rater.sessions import RaterSessions

        field = self.query_one(Input)
        if result.rater is None:
            field.disabled = False
            field.focus()
            state = result.state
            if state.closed:
                again = time.time() + state.retry_after_s
                self.note(tr("Too many wrong tokens were tried on this server recently, so logging in is paused "
                            "for everyone until {time} (about {minutes} min). Please try again then; if your "
                            "token keeps failing, ask the operator for a new one.").format(
                    time=clock_time(again), minutes=max(1, round(state.retry_after_s / 60))))
                if self.app.source == "browser" and sys.__stderr__ is not None:  # type: ignore[attr-defined]
                    # textual-serve keeps a tab's stderr for the server's log: the operator sees it there too.
                    print(f"mhbench: {state.failures} wrong tokens in the last hour; the door is closed until "
                          f"{clock_time(again)}", file=sys.__stderr__, flush=True)
                return
            self.note(tr("✗ That token is not valid (or was revoked). Check that you pasted all of it; "
                        "otherwise ask the operator for a new one."))
            return
        try:
            self.app.bind_rater(result.rater)  # type: ignore[attr-defined]
        except MhbenchError as error:  # revoked since the check: said on the screen
            field.disabled = False
            self.note(str(error))
            return
        self.app.switch_screen(RaterSessions())
