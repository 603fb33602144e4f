"""Horizontal bars in plain Unicode, with a confidence interval: readable over SSH at 80 columns.

Each bar runs from the axis start to the value in eighth blocks; the part of the bar
below the interval's lower bound is solid, the part inside the interval is faded, and a
whisker ``─┤`` runs on to the upper bound. Labels are untrusted (model ids) and are
appended as plain text, never parsed as markup. The bars are redrawn for the width on
every render, so a resize just works.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

EIGHTHS = " ▏▎▍▌▋▊▉"
LABEL_WIDTH = 24


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    low: float | None = None
    high: float | None = None
    text: str = ""
    """What is printed after the bar (the value and its interval)."""


def clip(label: str, width: int) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


class HBars(Widget):
    """A titled list of horizontal bars; call :meth:`show` with new data."""

    DEFAULT_CSS = """
    HBars { height: auto; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = ""
        self.bars: tuple[Bar, ...] = ()
        self.note = ""
        self.span: tuple[float, float] | None = None

    def show(self, title: str, bars: Sequence[Bar], *, span: tuple[float, float] | None = None,
             note: str = "") -> None:
        """Replace the bars; ``span`` fixes the axis (e.g. a rubric's 1–5), else it fits the data."""
        self.title, self.bars, self.span, self.note = title, tuple(bars), span, note
        self.refresh(layout=True)

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return 2 + max(1, len(self.bars)) + (2 if self.note else 0)

    def axis(self) -> tuple[float, float]:
        if self.span is not None:
            return self.span
        finite = [v for b in self.bars for v in (b.value, b.low, b.high) if v is not None and math.isfinite(v)]
        if not finite:
            return 0.0, 1.0
        low, high = min(finite), max(finite)
        margin = (high - low) * 0.1 or abs(high) * 0.1 or 1.0
        return low - margin, high + margin

    def render(self) -> Text:
        out = Text()
        out.append(self.title + "\n\n", style="bold")
        if not self.bars:
            out.append("nothing to draw yet", style="dim")
            return out
        width = max(20, self.size.width or 80)
        label_width = min(LABEL_WIDTH, max(len(b.label) for b in self.bars))
        text_width = max(len(b.text) for b in self.bars)
        bar_width = max(6, width - label_width - text_width - 3)
        start, stop = self.axis()
        scale = bar_width / (stop - start) if stop > start else 0.0

        def cells(value: float | None) -> float:
            if value is None or not math.isfinite(value):
                return 0.0
            return min(float(bar_width), max(0.0, (value - start) * scale))

        for bar in self.bars:
            out.append(clip(bar.label, label_width).ljust(label_width) + " ")
            filled = cells(bar.value)
            whole, eighths = int(filled), int((filled - int(filled)) * 8)
            low = int(cells(bar.low)) if bar.low is not None else whole
            high = round(cells(bar.high)) if bar.high is not None else whole
            out.append("█" * min(low, whole), style="bold blue")
            out.append("█" * max(0, whole - low), style="blue")
            used = whole
            if eighths and used < bar_width:
                out.append(EIGHTHS[eighths], style="blue")
                used += 1
            if high > used:
                out.append("─" * (high - used - 1) + "┤", style="dim")
                used = high
            out.append(" " * (bar_width - used) + " " + bar.text + "\n")
        if self.note:
            out.append("\n" + self.note, style="dim")
        out.rstrip()
        return out
