"""A rater's sessions: only the ones open to them, with only their own progress.

:class:`StartScreen` settles who rates in a terminal (``--rater``, else the login's last
rater in this workspace, else asked); :class:`RaterSessions` lists the sessions the
door allows (:meth:`core.arena.door.RaterDoor.sessions`) and opens one in the Arena.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static

from core.base.errors import MhbenchError
from core.base.i18n import N_, tr
from tui.rater.language import speak_bindings
from tui.widgets.chat_pane import safe_text

if TYPE_CHECKING:
    from core.arena.door import RaterDoor, SessionEntry


class StartScreen(Screen[None]):
    """Terminal only: find or ask the rater id, then show their sessions."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("…", id="rater-start", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.find_rater()

    @work(thread=True, group="rater-start")
    def find_rater(self) -> None:
        from core.arena.ratings import last_rater

        rater = last_rater(self.app.workspace)  # type: ignore[attr-defined]
        self.app.call_from_thread(self.ask if rater is None else self.start, rater)

    def ask(self, _none: None = None) -> None:
        from tui.shell.dialogs import AskText

        def given(name: str | None) -> None:
            if name:
                self.remember(name)
            else:
                self.app.exit()

        self.app.push_screen(AskText(tr("Your rater id (remembered for this workspace):"), "r1"), given)

    @work(thread=True, group="rater-start")
    def remember(self, name: str) -> None:
        from core.arena.ratings import remember_rater

        try:
            rater = remember_rater(self.app.workspace, name)  # type: ignore[attr-defined]
        except MhbenchError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error")
            self.app.call_from_thread(self.ask)
            return
        self.app.call_from_thread(self.start, rater)

    def start(self, rater: str) -> None:
        try:
            self.app.bind_rater(rater)  # type: ignore[attr-defined]
        except MhbenchError as error:  # revoked: this rater id is not let in here either
            self.notify(str(error), severity="error", timeout=15)
            self.ask()
            return
        self.app.switch_screen(RaterSessions(getattr(self.app, "initial_session", None)))


class RaterSessions(Screen[None]):
    """The sessions open to this rater; Enter rates the highlighted one (at the first unrated item)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("g", "refresh", N_("Refresh"), id="rater.refresh"),
    ]

    def __init__(self, open_first: str | None = None) -> None:
        super().__init__()
        speak_bindings(self)
        self.open_first = open_first
        self.entries: list[SessionEntry] = []

    @property
    def door(self) -> RaterDoor:
        door = self.app.door  # type: ignore[attr-defined]
        assert door is not None, "the sessions list is shown only to a bound rater"
        return door  # type: ignore[no-any-return]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(tr("Your sessions (click one, or Enter rates the highlighted one):"), id="rater-title",
                     markup=False)
        yield OptionList(id="rater-sessions")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = tr("rater {rater} · your sessions").format(rater=self.door.rater)
        if self.open_first:
            self.open_session(self.open_first)
            self.open_first = None
        self.action_refresh()

    def on_screen_resume(self, _event: events.ScreenResume) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="rater-sessions")
    def load(self) -> None:
        entries = self.door.sessions()
        self.app.call_from_thread(self.show, entries)

    def show(self, entries: list[SessionEntry]) -> None:
        self.entries = entries
        options = self.query_one(OptionList)
        highlighted = options.highlighted
        options.clear_options()
        for entry in entries:
            state = tr("done") if entry.done else tr("{rated}/{items} rated").format(rated=entry.rated,
                                                                                    items=entry.items)
            options.add_option(safe_text(f"{entry.name} · {entry.created_at[:16]} · {state}"))
        if not entries:
            self.query_one("#rater-title", Static).update(
                tr("No session is open to you yet: ask your operator to assign you one."))
            return
        # The first session with something left to rate, unless the rater had moved the cursor.
        first_open = next((i for i, entry in enumerate(entries) if not entry.done), 0)
        options.highlighted = highlighted if highlighted is not None and highlighted < len(entries) else first_open
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.open_session(self.entries[event.option_index].id)

    def open_session(self, session_id: str) -> None:
        from tui.rater.arena import RaterArenaScreen

        self.app.push_screen(RaterArenaScreen(session_id))
