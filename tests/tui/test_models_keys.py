"""Pilot: the Models table keeps its cursor through the 2 s refresh, and a key acts on the highlighted model.

The catalog holds endpoints (and whatever the scan finds; no model is started), so these need neither
swift nor llama.cpp.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from core.base.workspace import Workspace
from core.models import list_models, register_endpoint
from tests.helpers.catalog_entries import entry
from tests.helpers.pilot import wait_until
from tui.app import MhbenchApp
from tui.messages import CatalogRead
from tui.models.detail import model_detail
from tui.models.screen import ModelsScreen

NAMES = ("alpha", "bravo", "charlie", "delta")


def _catalog(workspace: Workspace) -> CatalogRead:
    return CatalogRead(list_models(workspace), [], [], None, None, {})


def _under_cursor(table: DataTable) -> str:
    return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)


async def test_the_cursor_stays_on_its_model_through_refreshes_and_keys_act_on_it(workspace: Workspace) -> None:
    for name in NAMES:
        register_endpoint(workspace, name, "http://127.0.0.1:9/v1")
    app = MhbenchApp(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelsScreen)
                         and set(NAMES) <= {e.id for e in app.screen.entries}, 20, "the catalog")
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        table = screen.query_one("#model-table", DataTable)
        ids = [e.id for e in screen.entries]
        await pilot.press("down", "down")
        assert _under_cursor(table) == ids[2]
        # A refresh landing between a key and its highlight event: the table used to be cleared and
        # rebuilt, and the cursor put back on the model last seen highlighted.
        table.move_cursor(row=3)
        screen.on_catalog_read(_catalog(workspace))
        assert _under_cursor(table) == ids[3] and table.cursor_row == 3
        assert screen.selected() is not None and screen.selected().id == ids[3]  # type: ignore[union-attr]
        for _ in range(3):
            screen.read_catalog()
            await screen.workers.wait_for_complete()
            await pilot.pause()
        assert _under_cursor(table) == ids[3] and screen.selected_id == ids[3]
        # Rows are updated in place: the same keys, in the same order.
        assert [row.key.value for row in table.ordered_rows] == ids
        # A key right after the cursor moved acts on the model under the cursor, not the one before.
        table.move_cursor(row=1)
        screen.action_serve()
        await wait_until(pilot, lambda: any(ids[1] in n.message for n in app._notifications), 20,
                         "the serve notice")
        assert not any(ids[3] in n.message for n in app._notifications)
        # A model registered meanwhile rebuilds the rows: the cursor stays on its model still.
        register_endpoint(workspace, "aardvark", "http://127.0.0.1:9/v1")
        screen.on_catalog_read(_catalog(workspace))
        assert len(screen.entries) == len(ids) + 1 and _under_cursor(table) == ids[1]


def test_the_lineage_says_parity_once() -> None:
    passed = entry("gguf-q4", "gguf", lineage={"parity": {
        "passed": True, "summary": "parity: the template renders the same prompt (40 characters, 12 tokens)."}})
    text = model_detail(passed, [passed], None).plain
    assert "parity: the template renders the same prompt" in text and "parity: parity" not in text
    failed = entry("gguf-q8", "gguf", lineage={"parity": {"passed": False, "summary": "parity FAILED: at 3"}})
    text = model_detail(failed, [failed], None).plain
    assert "parity: FAILED: at 3" in text and "parity: parity" not in text


def test_the_screen_reads_the_selection_without_a_table(tmp_path: Path) -> None:
    screen = ModelsScreen()
    screen.entries = [entry("a", "base"), entry("b", "gguf")]
    screen.selected_id = "b"
    assert screen.highlighted_id() == "b" and screen.selected() is screen.entries[1]
