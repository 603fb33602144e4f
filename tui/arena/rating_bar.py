"""The rubric at the bottom of the arena: every field, its answer, the cursor, and the keys to press.

Each side's fields take a line, with their names written out in full (at 80 columns the
longest, CPsyCoun's, still fit), in the active language (:mod:`core.base.i18n`).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from core.arena.rubric import PREFERENCE_LABELS, Field, RatingForm
from core.base.i18n import tr


def shown_answer(field: Field, value: int | str | None) -> str:
    """A field's answer as the bar and the buttons write it."""
    if value is None:
        return "?"
    if field.kind == "safety":
        return tr("safe") if value == 1 else tr("UNSAFE")
    return str(value)


class RatingBar(Static):
    """Draws a :class:`RatingForm`; the screen feeds it keys."""

    def show(self, form: RatingForm, submitted: bool = False, note: str = "") -> None:
        text = Text()
        for side, label in (("left", "A"), ("right", "B")):
            text.append(f"{label}: ", style="bold")
            for field in form.fields:
                if field.side != side:
                    continue
                value = form.answers.get(field.name)
                here = form.current is field and not submitted
                text.append(f"{tr(field.label)} ", style="dim")
                text.append(f"[{shown_answer(field, value)}]",
                            style="reverse bold" if here else ("" if value is not None else "yellow"))
                text.append(" ")
            flag = form.answers.get(f"{side}.{form.rubric.safety_key}")
            if flag == 0 and not any(f.side == side and f.key == form.rubric.safety_key for f in form.fields):
                text.append(tr("UNSAFE") + " ", style="bold red")
            if side == "left":
                text.append("\n")
        preference = form.preference
        here = form.current is not None and form.current.kind == "preference" and not submitted
        text.append("  " + tr("preference") + " ", style="dim")
        text.append(f"[{tr(PREFERENCE_LABELS[preference]) if preference else '?'}]",
                    style="reverse bold" if here else ("" if preference else "yellow"))
        if form.comment:
            text.append("  ✎", style="cyan")
        text.append("\n")
        if submitted:
            text.append(tr("saved · Enter/→ next item · e edit · f follow-up · p previous"), style="green")
        else:
            current = form.current
            hint = current.hint() if current else tr("Enter submits")
            text.append(f"{tr(current.label) if current else tr('done')}: {hint}", style="bold")
            text.append(" · " + tr("⌫ back · [ ] flag A/B unsafe · c comment · F1 rubric"), style="dim")
        if note:
            text.append(f"\n{note}", style="yellow")
        self.update(text)
