"""The Train screen's run queue: what is at work, what waits (in order), what ended; reorder and remove by key.

The queue itself is :mod:`core.train.run_queue`, worked through by a detached runner; this
table only shows it and sends the operator's changes (earlier, later, remove, pause) to core,
off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from tui.messages import ActionFinished

if TYPE_CHECKING:
    from core.base.workspace import Workspace
    from core.train.run_queue import QueueEntry

STATE_STYLE = {"queued": "", "training": "green", "steps": "green", "done": "cyan", "failed": "red"}


class QueueTable(DataTable[Text | str]):
    """One row per queue entry; the cursor stays on the entry it was on."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k", "move(-1)", "Earlier", id="queue.earlier"),
        Binding("j", "move(1)", "Later", id="queue.later"),
        Binding("x", "remove", "Remove", id="queue.remove"),
        Binding("p", "pause", "Pause/resume", id="queue.pause"),
    ]

    entries: Sequence[QueueEntry] = ()
    paused = False

    def on_mount(self) -> None:
        self.add_column("#", width=3)
        self.add_column("queued run", width=16)
        self.add_column("state")

    @property
    def workspace(self) -> Workspace:
        return self.app.workspace  # type: ignore[attr-defined, no-any-return]

    def show(self, entries: Sequence[QueueEntry], paused: bool) -> None:
        selected = self.selected()
        self.entries, self.paused = entries, paused
        self.border_title = "queue (paused)" if paused else "queue"
        self.clear()
        for entry in entries:
            self.add_row(str(entry.id), Text(entry.label), Text(entry.state_text(), style=STATE_STYLE.get(entry.status, "")),
                         key=str(entry.id))
        if entries:
            index = next((i for i, e in enumerate(entries) if selected and e.id == selected.id), 0)
            self.move_cursor(row=min(index, len(entries) - 1))

    def selected(self) -> QueueEntry | None:
        if not self.entries or not self.row_count:
            return None
        row = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return next((entry for entry in self.entries if str(entry.id) == row), None)

    @work(thread=True, group="queue-action")
    def change(self, title: str, call: Callable[[], str]) -> None:
        from core.base.errors import MhbenchError

        try:
            self.post_message(ActionFinished(title, call()))
        except MhbenchError as error:
            self.post_message(ActionFinished(title, "", str(error)))

    def action_move(self, by: int) -> None:
        from core.train.run_queue import shift_entry

        entry = self.selected()
        if entry is None or entry.status != "queued":
            self.notify("Select a waiting entry to move.", severity="warning")
            return
        def call() -> str:
            shift_entry(self.workspace, entry.id, by)
            return f"moved {entry.label} {'earlier' if by < 0 else 'later'}"

        self.change("Queue", call)

    def action_remove(self) -> None:
        from core.train.run_queue import remove_entry

        entry = self.selected()
        if entry is None:
            return
        self.change("Queue", lambda: f"removed {remove_entry(self.workspace, entry.id).label}")

    def action_pause(self) -> None:
        from core.train.run_queue import ensure_runner, set_paused

        paused = not self.paused

        def call() -> str:
            set_paused(self.workspace, paused)
            if paused:
                return "queue paused: no new run starts"
            ensure_runner(self.workspace)
            return "queue resumed"

        self.change("Queue", call)
