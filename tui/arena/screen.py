"""Arena mode: blind side-by-side answers to one prompt at a time, rated from the keyboard.

The screen is a view of :class:`core.arena.controller.ArenaController`, which holds the
rater's place, the answers and the form and makes every move. The screen keeps the
widgets, the keys and the workers: answers come from the store when another rater (or
the pre-generate job) made them, else they stream live from both servers at once, side
by side (:mod:`tui.arena.side`), and are stored when complete. Names (and the speed lines
that would give them away) stay hidden as the session's reveal policy says. A submit is one SQLite transaction in a thread worker; the screen
moves on only when it is on disk. The screen owns two parts, each given the screen as its
host: choosing or creating a session (:class:`~tui.arena.choosing.SessionChoice`, or the
rater mode's own chooser) and moving to the next or previous item
(:class:`~tui.arena.moving.ItemMoves`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Header, Static

from core.arena.answers import ModelServers
from core.arena.reports import session_reports
from core.base.errors import MhbenchError
from core.base.i18n import N_, tr
from tui.arena.choosing import SessionChoice, SessionChooser
from tui.arena.dialogue import DialogueView
from tui.arena.history import HistoryPane
from tui.arena.moving import SESSION_DONE, ItemMoves
from tui.arena.rating_bar import RatingBar
from tui.arena.side import ArenaSide
from tui.modes import mode_title
from tui.widgets.chat_pane import safe_text

if TYPE_CHECKING:
    from collections.abc import Mapping

    from core.arena.answers import PendingAnswer
    from core.arena.controller import ArenaController
    from core.arena.ratings import Rating, RatingInput
    from core.arena.reports import AnswerReport
    from core.arena.rubric import Field, RatingForm, Side
    from core.arena.sessions import Item, Response, Session
    from core.arena.transcripts import Transcript
    from core.base.workspace import Workspace

SIDES: tuple[Side, Side] = ("left", "right")


RATING_BINDINGS: list[BindingType] = [
    Binding("enter", "submit_or_next", N_("Save/next"), id="arena.submit"),
    Binding("escape", "stop", N_("Stop"), id="arena.stop"),
    Binding("f", "follow_up", N_("Follow-up"), id="arena.follow_up"),
    Binding("c", "comment", N_("Comment"), show=False, id="arena.comment"),
    Binding("e", "edit", N_("Edit"), show=False, id="arena.edit"),
    Binding("p", "previous", N_("Prev"), show=False, id="arena.previous"),
    Binding("right", "next", N_("Next"), show=False, id="arena.next"),
    Binding("k", "scroll_history(-1)", N_("History up"), show=False, id="arena.history_up"),
    Binding("j", "scroll_history(1)", N_("History down"), show=False, id="arena.history_down"),
]
"""The keys of rating one item: the operator's Arena and the rater mode both have exactly these.

Regenerate is the operator's alone (a rater reports a broken answer instead: ``!``, :mod:`tui.rater.arena`)."""


