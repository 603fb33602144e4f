"""The part of the Arena that picks what to rate: a new session, or one to resume, and the rater's id.

:class:`SessionChoice` is the base of :class:`~tui.arena.screen.ArenaScreen`: it asks for
a session (the setup form, or the list of sessions with each rater's progress), makes
sure a rater id is known, creates the session when asked (with its pre-generation job
and the template-parity warnings), then opens it: an
:class:`~core.arena.controller.ArenaController` at the rater's first unrated item, handed
to :meth:`SessionChoice.show_session`. The controller's state is readable from the screen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.screen import Screen

from core.base.errors import MhbenchError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from core.arena.answers import ModelServers
    from core.arena.controller import ArenaController
    from core.arena.ratings import RatingStore
    from core.arena.rubric import RatingForm, Side
    from core.arena.sessions import Item, Response, Session
    from core.base.workspace import Workspace
    from tui.arena.setup import SessionRequest


class SessionChoice(Screen[None]):
    """Choosing, creating, opening and pre-generating sessions; the subclass draws and rates the one opened."""

    def __init__(self) -> None:
        super().__init__()
        self.controller: ArenaController | None = None
        """The session being rated, once one is open."""
        self.rater: str | None = None
        self.store: RatingStore | None = None
        """One connection for every submit of this screen."""
        self.servers: ModelServers | None = None
        self.note = ""

    @property
    def workspace(self) -> Workspace:
        return self.app.workspace  # type: ignore[attr-defined, no-any-return]

    # --- the controller's state, read by the views (and by tests watching the screen) ---------

    @property
    def session(self) -> Session | None:
        return self.controller.session if self.controller else None

    @property
    def items(self) -> list[Item]:
        return self.controller.items if self.controller else []

    @property
    def index(self) -> int:
        return self.controller.index if self.controller else 0

    @property
    def responses(self) -> Mapping[Side, Response | None]:
        return self.controller.responses if self.controller else {"left": None, "right": None}

    @property
    def submitted(self) -> bool:
        return self.controller.submitted if self.controller else False

    @property
    def form(self) -> RatingForm | None:
        return self.controller.form if self.controller else None

    @work(thread=True, exclusive=True, group="arena-open")
    def open(self, session_id: str) -> None:
        from core.arena.controller import ArenaController
        from core.arena.ratings import RatingStore

        assert self.rater is not None
        try:
            if self.store is None:
                self.store = RatingStore(self.workspace)
            controller = ArenaController.open(self.workspace, session_id, self.rater, store=self.store)
        except MhbenchError as error:
            self.app.call_from_thread(self.notify, str(error), title="Open session", severity="error", timeout=15)
            return
        self.app.call_from_thread(self.show_session, controller)


    def show_session(self, controller: ArenaController) -> None:
        """Show the session just opened (the subclass draws it)."""
        raise NotImplementedError

    @work(thread=True, group="arena-load")
    def startup(self) -> None:
        from core.arena.ratings import last_rater
        from core.arena.sessions import list_sessions

        self.rater = self.rater or last_rater(self.workspace)
        sessions = list_sessions(self.workspace)
        self.app.call_from_thread(self.action_open_session if sessions else self.action_new_session)

    def action_new_session(self) -> None:
        from tui.arena.setup import ArenaSetup

        def chosen(request: SessionRequest | None) -> None:
            if request is not None:
                self.create(request)

        self.app.push_screen(ArenaSetup(self.rater), chosen)

    @work(thread=True, group="arena-load")
    def create(self, request: SessionRequest) -> None:
        from core.arena.prompts import register_prompt_set
        from core.arena.ratings import remember_rater
        from core.arena.sessions import create_session, parity_warnings

        try:
            rater = remember_rater(self.workspace, request.rater)
            prompt_set = register_prompt_set(self.workspace, request.prompts)
            session = create_session(
                self.workspace, prompt_set.id, *request.models, schedule=request.schedule,
                system_prompt=request.system_prompt, params=request.params, rubric=request.rubric,
                blind=request.blind, created_by=rater)
            if request.pregenerate:
                from core.arena.pregenerate import start_pregeneration

                start_pregeneration(self.workspace, session.id)
            for warning in parity_warnings(self.workspace, request.models):
                self.app.call_from_thread(self.notify, warning, title="Template parity", severity="warning",
                                          timeout=15)
        except MhbenchError as error:
            self.app.call_from_thread(self.notify, str(error), title="New session", severity="error", timeout=15)
            return
        self.rater = rater
        self.open(session.id)

    def action_open_session(self) -> None:
        from tui.shell.dialogs import Choose

        self.list_for_choice(Choose)

    @work(thread=True, group="arena-load")
    def list_for_choice(self, choose: type) -> None:
        from core.arena.sessions import list_sessions, session_summary

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
                self.action_new_session()
            else:
                self.ask_rater_then_open(session_id)

        # The newest session is highlighted: Enter resumes it.
        dialog = choose("Open a session (Esc: stay)", list(labels), initial=1)
        self.app.call_from_thread(self.app.push_screen, dialog, picked)

    def ask_rater_then_open(self, session_id: str) -> None:
        from tui.shell.dialogs import AskText

        if self.rater:
            self.open(session_id)
            return

        def given(name: str | None) -> None:
            if name:
                self.remember_and_open(name, session_id)

        self.app.push_screen(AskText("Your rater id (remembered for this workspace):", "r1"), given)

    @work(thread=True, group="arena-load")
    def remember_and_open(self, name: str, session_id: str) -> None:
        from core.arena.ratings import remember_rater

        try:
            self.rater = remember_rater(self.workspace, name)
        except MhbenchError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error")
            return
        self.open(session_id)

    @work(thread=True, group="arena-pregenerate")
    def start_pregeneration(self, session_id: str) -> None:
        from core.arena.pregenerate import start_pregeneration

        try:
            job = start_pregeneration(self.workspace, session_id)
            self.app.call_from_thread(self.notify, f"pre-generating in the background: job {job.id}")
        except MhbenchError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error")
