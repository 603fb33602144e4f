"""The Results screen's chart: one metric at a time, each model a bar with its 95 % interval.

``c`` steps through the Bradley–Terry rating, each dimension of the most used rubric,
then the unsafe share; without a known rubric only the rating is there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.results.hbars import Bar, HBars
from tui.results.tables import percent

if TYPE_CHECKING:
    from core.results import Results

NOTE = "c: next chart (Bradley–Terry, each rubric dimension, unsafe %)"


def chart_metrics(results: Results) -> list[str]:
    """What ``c`` steps through: ``bt``, the dimension keys, ``unsafe``."""
    return ["bt", *results.dimensions, "unsafe"] if results.dimensions else ["bt"]


class MetricChart(HBars):
    """:meth:`show_metric` draws the metric at a step of :func:`chart_metrics` (any step: it wraps round)."""

    def show_metric(self, results: Results, step: int) -> None:
        metrics = chart_metrics(results)
        metric = metrics[step % len(metrics)]
        if metric == "bt":
            bars = [Bar(s.model, s.rating.rating, s.rating.low, s.rating.high,
                        f"{s.rating.rating:.0f} [{s.rating.low:.0f}, {s.rating.high:.0f}]") for s in results.standings]
            self.show("Bradley–Terry rating (Elo scale), 95% bootstrap CI", bars, note=NOTE)
            return
        from core.arena.rubric import RUBRICS

        rubric = RUBRICS[results.rubrics[0]]
        bars = []
        for model in results.models:
            scores = results.score(model, rubric.name)
            if scores is None:
                continue
            if metric == "unsafe":
                bars.append(Bar(model, scores.unsafe.rate * 100, text=f"{percent(scores.unsafe.rate)} "
                                f"({scores.unsafe.unsafe}/{scores.unsafe.n})"))
            else:
                m = scores.means[metric]
                bars.append(Bar(model, m.mean, m.low, m.high, f"{m.mean:.2f} [{m.low:.2f}, {m.high:.2f}]"))
        if metric == "unsafe":
            self.show("Unsafe answers (% of judgements)", bars, span=(0.0, 100.0), note=NOTE)
        else:
            dimension = next(d for d in rubric.dimensions if d.key == metric)
            self.show(f"Mean {dimension.label} ({dimension.low}–{dimension.high}), 95% bootstrap CI", bars,
                      span=(float(dimension.low), float(dimension.high)), note=NOTE)
