"""The Train screen's list of runs: name (★ when marked for compare), status in its colour, step, last loss.

The columns are sized to the table: status and step are always whole, the run name
takes what is left (cut with an ellipsis), and the loss, which the detail pane shows
too, is dropped when the name would get less than :data:`MIN_NAME` cells.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events
from textual.widgets import DataTable

if TYPE_CHECKING:
    from core.train.runs import RunRecord

STATUS_STYLE = {
    "running": "green", "starting": "green", "stopping": "yellow", "finished": "cyan",
    "stopped": "yellow", "failed": "red", "lost": "red",
}
STATUS_WIDTH = max(len(status) for status in STATUS_STYLE)
LOSS_WIDTH = len("10.000")
MIN_NAME = 10
"""Fewer cells than this for the run name and the loss column gives its room up."""
STAMP_WIDTH = 16
"""A run id opens with its ``YYYYmmdd-HHMMSS-`` stamp; the list shows what follows it."""


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells, with an ellipsis where it was cut."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


class RunTable(DataTable[Text | str]):
    """Redrawn whole from each registry read; the cursor stays on the run it was on."""

    shown: tuple[Sequence[RunRecord], Set[str]] = ((), frozenset())
    """The records and marks last drawn, to draw again when the width changes."""
    fitted: tuple[int, int, bool] | None = None
    """(name width, step width, loss shown) of the columns in place."""

    def column_layout(self, records: Sequence[RunRecord]) -> tuple[int, int, bool]:
        step = max([len("step"), *(len(record.progress_text) for record in records)])
        room = self.scrollable_content_region.width
        if room <= 0:  # not laid out yet: the next resize lays the columns out again
            return 24, step, True
        pad = 2 * self.cell_padding
        name = room - (STATUS_WIDTH + pad) - (step + pad) - pad
        if name - (LOSS_WIDTH + pad) >= MIN_NAME:
            return name - (LOSS_WIDTH + pad), step, True
        return max(name, MIN_NAME), step, False

    def lay_out(self, layout: tuple[int, int, bool]) -> None:
        if layout == self.fitted:
            return
        self.fitted = layout
        name, step, loss = layout
        self.clear(columns=True)
        self.add_column("run", width=name)
        self.add_column("status", width=STATUS_WIDTH)
        self.add_column("step", width=step)
        if loss:
            self.add_column("loss", width=LOSS_WIDTH)

    def on_resize(self, event: events.Resize) -> None:
        records, marked = self.shown
        if records:
            selected = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value if self.row_count else None
            self.show(records, marked, selected)
        else:
            self.lay_out(self.column_layout(records))

    def show(self, records: Sequence[RunRecord], marked: Set[str], selected_id: str | None) -> str | None:
        """Draw ``records`` with the cursor on ``selected_id`` (else on the row it was on); the run under it."""
        cursor = self.cursor_row
        self.shown = (records, marked)
        layout = self.column_layout(records)
        self.lay_out(layout)
        name_width, _, with_loss = layout
        self.clear()
        for record in records:
            mark = "★ " if record.id in marked else ""
            label = record.id[STAMP_WIDTH:] if len(record.id) > STAMP_WIDTH else record.id
            node = f" ·n{record.node_rank}" if record.nnodes > 1 else ""
            cells: list[Text | str] = [
                Text(fit(mark + label + node, name_width)),
                Text(record.status, style=STATUS_STYLE.get(record.status, "")),
                record.progress_text,
            ]
            if with_loss:
                cells.append(f"{record.last_loss:.3f}" if record.last_loss is not None else "–")
            self.add_row(*cells, key=record.id)
        if not records:
            return None
        index = next((i for i, r in enumerate(records) if r.id == selected_id), min(cursor, len(records) - 1))
        self.move_cursor(row=max(index, 0))
        return records[max(index, 0)].id
