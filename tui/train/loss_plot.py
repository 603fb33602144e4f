"""Loss against step, for one run (train and eval) or several runs overlaid (compare)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual import events
from textual_plotext import PlotextPlot

LABELLED_HEIGHT = 14
"""Rows from which the x axis is labelled "step": below, that row goes to the curve (80×24)."""


@dataclass(frozen=True)
class Series:
    """One line of the plot."""

    label: str
    points: Sequence[tuple[int, float]]
    marker: str = "braille"


class LossPlot(PlotextPlot):
    """Replots only when its series change; plotext rebuilds the whole figure each time."""

    def __init__(self, title: str = "loss", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self.series: tuple[Series, ...] = ()

    def show(self, series: Sequence[Series], title: str | None = None) -> None:
        self.series = tuple(s for s in series if s.points)
        if title is not None:
            self.title = title
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        if self.size.height >= LABELLED_HEIGHT:
            plt.xlabel("step")
        for item in self.series:
            steps = [step for step, _ in item.points]
            values = [value for _, value in item.points]
            if len(steps) == 1:
                plt.scatter(steps, values, label=item.label)
            else:
                plt.plot(steps, values, label=item.label, marker=item.marker)
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        self.show(self.series)
