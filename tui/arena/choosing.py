"""The part of the Arena that picks what to rate: a new session, or one to resume, and the rater's id.

:class:`SessionChoice` is owned by :class:`~tui.arena.screen.ArenaScreen`: it asks for a
session (the setup form, or the list of sessions with each rater's progress), makes sure
a rater id is known, creates the session when asked (with its pre-generation job and the
template-parity warnings), then opens it: an :class:`~core.arena.controller.ArenaController`
at the rater's first unrated item, handed to the screen's ``show_session``. The rater
mode has its own chooser with the same moves (:class:`SessionChooser`), which opens
through the rater's door and refuses the operator's.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from core.arena.contamination import contamination_lines, record_session_check
from core.arena.controller import ArenaController
from core.arena.pregenerate import start_pregeneration
from core.arena.prompts import register_prompt_set
from core.arena.ratings import RatingStore, last_rater, remember_rater
from core.arena.sessions import create_session, list_sessions, parity_warnings, session_summary
from core.base.errors import MhbenchError

if TYPE_CHECKING:
    from textual.app import App
    from textual.notifications import SeverityLevel
    from textual.worker import Worker

    from core.base.workspace import Workspace
    from tui.arena.setup import SessionRequest


class ArenaHost(Protocol):
    """What a part of the Arena needs of its screen: the app, a notice, a worker, and the session to show."""

    rater: str | None

    @property
    def app(self) -> App[Any]: ...

    @property
    def workspace(self) -> Workspace: ...

    @property
    def controller(self) -> ArenaController | None: ...

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None: ...

    def run_worker(self, work: Callable[[], Any], name: str | None = "", group: str = "default",
                   description: str = "", exit_on_error: bool = True, start: bool = True,
                   exclusive: bool = False, thread: bool = False) -> Worker[Any]: ...

    def show_session(self, controller: ArenaController) -> None: ...

    def show_item(self) -> None: ...

    def show_titles(self) -> None: ...


class SessionChooser(Protocol):
    """The moves that pick a session: the operator's :class:`SessionChoice`, or the rater mode's door."""

    def startup(self) -> None: ...

    def new_session(self) -> None: ...

    def open_session(self) -> None: ...

    def open(self, session_id: str) -> None: ...

    def pregenerate(self, session_id: str) -> None: ...

    def close(self) -> None: ...


class SessionChoice:
    """Choosing, creating, opening and pre-generating sessions for the operator's Arena."""

    def __init__(self, host: ArenaHost) -> None:
        self.host = host
        self.store: RatingStore | None = None
        """One connection for every submit of the screen."""

    @property
    def app(self) -> App[Any]:
        return self.host.app

    @property
    def workspace(self) -> Workspace:
        return self.host.workspace

    def in_thread(self, call: Callable[[], None], group: str, exclusive: bool = False) -> None:
        self.host.run_worker(call, group=group, exclusive=exclusive, thread=True)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    # --- opening -------------------------------------------------------------------------------

    def open(self, session_id: str) -> None:
        self.in_thread(partial(self.open_blocking, session_id), "arena-open", exclusive=True)

    def open_blocking(self, session_id: str) -> None:
        rater = self.host.rater
        assert rater is not None
        try:
            if self.store is None:
                self.store = RatingStore(self.workspace)
            controller = ArenaController.open(self.workspace, session_id, rater, store=self.store)
        except MhbenchError as error:
            self.app.call_from_thread(self.host.notify, str(error), title="Open session", severity="error",
                                      timeout=15)
            return
        self.app.call_from_thread(self.host.show_session, controller)

    def startup(self) -> None:
        self.in_thread(self.startup_blocking, "arena-load")

    def startup_blocking(self) -> None:
        self.host.rater = self.host.rater or last_rater(self.workspace)
        sessions = list_sessions(self.workspace)
        self.app.call_from_thread(self.open_session if sessions else self.new_session)

    # --- a new session -------------------------------------------------------------------------

    def new_session(self) -> None:
        from tui.arena.setup import ArenaSetup  # the form's widgets load only when the form is asked for

        def chosen(request: SessionRequest | None) -> None:
            if request is not None:
                self.create(request)

        self.app.push_screen(ArenaSetup(self.host.rater), chosen)

    def create(self, request: SessionRequest) -> None:
        self.in_thread(partial(self.create_blocking, request), "arena-load")

    def create_blocking(self, request: SessionRequest) -> None:
        try:
            rater = remember_rater(self.workspace, request.rater)
            prompt_set = register_prompt_set(self.workspace, request.prompts)
            session = create_session(
                self.workspace, prompt_set.id, *request.models, schedule=request.schedule,
                system_prompt=request.system_prompt, params=request.params, rubric=request.rubric,
                blind=request.blind, reveal=request.reveal, created_by=rater)
            contamination = record_session_check(self.workspace, session.id)
            if contamination.contaminated:
                # A model scored on its own training prompts: the operator must see it before anyone rates.
                self.app.call_from_thread(
                    self.host.notify, "\n".join(contamination_lines(contamination)),
                    title="Trained on these prompts", severity="error", timeout=30)
            if request.pregenerate:
                start_pregeneration(self.workspace, session.id)
            for warning in parity_warnings(self.workspace, request.models):
                self.app.call_from_thread(self.host.notify, warning, title="Template parity", severity="warning",
                                          timeout=15)
        except MhbenchError as error:
            self.app.call_from_thread(self.host.notify, str(error), title="New session", severity="error",
                                      timeout=15)
            return
        self.host.rater = rater
        self.app.call_from_thread(self.open, session.id)

    # --- an existing session -------------------------------------------------------------------

    def open_session(self) -> None:
        self.in_thread(self.list_for_choice, "arena-load")

    def list_for_choice(self) -> None:
        from tui.shell.dialogs import Choose

        labels: dict[str, str | None] = {"＋ new session": None}
        for session in list_sessions(self.workspace)[:30]:
            summary = session_summary(self.workspace, session)
            done = ", ".join(f"{r} {n}/{summary['items']}" for r, n in summary["raters"].items()) or "not rated"
            kind = f" · {len(session.models)} models, {session.schedule}" if len(session.models) > 2 \
                or session.adaptive else ""
            labels[f"{session.name}{kind} · {session.created_at[:16]} · {done}"] = session.id

        def picked(label: str | None) -> None:
            if label is None:
                return
            session_id = labels[label]
            if session_id is None:
                self.new_session()
            else:
                self.ask_rater_then_open(session_id)

        # The newest session is highlighted: Enter resumes it.
        dialog = Choose("Open a session (Esc: stay)", list(labels), initial=1)
        self.app.call_from_thread(self.app.push_screen, dialog, picked)

    def ask_rater_then_open(self, session_id: str) -> None:
        from tui.shell.dialogs import AskText

        if self.host.rater:
            self.open(session_id)
            return

        def given(name: str | None) -> None:
            if name:
                self.in_thread(partial(self.remember_and_open, name, session_id), "arena-load")

        self.app.push_screen(AskText("Your rater id (remembered for this workspace):", "r1"), given)

    def remember_and_open(self, name: str, session_id: str) -> None:
        try:
            self.host.rater = remember_rater(self.workspace, name)
        except MhbenchError as error:
            self.app.call_from_thread(self.host.notify, str(error), severity="error")
            return
        self.app.call_from_thread(self.open, session_id)

    # --- pre-generation ------------------------------------------------------------------------

    def pregenerate(self, session_id: str) -> None:
        self.in_thread(partial(self.pregenerate_blocking, session_id), "arena-pregenerate")

    def pregenerate_blocking(self, session_id: str) -> None:
        try:
            job = start_pregeneration(self.workspace, session_id)
            self.app.call_from_thread(self.host.notify, f"pre-generating in the background: job {job.id}")
        except MhbenchError as error:
            self.app.call_from_thread(self.host.notify, str(error), severity="error")
