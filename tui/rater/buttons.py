"""The rating by mouse or touch: a button for every answer a key gives, under the two answers.

Per side, a row per field of the form (a score button per value, safe / unsafe for the
safety answer), then the preference (A better, B better, tie, both bad) and comment, save
and next. The ids say what a button does (``score-left-empathy-4``, ``safety-right-0``,
``pref-tie``, ``comment``, ``submit``, ``next``), so the screen acts on a press by its id
alone, through the same controller moves as the keys. The buttons never take the focus: a
click leaves the keys working exactly as before it.
"""

from __future__ import annotations

from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from core.arena.rubric import DEFAULT_RUBRIC, PREFERENCE_LABELS, RatingForm
from core.base.i18n import tr

SIDE_LETTERS = {"left": "A", "right": "B"}
ACTIONS = {"comment": "comment", "submit": "submit_or_next", "next": "next"}
"""The buttons that are screen actions, by id."""


class RateButton(Button, can_focus=False):
    """A one-line button that leaves the focus (and so the keys) where it was."""


def button_answer(button_id: str) -> tuple[str, int | str] | None:
    """The form field a button answers and its value (``score-left-empathy-4`` → ``left.empathy``, 4)."""
    kind, _dash, rest = button_id.partition("-")
    if kind == "pref":
        return "preference", rest
    if kind in ("score", "safety"):
        side, _dash, key_value = rest.partition("-")
        key, _dash, value = key_value.rpartition("-")
        if key and value.isdigit():
            return f"{side}.{key}", int(value)
    return None


class RatingButtons(Vertical):
    """The form's buttons; :meth:`build` makes them for a form's fields, :meth:`mark` shows its answers."""

    def __init__(self, *, id: str) -> None:
        super().__init__(id=id)
        self.shape: tuple[str, ...] = ()
        """The fields the buttons were made for: rebuilt only when an item asks others."""
        self.marked: tuple[RatingForm, bool] = (RatingForm(DEFAULT_RUBRIC, False), False)
        """The form and state last shown, marked again once new buttons are mounted."""

    def build(self, form: RatingForm) -> None:
        shape = tuple(field.name for field in form.fields)
        if shape != self.shape:
            self.shape = shape
            self.remove_children()
            self.mount_all(self.rows(form))
            # The new buttons are in once mounted: mark them then, as the form is by then.
            self.call_after_refresh(lambda: self.mark(*self.marked))
        self.mark(form, submitted=False)

    def rows(self, form: RatingForm) -> list[Horizontal]:
        rubric = form.rubric
        columns = []
        for side in ("left", "right"):
            lines = []
            for field in form.fields:
                if field.side != side or field.kind == "safety":
                    continue
                lines.append(Horizontal(
                    Static(f"{SIDE_LETTERS[side]} {tr(field.label)}", classes="rate-label", markup=False),
                    *(RateButton(str(value), id=f"score-{side}-{field.key}-{value}", compact=True)
                      for value in range(field.low, field.high + 1)), classes="rate-row"))
            if not rubric.safety_scored:  # asked, or a flag where it is not: a side can always be called unsafe
                lines.append(Horizontal(
                    Static(f"{SIDE_LETTERS[side]} {tr('safety')}", classes="rate-label", markup=False),
                    RateButton(tr("safe"), id=f"safety-{side}-{rubric.safety_key}-1", compact=True),
                    RateButton(tr("unsafe"), id=f"safety-{side}-{rubric.safety_key}-0", compact=True),
                    classes="rate-row"))
            columns.append(Vertical(*lines, classes="rate-side"))
        actions = Horizontal(
            Horizontal(*(RateButton(tr(label), id=f"pref-{value}", compact=True)
                         for value, label in PREFERENCE_LABELS.items()), classes="rate-row", id="rate-prefs"),
            Horizontal(RateButton(tr("Comment"), id="comment", compact=True),
                       RateButton(tr("Save"), id="submit", compact=True, variant="success"),
                       RateButton(tr("Next"), id="next", compact=True, variant="primary"),
                       classes="rate-row", id="rate-moves"),
            id="rate-actions")
        return [Horizontal(*columns, id="rate-sides"), actions]

    def mark(self, form: RatingForm, submitted: bool) -> None:
        """Highlight the answers given so far; a saved rating shows its answers and Next."""
        self.marked = (form, submitted)
        for button in self.query(RateButton):
            answer = button_answer(button.id or "")
            if answer is not None:
                name, value = answer
                button.set_class(form.answers.get(name) == value, "-chosen")
                button.disabled = submitted
            elif button.id == "submit":
                button.disabled = submitted
            elif button.id == "comment":
                button.set_class(bool(form.comment), "-chosen")
