"""Pilot: a simulated-client session rated as whole dialogues at 80×24, from the keyboard, in both Arenas.

The transcripts are generated first by the transcript tasks against a fake OpenAI server
(tests/helpers/dialogue_world.py); the Arena then only reads them from the store.
"""

from __future__ import annotations

from pathlib import Path

from textual.containers import VerticalScroll
from textual.widgets import Static

from core.arena.ratings import current_ratings
from core.arena.transcripts import get_transcript
from core.base.db import registry
from core.base.workspace import Workspace
from tests.helpers.dialogue_world import generated_dialogues
from tests.helpers.pilot import settle, wait_until
from tui.app import MhbenchApp
from tui.arena.dialogue import DialogueView
from tui.arena.screen import ArenaScreen
from tui.rater.app import RaterApp
from tui.rater.arena import RaterArenaScreen
from tui.shell.dialogs import Choose


def _cells(view: DialogueView, selector: str) -> list[str]:
    return [str(cell.render()) for cell in view.query(selector).results(Static)]


async def test_a_dialogue_item_is_read_turn_aligned_and_rated_by_keys_at_80x24(tmp_path: Path) -> None:
    workspace, _ = await generated_dialogues(tmp_path, cases=3, turns=3)
    app = MhbenchApp(workspace, rater="r1")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await wait_until(pilot, lambda: isinstance(app.screen, Choose), 20, "the session list")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ArenaScreen) and app.screen.controller is not None
                         and app.screen.controller.ready, 20, "both transcripts")
        arena = app.screen
        assert isinstance(arena, ArenaScreen) and arena.controller is not None
        await settle(pilot)
        view = arena.query_one(DialogueView)
        assert view.display and not arena.query_one("#arena-panes").display
        rows = _cells(view, "#dialogue-body .dialogue-cell.left"), _cells(view, "#dialogue-body .dialogue-cell.right")
        assert len(rows[0]) == len(rows[1]) == 4, "three turns and the ending line, side by side"
        assert rows[0][0].split("\n")[1] == rows[1][0].split("\n")[1], "the opening is the same on both sides"
        assert rows[0][1] != rows[1][1], "after it, each side shows its own client"
        assert "ended: the turns ran out" in rows[0][3]
        titles = [str(view.query_one(f"#dialogue-title-{side}", Static).render()) for side in ("left", "right")]
        assert titles == ["A (hidden)", "B (hidden)"]
        # Linked, one list scrolls both sides; l unlinks into two columns, w moves between them.
        assert isinstance(app.focused, VerticalScroll) and app.focused.id == "dialogue-body"
        await pilot.press("l")
        await settle(pilot)
        assert not view.linked and app.focused is not None and app.focused.id == "dialogue-left"
        await pilot.press("w")
        assert app.focused is not None and app.focused.id == "dialogue-right"
        await pilot.press("pagedown")
        await pilot.press("l")
        await settle(pilot)
        assert view.linked and app.focused is not None and app.focused.id == "dialogue-body"
        for key in "43s54sa":
            await pilot.press(key)
        await pilot.press("enter")
        await wait_until(pilot, lambda: arena.submitted, 20, "the saved rating")
    with registry(workspace) as connection:
        row = connection.execute("SELECT * FROM ratings WHERE rater = 'r1'").fetchone()
    assert row["left_response_id"] is None and row["preference"] == "left"
    assert get_transcript(workspace, row["left_transcript_id"]).model_id == row["left_model"]
    assert get_transcript(workspace, row["right_transcript_id"]).model_id == row["right_model"]


async def _rate_in_rater_mode(workspace: Workspace, session_id: str, expected_index: int) -> None:
    app = RaterApp(workspace, "r2", session=session_id)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RaterArenaScreen)
                         and app.screen.controller is not None and app.screen.controller.ready, 20,
                         "both transcripts")
        arena = app.screen
        assert isinstance(arena, RaterArenaScreen) and arena.controller is not None
        assert arena.index == expected_index
        assert arena.query_one(DialogueView).display
        for key in "33s22sb":
            await pilot.press(key)
        await pilot.press("enter")
        await wait_until(pilot, lambda: arena.submitted, 20, "the saved rating")


async def test_the_rater_mode_shows_the_same_dialogue_view_and_resumes(tmp_path: Path) -> None:
    workspace, session = await generated_dialogues(tmp_path, cases=3, turns=3)
    await _rate_in_rater_mode(workspace, session.id, 0)
    await _rate_in_rater_mode(workspace, session.id, 1)  # a second visit resumes at the first unrated item
    assert sorted(r.item_position for r in current_ratings(workspace, rater="r2")) == [0, 1]
