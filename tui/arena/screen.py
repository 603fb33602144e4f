"""Arena mode: blind side-by-side answers to one prompt at a time, rated from the keyboard.

Answers come from the store when another rater (or the pre-generate job) made them,
else they stream live from both servers at once, side by side, and are stored when
complete. Names stay hidden until the rating is saved. A submit is one SQLite
transaction in a thread worker; the screen moves on only when it is on disk.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Header, Static

from tui.arena.rating_bar import RatingBar
from tui.modes import mode_title
from tui.widgets.chat_pane import ChatPane, safe_text

if TYPE_CHECKING:
    from core.arena.ratings import RatingStore
    from core.arena.rubric import RatingForm, Side
    from core.arena.sessions import Item, Response, Session
    from core.base.workspace import Workspace
    from core.models.client import Message
    from core.models.targets import ChatTarget
    from tui.arena.setup import SessionRequest

SIDES: tuple[Side, Side] = ("left", "right")
FORM_KEYS = set("0123456789abtxsu")


class RubricHelp(ModalScreen[None]):
    """F1 in the arena: the rubric's text and the keys."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "dismiss", "Close", id="rubric.close")]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(self.text, markup=False)


ARENA_KEYS = """
Keys
  digits      score the highlighted field (A's fields, then B's)     ⌫  back one field
  s / u       safety: safe / unsafe (required when the prompt shows crisis signs)
  [ / ]       flag side A / B unsafe at any time
  a b t x     preference: A better, B better, tie, both bad
  Enter       save the rating (names are then revealed); Enter again goes on
  c comment   f follow-up (both models, each with its own history)   r regenerate (recorded)
  Esc         stop the answers streaming        p previous item     e edit a saved rating
  n new session   o open another session   g pre-generate this session's answers in the background
"""


