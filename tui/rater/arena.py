"""The Arena as a rater has it: the same screen, less everything that is the operator's.

:class:`RaterArenaScreen` is :class:`~tui.arena.screen.ArenaScreen` opened on one session
through the app's :class:`~core.arena.door.RaterDoor`: its chooser, :class:`DoorChoice`,
opens only a session the rater may rate, every submit goes through the door's store
(bound to the rater), and answers come from the store or from servers already running,
never a server started here. It declares its own bindings (none inherited), so the keys
that create sessions, pre-generate or reach other sessions' progress do not exist here;
the chooser's moves behind them refuse even if called.
"""

from __future__ import annotations

from functools import partial
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
    from tui.arena.choosing import ArenaHost

NOT_HERE = "Not in the rater mode: ask your operator."
SESSION_DONE = "That was the last item: thank you. o goes back to your sessions."


def door_of(host: ArenaHost) -> RaterDoor:
    door = host.app.door  # type: ignore[attr-defined]
    assert door is not None, "the Arena is shown only to a bound rater"
    return door  # type: ignore[no-any-return]


class DoorChoice:
    """The rater mode's session choice: open through the door, back to the sessions list, nothing else."""

    def __init__(self, host: ArenaHost) -> None:
        self.host = host

    def startup(self) -> None:
        self.open_session()

    def open_session(self) -> None:
        self.host.app.action_my_sessions()  # type: ignore[attr-defined]

    def open(self, session_id: str) -> None:
        self.host.run_worker(partial(self.open_blocking, session_id), group="arena-open", exclusive=True,
                             thread=True)

    def open_blocking(self, session_id: str) -> None:
        app = self.host.app
        try:
            controller = door_of(self.host).open(session_id)
        except MhbenchError as error:
            app.call_from_thread(self.host.notify, str(error), title="Open session", severity="error", timeout=15)
            app.call_from_thread(app.pop_screen)
            return
        app.call_from_thread(self.host.show_session, controller)

    def new_session(self) -> None:
        self.host.notify(NOT_HERE, severity="warning")

    def pregenerate(self, session_id: str) -> None:
        self.host.notify(NOT_HERE, severity="warning")

    def close(self) -> None:
        """The door's store is the door's: nothing of the screen's to close."""


class RaterArenaScreen(ArenaScreen, inherit_bindings=False):
    """One of the rater's sessions, resumed at their first unrated item."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *RATING_BINDINGS,
        Binding("o", "my_sessions", "Sessions", id="rater.sessions"),
        Binding("f1", "rubric_help", "Rubric", id="arena.help"),
    ]

    def __init__(self, session_id: str) -> None:
        super().__init__(servers=LiveServersOnly, session_done=SESSION_DONE, chooser=DoorChoice, show_speed=False)
        self.session_id = session_id

    def on_mount(self, event: events.Mount) -> None:  # type: ignore[override]
        event.prevent_default()  # not the workbench Arena's mount: its subtitle names the modes, it lists sessions
        self.rater = door_of(self).rater
        self.sub_title = f"rater {self.rater} · F1 rubric · o your sessions"
        self.open(self.session_id)

    @work(exclusive=True, group="arena-connect")
    async def connect_servers(self, servers: ModelServers, session: Session) -> None:
        # No note: with stored answers no server is needed; a side that needs one says so itself.
        await servers.connect(self.workspace, session)

    def action_my_sessions(self) -> None:
        self.app.action_my_sessions()  # type: ignore[attr-defined]

    def action_rubric_help(self) -> None:
        self.app.action_rubric_help()  # type: ignore[attr-defined]
