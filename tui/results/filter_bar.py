"""The Results screen's filter line: ``1 rater: all  2 session: …  0 clears``, a set filter in reverse video."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from tui.results.hbars import clip

if TYPE_CHECKING:
    from core.results import FilterValues

FILTERS = ("rater", "session", "tag", "model", "kind")
"""In the order of their keys, 1 to 5."""
LABEL_WIDTH = 14


class FilterBar(Static):
    """Plain text (rater and session names are user text); :meth:`show` redraws it."""

    def show(self, filters: Mapping[str, str | None], values: FilterValues) -> None:
        text = Text()
        for number, name in enumerate(FILTERS, 1):
            value = filters[name]
            if name == "kind" and value is None and len(values.kinds) < 2:
                continue  # one kind rated: the line keeps its room at 80 columns
            text.append(f"{number} ", style="bold")
            text.append(f"{name}: ", style="dim")
            text.append("all" if value is None else clip(values.label(name, value), LABEL_WIDTH),
                        style="reverse" if value else "")
            text.append("  ")
        text.append("0 clears", style="dim")
        judges = bool(filters.get("judges"))
        text.append("  j judges: ", style="dim")
        text.append("in" if judges else "out", style="reverse" if judges else "")
        self.update(text)
