"""The Results screen's two tables: the leaderboard and the win matrix, redrawn whole from each computation.

Model ids are user text: every cell is a :class:`rich.text.Text`, never markup.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable

from tui.results.hbars import clip

if TYPE_CHECKING:
    from core.results import Results
    from core.stats import MeanCI

SHORT = {"empathy": "emp", "professionalism": "prof", "comprehensiveness": "comp", "authenticity": "auth",
         "safety": "safety"}
"""Rubric dimensions in a column header or a line of 80 columns."""
MODEL_WIDTH = 22


def ci_text(value: MeanCI, digits: int = 1) -> Text:
    if math.isnan(value.mean):
        return Text("–", style="dim")
    text = Text(f"{value.mean:.{digits}f} ")
    text.append(f"{value.low:.{digits}f}–{value.high:.{digits}f}", style="dim")
    return text


def percent(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.0f}%"


class LeaderBoard(DataTable[Text]):
    """Best first: the Bradley–Terry rating with its interval, battles, each dimension's mean, the unsafe share."""

    def show(self, results: Results) -> None:
        self.clear(columns=True)
        dims = results.dimensions
        self.add_columns("#", "model", "BT  95% CI", "n", *(f"{SHORT.get(d, d)}  CI" for d in dims), "unsafe")
        rubric = results.rubrics[0] if results.rubrics else ""
        for rank, s in enumerate(results.standings, 1):
            scores = results.score(s.model, rubric)
            bt = Text(f"{s.rating.rating:.0f} ")
            bt.append(f"{s.rating.low:.0f}–{s.rating.high:.0f}", style="dim")
            means = [ci_text(scores.means[d]) if scores and d in scores.means else Text("–") for d in dims]
            unsafe = Text(percent(scores.unsafe.rate) if scores else "–",
                          style="red" if scores and scores.unsafe.unsafe else "")
            self.add_row(Text(str(rank)), Text(clip(s.model, MODEL_WIDTH)), bt, Text(str(s.battles)), *means, unsafe,
                         key=s.model)


class WinMatrix(DataTable[Text]):
    """Row against column, wins-ties-losses, with each row's overall win share."""

    def show(self, results: Results) -> None:
        self.clear(columns=True)
        models = list(results.models)
        self.add_columns("#", "model  (W-T-L vs column #)", *(f"vs {i}" for i in range(1, len(models) + 1)), "win%")
        for rank, (row, standing) in enumerate(zip(models, results.standings, strict=True), 1):
            cells: list[Text] = []
            for column in models:
                record = results.matrix.get(row, {}).get(column)
                if row == column or record is None:
                    cells.append(Text("·", style="dim"))
                else:
                    cells.append(Text(f"{record.wins}-{record.ties}-{record.losses}",
                                      style="" if record.battles else "dim"))
            self.add_row(Text(str(rank)), Text(clip(row, MODEL_WIDTH)), *cells, Text(percent(standing.win_share)),
                         key=row)