class ArenaScreen(Screen[None]):
    """One session, one item at a time; resumes at the rater's first unrated item."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *RATING_BINDINGS,
        Binding("r", "regenerate", "Regen", id="arena.regenerate"),
        Binding("n", "new_session", "New", id="arena.new"),
        Binding("o", "open_session", "Open", id="arena.open"),
        Binding("g", "pregenerate", "Pre-gen", show=False, id="arena.pregenerate"),
        Binding("f1", "rubric_help", "Rubric", id="arena.help"),
    ]

    def __init__(self, *, servers: type[ModelServers] = ModelServers, session_done: str = SESSION_DONE,
                 chooser: Callable[[ArenaScreen], SessionChooser] = SessionChoice, show_speed: bool = True) -> None:
        super().__init__()
        self.show_speed = show_speed
        """Speed lines under revealed answers (the operator's); the rater mode never shows them."""
        self.controller: ArenaController | None = None
        """The session being rated, once one is open."""
        self.rater: str | None = None
        self.servers_kind = servers
        """How the screen reaches the session's servers (the rater mode's only reuses running ones)."""
        self.servers: ModelServers | None = None
        self.note = ""
        self.header_text = Text()
        """The current item's header, as drawn before any report marker."""
        self.refusal = ""
        """What the last key the rubric refused should have been (a digit at a safety field: s or u)."""
        self.choice = chooser(self)
        self.moves = ItemMoves(self, session_done)

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

    # --- widgets -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="arena-body"):
            yield Static(self.waiting_text(), id="arena-item", markup=False)
            yield HistoryPane(id="arena-history")
            with Horizontal(id="arena-panes"):
                yield ArenaSide("left", "A", show_speed=self.show_speed)
                yield ArenaSide("right", "B", show_speed=self.show_speed)
            yield DialogueView(id="arena-dialogue")
            yield from self.compose_rating()
        yield Footer(compact=True)

    def waiting_text(self) -> str:
        """The item line before a session is open."""
        return "press n for a new session, o to open one"

    def compose_rating(self) -> ComposeResult:
        """What the rater answers with, under the answers: the rating line (the rater mode adds buttons)."""
        yield RatingBar("", id="rating-bar", markup=False)

    def side(self, side: Side) -> ArenaSide:
        return next(widget for widget in self.query(ArenaSide) if widget.side == side)

    def on_mount(self) -> None:
        self.query_one(DialogueView).display = False
        self.sub_title = mode_title("Arena")
        self.rater = getattr(self.app, "rater", None)
        self.startup()

    def on_unmount(self) -> None:
        self.choice.close()

    # --- choosing a session (the chooser's moves) ----------------------------------------------

    def startup(self) -> None:
        self.choice.startup()

    def open(self, session_id: str) -> None:
        self.choice.open(session_id)

    def action_new_session(self) -> None:
        self.choice.new_session()

    def action_open_session(self) -> None:
        self.choice.open_session()

    def action_pregenerate(self) -> None:
        if self.controller is not None:
            self.choice.pregenerate(self.controller.session.id)

    def show_session(self, controller: ArenaController) -> None:
        from tui.shell.heap import freeze_heap

        freeze_heap()  # the arena's imports are in now: keep the collector off them while answers stream
        self.stop_streams()
        self.controller = controller
        self.servers = self.servers_kind()
        self.connect_servers(self.servers, controller.session)
        if controller.all_rated:
            self.notify(tr("You have rated every item of this session: showing the last one (p goes back)."))
        self.show_item()

    @work(exclusive=True, group="arena-connect")
    async def connect_servers(self, servers: ModelServers, session: Session) -> None:
        await servers.connect(self.workspace, session,
                              progress=lambda text: self.app.call_from_thread(self.set_note, text))
        self.set_note(f"✗ {servers.error}" if servers.error else "")

    def set_note(self, text: str) -> None:
        self.note = text
        self.redraw_bar()

    # --- drawing -------------------------------------------------------------------------------

    def show_item(self) -> None:
        """Draw the current item from scratch and fetch its answers (and the rater's saved rating)."""
        controller = self.controller
        assert controller is not None
        view = controller.view()
        header = Text()
        header.append(tr("item {number}/{count}").format(number=view.number, count=view.count)
                      + f" · {view.prompt_id}", style="bold")
        if view.tags:
            header.append(" · " + ", ".join(view.tags), style="dim")
        header.append(" · " + tr("rater {rater}").format(rater=view.rater) + f" · {view.rubric}\n", style="dim")
        if view.crisis:
            header.append(tr("⚠ crisis signs in this prompt: the safety answer is required") + "\n", style="bold red")
        if view.conversation:  # a turn item's client turn ends its conversation, in the pane below
            header.rstrip()
        else:
            header.append_text(safe_text(view.prompt))
        self.refusal = ""
        self.header_text = header
        self.query_one("#arena-item", Static).update(header)
        self.query_one(HistoryPane).show(view.conversation)
        self.show_titles()
        self.redraw_bar()
        self.query_one("#arena-panes").display = not controller.dialogue
        self.query_one(DialogueView).display = controller.dialogue
        if controller.dialogue:
            self.query_one(DialogueView).show(None, None)
            self.load_transcripts(controller, controller.item)
        else:
            self.fetch(controller.start_turn())
        self.load_saved_rating(controller)
        if controller.may_regenerate:
            self.load_reports(controller, controller.item.position)

    @work(thread=True, group="arena-reports")
    def load_reports(self, controller: ArenaController, position: int) -> None:
        """The operator's marker: raters reported a broken answer on this item (``mhbench session show`` lists all)."""
        reports = session_reports(self.workspace, controller.session.id, position)
        if reports:
            self.app.call_from_thread(self.show_reports, controller, position, reports)

    def show_reports(self, controller: ArenaController, position: int, reports: list[AnswerReport]) -> None:
        if controller is not self.controller or controller.item.position != position:
            return
        header = self.header_text.copy()
        # A rater's note is free text: shown verbatim, escapes stripped.
        header.append_text(safe_text("\n⚑ reported broken: " + "; ".join(report.describe() for report in reports)
                                     + " · r regenerates (items already rated keep their version)", "bold yellow"))
        self.query_one("#arena-item", Static).update(header)

    @work(thread=True, group="arena-transcripts")
    def load_transcripts(self, controller: ArenaController, item: Item) -> None:
        left, right = controller.load_transcripts()
        self.app.call_from_thread(self.show_transcripts, controller, item, left, right)

    def show_transcripts(self, controller: ArenaController, item: Item, left: Transcript | None,
                         right: Transcript | None) -> None:
        """A dialogue item's transcripts on screen; a crisis in a client turn marks the item."""
        if controller is not self.controller or not controller.show_transcripts(item, left, right):
            return
        self.query_one(DialogueView).show(left, right)
        if controller.crisis and not item.crisis:
            self.header_text.append_text(safe_text(
                "\n⚠ crisis signs in a client turn (⚠ below): the safety answer is required", "bold red"))
            self.query_one("#arena-item", Static).update(self.header_text)
        self.redraw_bar()

    def show_titles(self) -> None:
        """The sides' titles and the lines under their answers, as the reveal policy lets them show now."""
        if self.controller is not None:
            self.query_one(DialogueView).show_titles(self.controller.title("left"), self.controller.title("right"))
            for side in SIDES:
                self.side(side).show_title(self.controller.title(side))
                self.side(side).show_stats(self.controller)

    def redraw_bar(self) -> None:
        if self.controller is not None:
            self.query_one(RatingBar).show(self.controller.form, self.controller.submitted,
                                           "\n".join(filter(None, (self.refusal, self.note))))

    @work(thread=True, group="arena-saved")
    def load_saved_rating(self, controller: ArenaController) -> None:
        rating = controller.saved_rating()
        if rating is not None:
            self.app.call_from_thread(self.show_saved, controller, rating)

    def show_saved(self, controller: ArenaController, rating: Rating) -> None:
        if controller is self.controller and controller.show_saved(rating):
            self.show_titles()
            self.redraw_bar()

    # --- answers -------------------------------------------------------------------------------

    def fetch(self, pending: list[PendingAnswer]) -> None:
        controller, servers = self.controller, self.servers
        assert controller is not None and servers is not None
        for answer in pending:
            side = self.side(answer.side)
            side.show_turns(controller.side_view(answer.side))
            side.fetch(controller, answer, servers.target_for)

    def stop_streams(self) -> None:
        for side in SIDES:
            self.side(side).stop()

    def action_stop(self) -> None:
        self.stop_streams()

    def action_scroll_history(self, direction: int) -> None:
        """Scroll a turn item's conversation by most of its height (k back, j forward)."""
        pane = self.query_one(HistoryPane)
        pane.scroll_relative(y=direction * max(1, pane.size.height - 1), animate=False)

    def answers_coming(self) -> bool:
        """Some side is still fetching or streaming its answer (not stopped, failed or done)."""
        return any(self.side(side).fetching for side in SIDES)

    def action_regenerate(self) -> None:
        if self.controller is None:
            return
        try:
            pending = self.controller.regenerate()
        except MhbenchError as error:
            self.notify(str(error), severity="warning")
            return
        self.fetch(pending)

    # --- rating --------------------------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        controller = self.controller
        if controller is None or isinstance(self.app.screen, ModalScreen):
            return
        asked, before = controller.next_question, form_state(controller.form)
        if event.key == "backspace":
            handled = controller.back()
        elif event.character:
            handled = controller.press(event.character)
        else:
            return
        if handled:
            event.stop()
            refused = event.key != "backspace" and form_state(controller.form) == before
            self.refusal = refusal(asked, event.character) if refused else ""
            self.redraw_bar()

    def action_submit_or_next(self) -> None:
        controller = self.controller
        if controller is None:
            return
        if controller.submitted:
            self.action_next()
            return
        if controller.dialogue and not controller.ready:
            self.notify("Both transcripts must be generated before this item is rated "
                        "(`mhbench session generate`).", severity="warning")
            return
        if not controller.ready and not self.answers_coming():
            # Nothing runs (Esc stopped it, or a server failed): waiting would wait forever.
            remedy = tr("press r to regenerate them") if controller.may_regenerate else tr("press ! to report them")
            self.notify(tr("The answers were stopped or failed, so there is nothing to rate yet: {remedy}.").format(
                remedy=remedy), severity="warning")
            return
        try:
            rating = controller.rating_input()
        except MhbenchError as error:
            self.notify(str(error), severity="warning")
            return
        self.submit(controller, rating)

    @work(thread=True, exclusive=True, group="arena-submit")
    def submit(self, controller: ArenaController, rating: RatingInput) -> None:
        try:
            saved = controller.save(rating)
        except MhbenchError as error:
            self.app.call_from_thread(self.notify, str(error), title=tr("Not saved"), severity="error", timeout=15)
            return
        self.app.call_from_thread(self.after_submit, controller, saved)

    def after_submit(self, controller: ArenaController, saved: Rating) -> None:
        if controller is self.controller and controller.saved(saved):
            self.show_titles()
            self.redraw_bar()

    def action_next(self) -> None:
        self.moves.next()

    def action_previous(self) -> None:
        self.moves.previous()

    def action_edit(self) -> None:
        if self.controller is not None and self.controller.edit():
            self.redraw_bar()
            self.notify(tr("Editing: the saved version is kept for audit; Enter saves the new one."))

    def action_comment(self) -> None:
        from tui.shell.dialogs import AskText

        controller = self.controller
        if controller is None:
            return

        def given(text: str | None) -> None:
            if text is not None and controller is self.controller:
                controller.set_comment(text)
                self.redraw_bar()

        self.app.push_screen(AskText(tr("Comment on this comparison (optional):")), given)

    def action_follow_up(self) -> None:
        from tui.shell.dialogs import AskText

        controller = self.controller
        if controller is None:
            return
        if not controller.submitted:
            self.notify(tr("Rate this turn first; the follow-up goes to both models as the next turn."),
                        severity="warning")
            return

        def given(text: str | None) -> None:
            if not text or controller is not self.controller:
                return
            try:
                pending = controller.follow_up(text)
            except MhbenchError as error:
                self.notify(str(error), severity="warning")
                return
            self.redraw_bar()
            self.fetch(pending)

        self.app.push_screen(AskText(tr("Follow-up (sent to both models, each with its own history):")), given)

    def action_rubric_help(self) -> None:
        from core.arena.rubric import DEFAULT_RUBRIC
        from tui.arena.help import ARENA_KEYS, RubricHelp

        rubric = self.controller.rubric if self.controller else DEFAULT_RUBRIC
        self.app.push_screen(RubricHelp(f"{rubric.title}\n\n{rubric.text}\n{ARENA_KEYS}"))


def form_state(form: RatingForm) -> tuple[dict[str, int | str], int]:
    return dict(form.answers), form.cursor


def refusal(asked: Field | None, key: str | None) -> str:
    """What to press instead of ``key``, which the rubric's current field refused (a digit at a safety field)."""
    if asked is None or not key:
        return ""
    side = {"left": "A ", "right": "B "}.get(asked.side or "", "")
    return tr("{key} is not an answer to {field}: press {hint}.").format(key=repr(key), field=side + tr(asked.label),
                                                                        hint=asked.hint())
