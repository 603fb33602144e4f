"""The rubric at the bottom of the arena: every field, its answer, the cursor, and the keys to press."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from core.arena.rubric import PREFERENCE_LABELS, RatingForm


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
                shown = "?" if value is None else ("safe" if value == 1 else "UNSAFE") if field.kind == "safety" \
                    else str(value)
                text.append(f"{field.label[:5]} ", style="dim")
                text.append(f"[{shown}]", style="reverse bold" if here else ("" if value is not None else "yellow"))
                text.append(" ")
            flag = form.answers.get(f"{side}.{form.rubric.safety_key}")
            if flag == 0 and not any(f.side == side and f.key == form.rubric.safety_key for f in form.fields):
                text.append("UNSAFE ", style="bold red")
            text.append("  ")
        preference = form.preference
        here = form.current is not None and form.current.kind == "preference" and not submitted
        text.append("pref ", style="dim")
        text.append(f"[{PREFERENCE_LABELS[preference] if preference else '?'}]",
                    style="reverse bold" if here else ("" if preference else "yellow"))
        if form.comment:
            text.append("  ✎", style="cyan")
        text.append("\n")
        if submitted:
            text.append("saved · Enter/→ next item · e edit · f follow-up · p previous", style="green")
        else:
            current = form.current
            hint = current.hint() if current else "Enter submits"
            text.append(f"{current.label if current else 'done'}: {hint}", style="bold")
            text.append(" · ⌫ back · [ ] flag A/B unsafe · c comment · F1 rubric", style="dim")
        if note:
            text.append(f"\n{note}", style="yellow")
        self.update(text)
