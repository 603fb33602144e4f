"""The Arena as a rater has it: the same screen, less everything that is the operator's.

:class:`RaterArenaScreen` is :class:`~tui.arena.screen.ArenaScreen` opened on one session
through the app's :class:`~core.arena.door.RaterDoor`: its chooser, :class:`DoorChoice`,
opens only a session the rater may rate, every submit goes through the door's store
(bound to the rater), and answers come from the store or from servers already running,
never a server started here. It declares its own bindings (none inherited), so the keys
that create sessions, pre-generate, regenerate or reach other sessions' progress do not
exist here; the chooser's moves behind them refuse even if called (and the door's
controller refuses a regenerate). A broken answer is reported instead (``!``: which side,
a reason): the operator sees it, and the item is set aside for this rater.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, ClassVar

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Button

from core.arena.door import LiveServersOnly
from core.arena.reports import REPORT_REASONS
from core.base.errors import MhbenchError
from core.base.i18n import N_, tr
from tui.arena.screen import RATING_BINDINGS, ArenaScreen
from tui.rater.buttons import ACTIONS, RatingButtons, button_answer
from tui.rater.language import speak_bindings
from tui.shell.dialogs import AskText, Choose

if TYPE_CHECKING:
    from core.arena.answers import ModelServers
    from core.arena.controller import ArenaController
    from core.arena.door import RaterDoor
    from core.arena.reports import AnswerReport
    from core.arena.sessions import Session
    from tui.arena.choosing import ArenaHost

NOT_HERE = N_("Not in the rater mode: ask your operator.")
REPORT_SIDES = {N_("A"): "left", N_("B"): "right", N_("A and B"): "both"}
"""The sides a report names, as the rater sees them."""
SESSION_DONE = N_("That was the last item: thank you. o goes back to your sessions.")
NARROW = 70
"""Below this many columns (a phone, a 480-pixel window) the two answers stack, one above the other."""


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
            app.call_from_thread(self.host.notify, str(error), title=tr("Open session"), severity="error",
                                 timeout=15)
            app.call_from_thread(app.pop_screen)
            return
        app.call_from_thread(self.host.show_session, controller)

    def new_session(self) -> None:
        self.host.notify(tr(NOT_HERE), severity="warning")

    def pregenerate(self, session_id: str) -> None:
        self.host.notify(tr(NOT_HERE), severity="warning")

    def close(self) -> None:
        """The door's store is the door's: nothing of the screen's to close."""


class RaterArenaScreen(ArenaScreen, inherit_bindings=False):
    """One of the rater's sessions, resumed at their first unrated item."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *RATING_BINDINGS,
        Binding("exclamation_mark", "report", N_("Report"), id="rater.report"),
        Binding("o", "my_sessions", N_("Sessions"), id="rater.sessions"),
        Binding("f1", "rubric_help", N_("Rubric"), id="arena.help"),
    ]

    def __init__(self, session_id: str) -> None:
        super().__init__(servers=LiveServersOnly, session_done=SESSION_DONE, chooser=DoorChoice, show_speed=False)
        self.session_id = session_id
        speak_bindings(self)

    def waiting_text(self) -> str:
        return tr("Opening the session…")

    def compose_rating(self) -> ComposeResult:
        """A button for every rating key between the answers and the rubric line."""
        yield RatingButtons(id="rating-buttons")
        yield from super().compose_rating()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < NARROW, "-narrow")

    def show_item(self) -> None:
        super().show_item()
        if self.controller is not None:
            self.query_one(RatingButtons).build(self.controller.form)

    def redraw_bar(self) -> None:
        super().redraw_bar()
        if self.controller is not None and self.query_one(RatingButtons).shape:
            self.query_one(RatingButtons).mark(self.controller.form, self.controller.submitted)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """A click does what its key does: an answer to one field (in any order), or comment, save, next."""
        event.stop()
        controller = self.controller
        button_id = event.button.id or ""
        if controller is None:
            return
        if button_id in ACTIONS:
            getattr(self, f"action_{ACTIONS[button_id]}")()
            return
        answer = button_answer(button_id)
        if answer is None:
            return
        if controller.submitted:
            self.notify(tr("This item is saved: e edits the rating."), severity="warning")
        elif controller.choose(*answer):
            self.refusal = ""
            self.redraw_bar()

    def on_mount(self, event: events.Mount) -> None:  # type: ignore[override]
        event.prevent_default()  # not the workbench Arena's mount: its subtitle names the modes, it lists sessions
        self.rater = door_of(self).rater
        self.sub_title = tr("rater {rater} · F1 rubric · o your sessions").format(rater=self.rater)
        self.open(self.session_id)

    @work(exclusive=True, group="arena-connect")
    async def connect_servers(self, servers: ModelServers, session: Session) -> None:
        # No note: with stored answers no server is needed; a side that needs one says so itself.
        await servers.connect(self.workspace, session)

    def action_report(self) -> None:
        """Report a broken answer: which side, why (and a few words for "other"); the item is then set aside."""
        controller = self.controller
        if controller is None:
            return
        if controller.submitted:
            self.notify(tr("This item is rated already: e edits the rating."), severity="warning")
            return

        def reason_given(side: str, choice: str | None) -> None:
            if choice is None or controller is not self.controller:
                return
            reason = next(key for key, label in REPORT_REASONS.items() if tr(label) == choice)
            if reason != "other":
                self.send_report(controller, side, reason, "")
                return

            def note_given(note: str | None) -> None:
                if note and note.strip() and controller is self.controller:
                    self.send_report(controller, side, reason, note)

            self.app.push_screen(AskText(tr("What is wrong with it?")), note_given)

        def side_given(choice: str | None) -> None:
            if choice is not None and controller is self.controller:
                side = next(value for label, value in REPORT_SIDES.items() if tr(label) == choice)
                self.app.push_screen(Choose(tr("Why is it broken?"), [tr(label) for label in REPORT_REASONS.values()]),
                                     partial(reason_given, side))

        self.app.push_screen(Choose(tr("Which answer is broken?"), [tr(label) for label in REPORT_SIDES]), side_given)

    @work(thread=True, exclusive=True, group="arena-report")
    def send_report(self, controller: ArenaController, side: str, reason: str, note: str) -> None:
        try:
            report = controller.report(side, reason, note)
        except MhbenchError as error:
            self.app.call_from_thread(self.notify, str(error), title=tr("Not reported"), severity="error",
                                      timeout=15)
            return
        self.app.call_from_thread(self.after_report, controller, report)

    def after_report(self, controller: ArenaController, report: AnswerReport) -> None:
        if controller is not self.controller:
            return
        self.notify(tr("Reported to the operator; this item is set aside for you."), title=tr("Reported"))
        self.stop_streams()
        if controller.set_aside(report):
            self.show_item()
        else:
            self.moves.session_done()

    def action_my_sessions(self) -> None:
        self.app.action_my_sessions()  # type: ignore[attr-defined]

    def action_rubric_help(self) -> None:
        self.app.action_rubric_help()  # type: ignore[attr-defined]
