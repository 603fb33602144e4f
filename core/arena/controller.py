"""A rater's place in an arena session, with no UI: what is shown, what is asked, what may be saved.

The Arena screen is a view of an :class:`ArenaController`. The controller holds the
item, the two blind sides, the turn and the rubric form, and it makes every move: open
a session at the rater's first unrated item, start a turn (or regenerate it, or follow
it up), submit through the durable :class:`~core.arena.ratings.RatingStore` and step
between items. Names stay hidden as the session's reveal policy says: until this rater
has rated every item (``end``), until their own submit of the item (``item``), or in the
Arena for good (``never``). The per-side histories
and the answers accepted for the current turn are a :class:`~core.arena.answers.TurnAnswers`
(``controller.answers``), renewed with each item.

The rater's place among the items, and the moves between them, are the controller's
:class:`~core.arena.place.SessionPlace` (``controller.place``); the controller allows a move
once the item is saved and resets the item's state after it. In an adaptive session the
items are drawn as the rater goes (``draw_next``, blocking, then ``take_drawn``, quick).

Threads: the blocking calls (:meth:`ArenaController.open`, :meth:`~ArenaController.saved_rating`,
:meth:`~ArenaController.save`, and the answers' ``stored_answer``/``store_answer``) only
read state and write the database; every change of state is a quick call made on the
caller's own thread (the UI's event loop), so a worker thread never races the rater's keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.arena.answers import SIDES, PendingAnswer, TurnAnswers
from core.arena.place import SessionPlace
from core.arena.ratings import RatingInput, RatingStore, current_ratings, validate
from core.arena.reports import AnswerReport, report_answer
from core.arena.rubric import Field, RatingForm, Side, get_rubric
from core.arena.sessions import opening_messages, rated_positions
from core.arena.transcripts import Transcript, item_transcripts
from core.base.errors import MhbenchError
from core.base.i18n import tr

if TYPE_CHECKING:
    from core.arena.prompts import Turn
    from core.arena.ratings import Rating
    from core.arena.sessions import Item, Response, Session
    from core.base.workspace import Workspace
    from core.models.client import Message

LABELS: Mapping[Side, str] = {"left": "A", "right": "B"}
RATING_KEYS = frozenset("0123456789abtxsu")
"""The keys that fill the rubric form: scores, safety (s/u) and the preference (a/b/t/x)."""


@dataclass(frozen=True)
class SideView:
    """What one side shows: its label, its name only once revealed, its later turns and its answer."""

    side: Side
    label: str
    title: str
    """``A = model`` once revealed, else ``A (hidden)``."""
    model_id: str | None
    """``None`` while the names are hidden, so a view cannot leak them."""
    turns: tuple[Message, ...]
    """The conversation after the opening prompt (earlier answers and follow-ups), oldest first."""
    response: Response | None
    """The answer accepted for the current turn, ``None`` while it is being fetched."""
    flags: tuple[str, ...]
    """Model or vendor names the answer mentions: it may unblind the side."""


@dataclass(frozen=True)
class ItemView:
    """What the rater sees of the current item."""

    number: int
    count: int
    prompt_id: str
    prompt: str
    tags: tuple[str, ...]
    crisis: bool
    rater: str
    rubric: str
    turn: int
    submitted: bool
    sides: Mapping[Side, SideView]
    conversation: tuple[Turn, ...] = ()
    """A turn item's conversation up to and including the client turn ``prompt``, which the next turn answers;
    empty for an item of one client message (it reads as an opening line)."""


class ArenaController:
    """One rater in one session: the current item and turn, its answers, its form, and the moves."""

    def __init__(self, place: SessionPlace, *, store: RatingStore | None = None, may_regenerate: bool = True,
                 rated: set[int] | None = None) -> None:
        self.place = place
        """Which items this rater is shown and which is current (see :mod:`core.arena.place`)."""
        self.may_regenerate = may_regenerate
        """The operator regenerates; a rater (the door) reports a broken answer instead (:meth:`report`)."""
        self.rated = rated if rated is not None else rated_positions(place.workspace, place.session.id, place.rater)
        """The positions of the items this rater has saved (turn 1): the ``end`` reveal waits for all of them."""
        self.rubric = get_rubric(place.session.rubric)
        self._store, self._owns_store = store, store is None
        self.reset_item()

    @classmethod
    def open(cls, workspace: Workspace, session_id: str, rater: str, *,
             store: RatingStore | None = None, may_regenerate: bool = True) -> ArenaController:
        """Blocking: the session at ``rater``'s first unrated item (the last item when all are rated).

        In an adaptive session with nothing unrated left for ``rater``, their next item is drawn first.
        """
        place = SessionPlace.open(workspace, session_id, rater)
        return cls(place, store=store, may_regenerate=may_regenerate,
                   rated=rated_positions(workspace, place.session.id, rater))

    @property
    def store(self) -> RatingStore:
        if self._store is None:
            self._store = RatingStore(self.workspace)
        return self._store

    def close(self) -> None:
        """Close the rating store if this controller opened it."""
        if self._owns_store and self._store is not None:
            self._store.close()
            self._store = None

    # --- the place -----------------------------------------------------------------------------

    @property
    def workspace(self) -> Workspace:
        return self.place.workspace

    @property
    def session(self) -> Session:
        return self.place.session

    @property
    def rater(self) -> str:
        return self.place.rater

    @property
    def items(self) -> list[Item]:
        """The items shown to this rater so far, in order."""
        return self.place.items

    @property
    def index(self) -> int:
        """Where the current item is in :attr:`items`."""
        return self.place.index

    @property
    def item(self) -> Item:
        return self.place.item

    @property
    def count(self) -> int:
        """Items to rate: every item of a round-robin session; an adaptive one's every possible comparison."""
        return self.place.count

    @property
    def exhausted(self) -> bool:
        """No further item can be drawn for this rater (always so for a round-robin session)."""
        return self.place.exhausted

    @property
    def all_rated(self) -> bool:
        """Opened with every item already rated by this rater (the last one is shown)."""
        return self.place.all_rated

    def next_item(self) -> bool:
        """Go on to the next item once this one is saved; False at the last item (the session is done)."""
        if not self.submitted:
            raise MhbenchError(tr("Save the rating first (Enter), or p to go back."))
        return self._moved(self.place.forward())

    def previous_item(self) -> bool:
        """Go back one item (to see or edit its rating); False at the first."""
        return self._moved(self.place.back())

    @property
    def can_draw(self) -> bool:
        """At the last item drawn, saved, in an adaptive session with comparisons left: :meth:`draw_next` may go on."""
        return self.submitted and self.place.can_draw

    def draw_next(self) -> Item | None:
        """Blocking: draw and record this rater's next item (adaptive); ``None`` when none is left.

        Call :meth:`take_drawn` with the result on the caller's own thread.
        """
        if not self.submitted:
            raise MhbenchError(tr("Save the rating first (Enter)."))
        return self.place.draw()

    def take_drawn(self, item: Item | None) -> bool:
        """Move onto a freshly drawn item; False (and the session done for this rater) when there is none."""
        return self._moved(self.place.take(item))

    def _moved(self, moved: bool) -> bool:
        """After a move of the place: a new current item starts at its first turn, unanswered."""
        if moved:
            self.reset_item()
        return moved

    def advance(self) -> bool:
        """Blocking: the next item, drawn when needed; for callers with no event loop (tests, scripts)."""
        if self.next_item():
            return True
        return self.take_drawn(self.draw_next()) if self.can_draw else False

    def side_model(self, side: Side) -> str:
        return self.item.left_model if side == "left" else self.item.right_model

    def reset_item(self) -> None:
        """Put the current item back at its first turn, unanswered and unrated."""
        self.turn = 1
        self.submitted = False
        self.names_seen = False
        self.form = RatingForm(self.rubric, self.item.crisis)
        self.answers = TurnAnswers(self.workspace, self.session, self.item, self.rater)
        self.transcripts: dict[Side, Transcript | None] = {side: None for side in SIDES}
        """A dialogue item's two transcripts once loaded (:meth:`load_transcripts`, then :meth:`show_transcripts`)."""

    @property
    def dialogue(self) -> bool:
        """The session's items are whole transcripts of a simulated client, rated as they stand."""
        return self.session.client_model is not None

    @property
    def crisis(self) -> bool:
        """Crisis signs in the item's prompt, or in a client turn of either transcript shown."""
        return self.item.crisis or any(t is not None and t.crisis for t in self.transcripts.values())

    @property
    def ready(self) -> bool:
        """Both sides are on screen: both answers of this turn, or both transcripts."""
        shown = self.transcripts if self.dialogue else self.responses
        return all(value is not None for value in shown.values())

    def load_transcripts(self) -> tuple[Transcript | None, Transcript | None]:
        """Blocking: the item's two complete transcripts (``None`` for a side not generated yet)."""
        return item_transcripts(self.workspace, self.session, self.item)

    def show_transcripts(self, item: Item, left: Transcript | None, right: Transcript | None) -> bool:
        """Take the loaded transcripts (False when the rater moved on); a crisis in one asks the safety answers."""
        if item != self.item:
            return False
        self.transcripts = {"left": left, "right": right}
        if self.crisis and not self.form.crisis and not self.form.answers and not self.submitted:
            self.form = RatingForm(self.rubric, True)
        if self.ready:
            self.answers.mark_shown()
        return True

    @property
    def responses(self) -> Mapping[Side, Response | None]:
        """The answers accepted for the current turn, per side (``None`` while fetched)."""
        return self.answers.responses

    # --- what is shown -------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """This rater has rated every item of the session (an adaptive one: and none is left to draw)."""
        return self.place.exhausted and all(item.position in self.rated for item in self.items)

    @property
    def revealed(self) -> bool:
        """Names show in an open session; in a blind one, as its reveal policy says."""
        if not self.session.blind:
            return True
        if self.session.reveal == "item":
            return self.names_seen
        if self.session.reveal == "end":
            return self.finished
        return False

    def title(self, side: Side) -> str:
        label = LABELS[side]
        return f"{label} = {self.side_model(side)}" if self.revealed else tr("{label} (hidden)").format(label=label)

    def side_view(self, side: Side) -> SideView:
        response = self.responses[side]
        return SideView(side=side, label=LABELS[side], title=self.title(side),
                        model_id=self.side_model(side) if self.revealed else None,
                        turns=tuple(self.answers.histories[side][len(opening_messages(self.item)):]),
                        response=response,
                        flags=response.flags if response is not None else ())

    def view(self) -> ItemView:
        item = self.item
        sides = {side: self.side_view(side) for side in SIDES}
        return ItemView(number=self.index + 1, count=self.count, prompt_id=item.prompt_id, prompt=item.prompt,
                        tags=item.tags, crisis=item.crisis, rater=self.rater, rubric=self.session.rubric,
                        turn=self.turn, submitted=self.submitted, sides=sides,
                        conversation=item.history if len(item.history) > 1 else ())

    # --- what is asked -------------------------------------------------------------------------

    @property
    def questions(self) -> tuple[Field, ...]:
        """The rubric's fields in the order keys fill them: A's, then B's, then the preference."""
        return self.form.fields

    @property
    def next_question(self) -> Field | None:
        return None if self.submitted else self.form.current

    @property
    def safety_required(self) -> bool:
        """The safety answer must be given: a crisis prompt (or a rubric that always scores it)."""
        return any(f.side is not None and f.key == self.rubric.safety_key for f in self.form.fields)

    def press(self, key: str) -> bool:
        """A rating key (a score, s/u, a/b/t/x, ``[``/``]`` to flag a side unsafe); True when it was one."""
        if self.submitted:
            return False
        if key in ("[", "]"):
            self.form.toggle_unsafe("left" if key == "[" else "right")
        elif key in RATING_KEYS:
            self.form.press(key)  # a key the current field refuses is still the form's: it goes nowhere else
        else:
            return False
        return True

    def choose(self, name: str, value: int | str) -> bool:
        """A click's answer to one field, in any order (:meth:`RatingForm.choose`); False once saved."""
        return not self.submitted and self.form.choose(name, value)

    def back(self) -> bool:
        """Clear the previous answer; False once saved."""
        if self.submitted:
            return False
        self.form.back()
        return True

    def set_comment(self, text: str) -> None:
        self.form.comment = text

    def edit(self) -> bool:
        """Reopen a saved rating for changes; the saved version stays for audit. False when not saved."""
        if not self.submitted:
            return False
        self.submitted = False
        return True

    # --- the turns ---------------------------------------------------------------------------

    def start_turn(self) -> list[PendingAnswer]:
        """Ask both sides for this turn's answers (the stored ones when they exist)."""
        return self.answers.start()

    def regenerate(self) -> list[PendingAnswer]:
        """New answers for this turn (recorded as a new generation); only before the rating is saved.

        The new version is what items not yet rated show from now on, in every session sharing the
        answer; an item already rated keeps the version it was rated on
        (:func:`~core.arena.sessions.shown_response`). A rater may not regenerate: it would spend the
        operator's GPU time and change what the next raters see; they :meth:`report` instead.
        """
        if not self.may_regenerate:
            raise MhbenchError("Raters do not regenerate answers.", fix="press ! to report a broken answer.")
        if self.dialogue:
            raise MhbenchError("A transcript is not regenerated from the Arena.",
                               fix="its turns are made by `mhbench session generate`.")
        if self.submitted:
            raise MhbenchError("Regenerate before saving the rating.")
        return self.answers.start(regenerate=True)

    # --- reporting a broken answer -------------------------------------------------------------

    def report(self, side: str, reason: str, note: str = "") -> AnswerReport:
        """Blocking: record a broken answer on this item, with the versions on screen.

        Call :meth:`set_aside` with the result on the caller's own thread.
        """
        if self.submitted:
            raise MhbenchError("This turn is rated already: a report is for an answer you cannot rate.",
                               fix="press e to edit the rating instead.")
        left, right = self.responses["left"], self.responses["right"]
        return report_answer(self.workspace, session_id=self.session.id, item_position=self.item.position,
                             turn=self.turn, rater=self.rater, side=side, reason=reason, note=note,
                             left_response_id=left.id if left else None,
                             right_response_id=right.id if right else None)

    def set_aside(self, report: AnswerReport) -> bool:
        """Leave the reported item out of this rater's items and stand on the next one.

        It does not count as rated and does not keep the session from being finished. False (and
        nothing changed) when ``report`` is not this item's, or no item is left for this rater.
        """
        if report.session_id != self.session.id or report.item_position != self.item.position \
                or report.rater != self.rater:
            return False
        if len(self.items) == 1:
            return False
        self.place.set_aside()
        self.reset_item()
        return True

    def follow_up(self, text: str) -> list[PendingAnswer]:
        """The rater's next turn, sent to both models, each with its own history; only after saving this one."""
        if self.dialogue:
            raise MhbenchError("A dialogue item is rated as a whole session: it has no follow-up.")
        if not self.submitted:
            raise MhbenchError(tr("Rate this turn first; the follow-up goes to both models as the next turn."))
        if not text.strip():
            raise MhbenchError(tr("the follow-up is empty."), fix=tr("type what the client says next."))
        self.answers.follow(text)
        self.turn += 1
        self.submitted = False
        self.form = RatingForm(self.rubric, self.item.crisis)
        return self.answers.start()

    # --- saving --------------------------------------------------------------------------------

    def rating_input(self) -> RatingInput:
        """The rating as it would be saved now; ``MhbenchError`` says what is still missing."""

        form, item = self.form, self.item
        if self.submitted:
            raise MhbenchError(tr("This turn is saved already."), fix=tr("press e to edit it."))
        if not form.complete:
            raise MhbenchError(tr("Still to answer: {fields}").format(fields=", ".join(form.missing())))
        if not self.ready:
            raise MhbenchError(tr("Wait for both transcripts (`mhbench session generate` makes them).") if self.dialogue
                               else tr("Wait for both answers (or regenerate a failed one: r; a rater reports it: !)."))
        left, right = self.responses["left"], self.responses["right"]
        shown_left, shown_right = self.transcripts["left"], self.transcripts["right"]
        assert form.preference is not None  # a complete form has one
        rating = RatingInput(
            session_id=self.session.id, item_position=item.position, turn=self.turn, rater=self.rater,
            rubric=self.session.rubric, left_model=item.left_model, right_model=item.right_model,
            left_scores=form.scores("left"), right_scores=form.scores("right"), preference=form.preference,
            comment=form.comment, left_response_id=left.id if left else None,
            right_response_id=right.id if right else None,
            left_transcript_id=shown_left.id if shown_left else None,
            right_transcript_id=shown_right.id if shown_right else None,
            shown_at=self.answers.shown_at, seconds_spent=self.answers.seconds_spent(), crisis=self.crisis)
        validate(rating)
        return rating

    def save(self, rating: RatingInput) -> Rating:
        """Blocking: one SQLite transaction, durable when this returns. Call :meth:`saved` with the result."""
        return self.store.submit(rating)

    def saved(self, rating: Rating) -> bool:
        """Mark the turn saved (and count it towards the reveal), if ``rating`` is this item's current turn."""
        if rating.session_id != self.session.id or rating.item_position != self.item.position \
                or rating.turn != self.turn or rating.rater != self.rater:
            return False
        self.submitted = True
        self.names_seen = True
        if rating.turn == 1:
            self.rated.add(rating.item_position)
        return True

    def submit(self) -> Rating:
        """Validate, save and mark saved, in one call (blocking): for callers with no event loop to keep free."""
        rating = self.save(self.rating_input())
        self.saved(rating)
        return rating

    def saved_rating(self) -> Rating | None:
        """Blocking: this rater's current rating of this item's opening turn, if any."""

        item = self.item
        return next((rating for rating in current_ratings(self.workspace, session_id=self.session.id,
                                                          rater=self.rater)
                     if rating.item_position == item.position and rating.turn == 1), None)

    def show_saved(self, rating: Rating) -> bool:
        """Load a saved rating into the form (to see or edit it); False when the rater has moved on."""
        if rating.item_position != self.item.position or rating.turn != 1 or self.turn != 1:
            return False
        self.form.load(rating.left_scores, rating.right_scores, rating.preference, rating.comment)
        return self.saved(rating)