class ArenaScreen(Screen[None]):
    """One session, one item at a time; resumes at the rater's first unrated item."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit_or_next", "Save/next", id="arena.submit"),
        Binding("escape", "stop", "Stop", id="arena.stop"),
        Binding("f", "follow_up", "Follow-up", id="arena.follow_up"),
        Binding("r", "regenerate", "Regen", id="arena.regenerate"),
        Binding("c", "comment", "Comment", show=False, id="arena.comment"),
        Binding("e", "edit", "Edit", show=False, id="arena.edit"),
        Binding("p", "previous", "Prev", show=False, id="arena.previous"),
        Binding("right", "next", "Next", show=False, id="arena.next"),
        Binding("n", "new_session", "New", id="arena.new"),
        Binding("o", "open_session", "Open", id="arena.open"),
        Binding("g", "pregenerate", "Pre-gen", show=False, id="arena.pregenerate"),
        Binding("f1", "rubric_help", "Rubric", id="arena.help"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.session: Session | None = None
        self.items: list[Item] = []
        self.index = 0
        self.rater: str | None = None
        self.store: RatingStore | None = None
        self.targets: dict[str, ChatTarget] = {}
        self.targets_ready = asyncio.Event()
        self.target_error: str | None = None
        self.form: RatingForm | None = None
        self.submitted = False
        self.turn = 1
        self.histories: dict[Side, list[Message]] = {"left": [], "right": []}
        self.responses: dict[Side, Response | None] = {"left": None, "right": None}
        self.generation: dict[Side, int] = {"left": 0, "right": 0}
        self.streams: dict[Side, object] = {}
        self.shown_at: str | None = None
        self.ready_since: float | None = None
        self.note = ""

    @property
    def workspace(self) -> Workspace:
        return self.app.workspace  # type: ignore[attr-defined, no-any-return]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="arena-body"):
            yield Static("press n for a new session, o to open one", id="arena-item", markup=False)
            with Horizontal(id="arena-panes"):
                for side, label in (("left", "A"), ("right", "B")):
                    with Vertical(classes="arena-side"):
                        yield Static(label, id=f"title-{side}", classes="arena-title", markup=False)
                        yield ChatPane(id=f"pane-{side}")
                        yield Static("", id=f"stats-{side}", classes="chat-status", markup=False)
            yield RatingBar("", id="rating-bar", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = mode_title("Arena")
        self.rater = getattr(self.app, "rater", None)
        self.startup()

    def on_unmount(self) -> None:
        if self.store is not None:
            self.store.close()

    @work(thread=True, group="arena-load")
    def startup(self) -> None:
        from core.arena.ratings import last_rater
        from core.arena.sessions import list_sessions

        self.rater = self.rater or last_rater(self.workspace)
        sessions = list_sessions(self.workspace)
        self.app.call_from_thread(self.action_open_session if sessions else self.action_new_session)

    # --- choosing a session --------------------------------------------------------------------

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
        from core.arena.sessions import create_session
        from core.base.errors import MhbenchError

        try:
            rater = remember_rater(self.workspace, request.rater)
            prompt_set = register_prompt_set(self.workspace, request.prompts)
            session = create_session(
                self.workspace, prompt_set.id, request.model_a, request.model_b, system_prompt=request.system_prompt,
                params=request.params, rubric=request.rubric, blind=request.blind, created_by=rater)
            if request.pregenerate:
                from core.arena.pregenerate import start_pregeneration

                start_pregeneration(self.workspace, session.id)
            for warning in parity_warnings(self.workspace, (request.model_a, request.model_b)):
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
            labels[f"{session.name} · {session.created_at[:16]} · {done}"] = session.id

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
        from core.base.errors import MhbenchError

        try:
            self.rater = remember_rater(self.workspace, name)
        except MhbenchError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error")
            return
        self.open(session_id)

    @work(thread=True, exclusive=True, group="arena-open")
    def open(self, session_id: str) -> None:
        from core.arena.ratings import RatingStore
        from core.arena.sessions import first_unrated, get_session, session_items

        assert self.rater is not None
        session = get_session(self.workspace, session_id)
        items = session_items(self.workspace, session.id)
        position = first_unrated(self.workspace, session.id, self.rater)
        if self.store is None:
            self.store = RatingStore(self.workspace)
        self.app.call_from_thread(self.show_session, session, items, position)

    def show_session(self, session: Session, items: list[Item], position: int | None) -> None:
        from tui.shell.heap import freeze_heap

        freeze_heap()  # the arena's imports are in now: keep the collector off them while answers stream
        self.session, self.items = session, items
        self.targets, self.target_error = {}, None
        self.targets_ready = asyncio.Event()
        self.connect_servers()
        done = position is None
        self.index = len(items) - 1 if done else next(i for i, item in enumerate(items) if item.position == position)
        if done:
            self.notify("You have rated every item of this session: showing the last one (p goes back).")
        self.load_item()

    @work(thread=True, exclusive=True, group="arena-connect")
    def connect_servers(self) -> None:
        from core.base.errors import MhbenchError
        from core.models.targets import connect_models

        session = self.session
        assert session is not None
        try:
            targets = connect_models(self.workspace, [session.model_a, session.model_b],
                                     progress=lambda text: self.app.call_from_thread(self.set_note, text))
            self.targets = {target.model_id: target for target in targets}
            self.app.call_from_thread(self.set_note, "")
        except MhbenchError as error:
            self.target_error = str(error)
            self.app.call_from_thread(self.set_note, f"✗ {error}")
        self.app.call_from_thread(self.targets_ready.set)

    def set_note(self, text: str) -> None:
        self.note = text
        self.redraw_bar()

    # --- one item ------------------------------------------------------------------------------

    @property
    def item(self) -> Item | None:
        return self.items[self.index] if self.session and 0 <= self.index < len(self.items) else None

    def side_model(self, side: Side) -> str:
        item = self.item
        assert item is not None
        return item.left_model if side == "left" else item.right_model

    def load_item(self) -> None:
        from core.arena.rubric import RatingForm, get_rubric

        item, session = self.item, self.session
        assert item is not None and session is not None
        self.stop_streams()
        self.turn, self.submitted = 1, False
        self.form = RatingForm(get_rubric(session.rubric), item.crisis)
        self.histories = {side: [{"role": "user", "content": item.prompt}] for side in SIDES}
        self.responses = {"left": None, "right": None}
        self.generation = {"left": 0, "right": 0}
        for side in SIDES:
            self.query_one(f"#pane-{side}", ChatPane).clear_transcript()
        header = Text()
        header.append(f"item {self.index + 1}/{len(self.items)} · {item.prompt_id}", style="bold")
        if item.tags:
            header.append(" · " + ", ".join(item.tags), style="dim")
        header.append(f" · rater {self.rater} · {session.rubric}\n", style="dim")
        if item.crisis:
            header.append("⚠ crisis signs in this prompt: the safety answer is required\n", style="bold red")
        header.append_text(safe_text(item.prompt))
        self.query_one("#arena-item", Static).update(header)
        self.show_titles(revealed=not session.blind)
        self.redraw_bar()
        self.fetch_turn(regenerate=False)
        self.load_saved_rating()

    @work(thread=True, group="arena-saved")
    def load_saved_rating(self) -> None:
        from core.arena.ratings import current_ratings

        item, session, rater = self.item, self.session, self.rater
        if item is None or session is None or rater is None:
            return
        for rating in current_ratings(self.workspace, session_id=session.id, rater=rater):
            if rating.item_position == item.position and rating.turn == 1:
                self.app.call_from_thread(self.show_saved, rating)

    def show_saved(self, rating: object) -> None:
        from core.arena.ratings import Rating

        assert isinstance(rating, Rating) and self.form is not None
        self.form.load(rating.left_scores, rating.right_scores, rating.preference, rating.comment)
        self.submitted = True
        self.show_titles(revealed=True)
        self.redraw_bar()

    def show_titles(self, revealed: bool) -> None:
        for side, label in (("left", "A"), ("right", "B")):
            name = f"{label} = {self.side_model(side)}" if revealed else f"{label} (hidden)"
            self.query_one(f"#title-{side}", Static).update(safe_text(name, "bold"))

    def redraw_bar(self) -> None:
        if self.form is not None:
            self.query_one(RatingBar).show(self.form, self.submitted, self.note)

    # --- answers -------------------------------------------------------------------------------

    def fetch_turn(self, regenerate: bool) -> None:
        self.ready_since = None
        self.shown_at = None
        for side in SIDES:
            pane = self.query_one(f"#pane-{side}", ChatPane)
            pane.clear_transcript()
            # The opening prompt is in the header; later turns are shown in each pane's own history.
            for message in self.histories[side][1:]:
                if message["role"] == "user":
                    pane.add_user(str(message["content"]))
                else:
                    pane.begin_answer()
                    pane.append(str(message["content"]))
                    pane.end_answer()
            self.streams[side] = self.answer(side, regenerate)

    @work(group="arena-answer")
    async def answer(self, side: Side, regenerate: bool) -> None:
        from core.arena.sessions import generate, next_generation, store_response, stored_response
        from core.models.client import ChatError

        session, model = self.session, self.side_model(side)
        assert session is not None
        messages = list(self.histories[side])
        pane = self.query_one(f"#pane-{side}", ChatPane)
        stats_line = self.query_one(f"#stats-{side}", Static)
        stored = None if regenerate else await asyncio.to_thread(stored_response, self.workspace, session, model,
                                                                   messages)
        if stored is None:
            generation = await asyncio.to_thread(next_generation, self.workspace, session, model, messages) \
                if regenerate else 0
            pane.begin_answer()
            stats_line.update(safe_text("waiting for the model…", "dim"))
            await self.targets_ready.wait()
            target = self.targets.get(model)
            if target is None:
                pane.end_answer(f"✗ {self.target_error or 'no server'}", "red")
                return
            try:
                text, stats = await generate(target.base_url, target.model, session, messages,
                                             api_key=target.api_key, on_text=pane.append)
            except ChatError as error:
                pane.end_answer(f"✗ {error}", "red")
                stats_line.update(safe_text("✗ failed: r regenerates", "red"))
                return
            except asyncio.CancelledError:
                pane.end_answer("(stopped: r regenerates)", "yellow")
                stats_line.update(safe_text("stopped", "yellow"))
                raise
            stored = await asyncio.to_thread(store_response, self.workspace, session, model, messages, text, stats,
                                             generation=generation, created_by=self.rater)
            pane.end_answer()
            if stored.text != text:  # another rater stored theirs first: everyone reads the same
                pane.replace_answer(stored.text)
        else:
            self.show_stored(pane, stored)
        self.responses[side] = stored
        self.generation[side] = stored.generation
        stats_line.update(describe_response(stored))
        if all(self.responses[s] is not None for s in SIDES):
            from core.base.processes import utc_now

            self.shown_at, self.ready_since = utc_now(), time.monotonic()

    def show_stored(self, pane: ChatPane, stored: Response) -> None:
        pane.begin_answer()
        pane.append(stored.text)
        pane.end_answer()

    def stop_streams(self) -> None:
        for worker in self.streams.values():
            cancel = getattr(worker, "cancel", None)
            if cancel is not None:
                cancel()
        self.streams = {}

    def action_stop(self) -> None:
        self.stop_streams()

    def action_regenerate(self) -> None:
        if self.item is None or self.submitted:
            self.notify("Regenerate before saving the rating.", severity="warning")
            return
        self.stop_streams()
        for side in SIDES:
            self.responses[side] = None
        self.fetch_turn(regenerate=True)

    # --- rating --------------------------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        if self.form is None or self.submitted or isinstance(self.app.screen, ModalScreen):
            return
        if event.character and event.character in FORM_KEYS:
            self.form.press(event.character)
        elif event.key == "backspace":
            self.form.back()
        elif event.character in ("[", "]"):
            self.form.toggle_unsafe("left" if event.character == "[" else "right")
        else:
            return
        event.stop()
        self.redraw_bar()

    def action_submit_or_next(self) -> None:
        if self.item is None or self.form is None:
            return
        if self.submitted:
            self.action_next()
            return
        if not self.form.complete:
            self.notify("Still to answer: " + ", ".join(self.form.missing()), severity="warning")
            return
        if any(self.responses[side] is None for side in SIDES):
            self.notify("Wait for both answers (or r to regenerate a failed one).", severity="warning")
            return
        self.submit()

    @work(thread=True, exclusive=True, group="arena-submit")
    def submit(self) -> None:
        from core.arena.ratings import RatingInput
        from core.base.errors import MhbenchError

        item, session, form, store = self.item, self.session, self.form, self.store
        assert item is not None and session is not None and form is not None and store is not None
        left, right = self.responses["left"], self.responses["right"]
        assert left is not None and right is not None and self.rater is not None
        preference = form.preference
        assert preference is not None
        rating = RatingInput(
            session_id=session.id, item_position=item.position, turn=self.turn, rater=self.rater,
            rubric=session.rubric, left_model=item.left_model, right_model=item.right_model,
            left_scores=form.scores("left"), right_scores=form.scores("right"), preference=preference,
            comment=form.comment, left_response_id=left.id, right_response_id=right.id, shown_at=self.shown_at,
            seconds_spent=round(time.monotonic() - self.ready_since, 3) if self.ready_since else None,
            crisis=item.crisis)
        try:
            store.submit(rating)
        except MhbenchError as error:
            self.app.call_from_thread(self.notify, str(error), title="Not saved", severity="error", timeout=15)
            return
        self.app.call_from_thread(self.after_submit)

    def after_submit(self) -> None:
        self.submitted = True
        self.show_titles(revealed=True)
        self.redraw_bar()

    def action_next(self) -> None:
        if self.item is None:
            return
        if not self.submitted:
            self.notify("Save the rating first (Enter), or p to go back.", severity="warning")
            return
        if self.index + 1 >= len(self.items):
            self.notify("That was the last item: the leaderboard is in Results (F6).", title="Session done")
            return
        self.index += 1
        self.load_item()

    def action_previous(self) -> None:
        if self.item is not None and self.index > 0:
            self.index -= 1
            self.load_item()

    def action_edit(self) -> None:
        if self.submitted and self.form is not None:
            self.submitted = False
            self.redraw_bar()
            self.notify("Editing: the saved version is kept for audit; Enter saves the new one.")

    def action_comment(self) -> None:
        from tui.shell.dialogs import AskText

        if self.form is None:
            return

        def given(text: str | None) -> None:
            if text is not None and self.form is not None:
                self.form.comment = text
                self.redraw_bar()

        self.app.push_screen(AskText("Comment on this comparison (optional):"), given)

    def action_follow_up(self) -> None:
        from tui.shell.dialogs import AskText

        if self.item is None:
            return
        if not self.submitted:
            self.notify("Rate this turn first; the follow-up goes to both models as the next turn.",
                        severity="warning")
            return

        def given(text: str | None) -> None:
            if not text:
                return
            from core.arena.rubric import RatingForm

            assert self.form is not None and self.item is not None
            for side in SIDES:
                answer = self.responses[side]
                assert answer is not None
                self.histories[side] += [{"role": "assistant", "content": answer.text},
                                         {"role": "user", "content": text}]
                self.responses[side] = None
            self.turn += 1
            self.submitted = False
            self.form = RatingForm(self.form.rubric, self.item.crisis)
            self.redraw_bar()
            self.fetch_turn(regenerate=False)

        self.app.push_screen(AskText("Follow-up (sent to both models, each with its own history):"), given)

    def action_pregenerate(self) -> None:
        if self.session is not None:
            self.start_pregeneration(self.session.id)

    @work(thread=True, group="arena-pregenerate")
    def start_pregeneration(self, session_id: str) -> None:
        from core.arena.pregenerate import start_pregeneration
        from core.base.errors import MhbenchError

        try:
            job = start_pregeneration(self.workspace, session_id)
            self.app.call_from_thread(self.notify, f"pre-generating in the background: job {job.id}")
        except MhbenchError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error")

    def action_rubric_help(self) -> None:
        from core.arena.rubric import DEFAULT_RUBRIC, get_rubric

        rubric = get_rubric(self.session.rubric) if self.session else DEFAULT_RUBRIC
        self.app.push_screen(RubricHelp(f"{rubric.title}\n\n{rubric.text}\n{ARENA_KEYS}"))


def parity_warnings(workspace: Workspace, model_ids: tuple[str, ...]) -> list[str]:
    """A model whose chat template differs from its source answers out of form: say so before rating."""
    from core.models import get_model

    warnings = []
    for model_id in model_ids:
        entry = get_model(workspace, model_id)
        verdict = entry.lineage.get("parity")
        if isinstance(verdict, dict) and not verdict.get("passed"):
            warnings.append(f"{model_id}: {verdict.get('summary')} Its answers may be worse than the model is.")
        elif verdict is None and entry.kind == "gguf":
            warnings.append(f"{model_id}: template parity not checked yet (Models, p).")
    return warnings


def describe_response(response: Response) -> Text:
    from core.models.client import speed_summary

    text = Text(speed_summary(response.tokens, response.ttft_s, response.tokens_per_s), style="dim")
    if response.generation:
        text.append(f" · regenerated ×{response.generation}")
    if response.flags:
        text.append(f"  ⚠ names {', '.join(response.flags)}", style="bold yellow")
    return text

