"""The Train screen's list of runs: name (★ when marked for compare), status in its colour, step, last loss."""

from __future__ import annotations

from collections.abc import Sequence, Set
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable

if TYPE_CHECKING:
    from core.train.runs import RunRecord

STATUS_STYLE = {
    "running": "green", "starting": "green", "stopping": "yellow", "finished": "cyan",
    "stopped": "yellow", "failed": "red", "lost": "red",
}
STAMP_WIDTH = 16
"""A run id opens with its ``YYYYmmdd-HHMMSS-`` stamp; the list shows what follows it."""


class RunTable(DataTable[Text | str]):
    """Redrawn whole from each registry read; the cursor stays on the run it was on."""

    def on_mount(self) -> None:
        self.add_columns("run", "status", "step", "loss")

    def show(self, records: Sequence[RunRecord], marked: Set[str], selected_id: str | None) -> str | None:
        """Draw ``records`` with the cursor on ``selected_id`` (else on the row it was on); the run under it."""
        cursor = self.cursor_row
        self.clear()
        for record in records:
            mark = "★ " if record.id in marked else ""
            loss = f"{record.last_loss:.3f}" if record.last_loss is not None else "–"
            label = record.id[STAMP_WIDTH:] if len(record.id) > STAMP_WIDTH else record.id
            node = f" ·n{record.node_rank}" if record.nnodes > 1 else ""
            self.add_row(
                Text(mark + label + node), Text(record.status, style=STATUS_STYLE.get(record.status, "")),
                record.progress_text, loss, key=record.id,
            )
        if not records:
            return None
        index = next((i for i, r in enumerate(records) if r.id == selected_id), min(cursor, len(records) - 1))
        self.move_cursor(row=max(index, 0))
        return records[max(index, 0)].id
