"""The Arena as a rater has it: the same screen, less everything that is the operator's.

:class:`RaterArenaScreen` is :class:`~tui.arena.screen.ArenaScreen` opened on one session
through the app's :class:`~core.arena.door.RaterDoor`: the session must be one the
rater may rate, every submit goes through the door's store (bound to the rater), and
answers come from the store or from servers already running, never a server started
here. It declares its own bindings (none inherited), so the keys that create sessions,
pre-generate or reach other sessions' progress do not exist here; the actions behind
them refuse even if called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import events, work
from textual.binding import Binding, BindingType

from core.arena.door import LiveServersOnly
from core.base.errors import MhbenchError
from tui.arena.screen import RATING_BINDINGS, ArenaScreen

if TYPE_CHECKING:
    from core.arena.answers import ModelServers
    from core.arena.door import RaterDoor
    from core.arena.sessions import Session

NOT_HERE = "Not in the rater mode: ask your operator."


class RaterArenaScreen(ArenaScreen, inherit_bindings=False):
    """One of the rater's sessions, resumed at their first unrated item."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *RATING_BINDINGS,
        Binding("o", "my_sessions", "Sessions", id="rater.sessions"),
        Binding("f1", "rubric_help", "Rubric", id="arena.help"),
    ]
    SERVERS: ClassVar[type[ModelServers]] = LiveServersOnly
    SESSION_DONE = "That was the last item: thank you. o goes back to your sessions."

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id

    @property
    def door(self) -> RaterDoor:
        door = self.app.door  # type: ignore[attr-defined]
        assert door is not None, "the Arena is shown only to a bound rater"
        return door  # type: ignore[no-any-return]

    def on_mount(self, event: events.Mount) -> None:  # type: ignore[override]
        event.prevent_default()  # not the workbench Arena's mount: its subtitle names the modes, it lists sessions
        self.rater = self.door.rater
        self.sub_title = f"rater {self.rater} · F1 rubric · o your sessions"
        self.open(self.session_id)

    @work(thread=True, exclusive=True, group="arena-open")
    def open(self, session_id: str) -> None:
        try:
            controller = self.door.open(session_id)
        except MhbenchError as error:
            self.app.call_from_thread(self.notify, str(error), title="Open session", severity="error", timeout=15)
            self.app.call_from_thread(self.app.pop_screen)
            return
        self.app.call_from_thread(self.show_session, controller)

    @work(exclusive=True, group="arena-connect")
    async def connect_servers(self, servers: ModelServers, session: Session) -> None:
        # No note: with stored answers no server is needed; a side that needs one says so itself.
        await servers.connect(self.workspace, session)

    def action_my_sessions(self) -> None:
        self.app.action_my_sessions()  # type: ignore[attr-defined]

    def action_rubric_help(self) -> None:
        self.app.action_rubric_help()  # type: ignore[attr-defined]

    # --- the operator's moves: unbound here, and refused if reached anyway ----------------------

    def startup(self) -> None:  # type: ignore[override]
        self.action_my_sessions()

    def action_new_session(self) -> None:
        self.notify(NOT_HERE, severity="warning")

    def action_open_session(self) -> None:
        self.action_my_sessions()

    def action_pregenerate(self) -> None:
        self.notify(NOT_HERE, severity="warning")

    def list_for_choice(self, choose: type) -> None:  # type: ignore[override]
        self.action_my_sessions()

    def create(self, request: object) -> None:  # type: ignore[override]
        self.notify(NOT_HERE, severity="warning")

    def start_pregeneration(self, session_id: str) -> None:  # type: ignore[override]
        self.notify(NOT_HERE, severity="warning")

    def remember_and_open(self, name: str, session_id: str) -> None:  # type: ignore[override]
        self.notify(NOT_HERE, severity="warning")
