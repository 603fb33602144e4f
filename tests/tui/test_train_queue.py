"""The Train mode shows the run queue; its keys move a waiting entry, remove one, and pause the queue."""

from __future__ import annotations

from pathlib import Path

from core.base.db import open_workspace
from core.base.workspace import Workspace
from core.train.run_queue import add_entries, is_paused, waiting_entries
from tests.helpers.pilot import settle, wait_until
from tui.app import MhbenchApp
from tui.train.queue_table import QueueTable
from tui.train.runs import TrainScreen


def waiting(workspace: Workspace) -> list[str]:
    return [entry.profile for entry in waiting_entries(workspace)]


async def test_the_queue_is_shown_reordered_and_trimmed_by_key(tmp_path: Path) -> None:
    workspace = open_workspace(Workspace(tmp_path / "ws"))
    add_entries(workspace, ["first-profile", "second-profile", "third-profile"])
    app = MhbenchApp(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen), 10, "the Train mode")
        table = app.screen.query_one("#queue-table", QueueTable)
        await wait_until(pilot, lambda: table.row_count == 3, 10, "the three queued runs")
        assert table.region.height >= 5, "the queue is on screen at 80×24"
        table.focus()
        await pilot.press("down", "down")
        selected = table.selected()
        assert selected is not None and selected.profile == "third-profile"
        await pilot.press("k")
        await wait_until(pilot, lambda: waiting(workspace) == ["first-profile", "third-profile", "second-profile"],
                         10, "the third run moved one place earlier", detail=lambda: str(waiting(workspace)))
        await settle(pilot)
        selected = table.selected()
        assert selected is not None and selected.profile == "third-profile", "the cursor follows the moved run"
        await pilot.press("j")
        await wait_until(pilot, lambda: waiting(workspace)[-1] == "third-profile", 10, "it moved back later")
        await settle(pilot)
        table.move_cursor(row=0)
        await pilot.press("x")
        await wait_until(pilot, lambda: waiting(workspace) == ["second-profile", "third-profile"], 10,
                         "the first run removed", detail=lambda: str(waiting(workspace)))
        await wait_until(pilot, lambda: table.row_count == 2, 10, "the table without it")
        await pilot.press("p")
        await wait_until(pilot, lambda: is_paused(workspace), 10, "the queue paused")
        await wait_until(pilot, lambda: table.border_title == "queue (paused)", 10, "the table saying so")
