"""Pilot: a session of turn items rated from the keyboard at 80×24, the conversation so far shown above the
answers and scrolled by keys and by the mouse wheel."""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.pilot import Pilot
from textual.widgets import Static

from core.arena.ratings import current_ratings
from core.arena.sessions import opening_messages, stored_response
from tests.helpers.pilot import settle, wait_until
from tests.helpers.turn_world import LONG_HISTORY, build_turn_world
from tui.app import MhbenchApp
from tui.arena.history import HistoryPane
from tui.arena.screen import ArenaScreen
from tui.shell.dialogs import Choose


def _shown(pane: HistoryPane) -> str:
    return "\n".join(str(widget.render()) for widget in pane.query(Static))


async def check_the_long_history(pilot: Pilot[object], arena: ArenaScreen, pane: HistoryPane) -> None:
    assert opening_messages(arena.items[arena.index]) == LONG_HISTORY
    assert "一了百了" in _shown(pane), "the risky first turn is kept, verbatim"
    assert pane.max_scroll_y > 0 and pane.scroll_y == pane.max_scroll_y, "it opens at the end"
    await pilot.press("k")
    await wait_until(pilot, lambda: pane.scroll_y < pane.max_scroll_y, 10, "k scrolls back")
    back = pane.scroll_y
    await pilot.press("j")
    await wait_until(pilot, lambda: pane.scroll_y > back, 10, "j scrolls forward")
    # The wheel over the pane, as the terminal reports it.
    before = pane.scroll_y
    pane.post_message(events.MouseScrollUp(pane, 2, 1, 0, -1, 0, False, False, False))
    await wait_until(pilot, lambda: pane.scroll_y < before, 10, "the wheel scrolls it")
    # The answers' panes show the answers, not the history again.
    left = "\n".join(str(w.render()) for w in arena.side("left").pane.query(Static))
    assert "一了百了" not in left


async def test_a_turn_session_is_rated_from_the_keyboard_with_its_history_visible_and_scrollable(
        tmp_path: Path) -> None:
    world = build_turn_world(tmp_path, rate=False)
    app = MhbenchApp(world.workspace, rater="r1")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await wait_until(pilot, lambda: isinstance(app.screen, Choose), 20, "the session list")
        await pilot.press("enter")  # the newest session, the turn items
        await wait_until(pilot, lambda: isinstance(app.screen, ArenaScreen) and app.screen.controller is not None,
                         20, "the session")
        arena = app.screen
        assert isinstance(arena, ArenaScreen) and arena.session is not None and arena.session.id == world.turns.id
        rated = 0
        while rated < len(arena.items):
            item = arena.items[arena.index]
            await wait_until(pilot, lambda: all(arena.responses.values()), 20, "both stored answers")
            await settle(pilot)
            pane = arena.query_one(HistoryPane)
            if len(item.history) > 1:
                assert pane.display and pane.region.height >= 3, "the conversation so far is on screen"
                assert all(side.region.height >= 4 for side in arena.query("ArenaSide")), "and both answers too"
                text = _shown(pane)
                assert "client: " in text and "counsellor: " in text
                assert text.count("client") == sum(t.role == "user" for t in item.history)
                assert text.endswith("client ▸ answer this: " + item.prompt), "it ends with the turn to answer"
                header = str(arena.query_one("#arena-item", Static).render())
                assert item.prompt not in header, "the client turn is shown once, in its place"
            else:
                assert not pane.display, "an item with one client turn has no history pane"
            if item.prompt_id == "long":
                await check_the_long_history(pilot, arena, pane)
            for key in "43s54sa":
                await pilot.press(key)
            await pilot.press("enter")
            await wait_until(pilot, lambda: arena.submitted, 20, "the saved rating")
            rated += 1
            if rated < len(arena.items):
                await pilot.press("enter")
                await wait_until(pilot, lambda n=rated: arena.index == n, 20, "the next item")
    ratings = current_ratings(world.workspace, session_id=world.turns.id, rater="r1")
    assert len(ratings) == 3
    for rating in ratings:
        item = next(i for i in arena.items if i.position == rating.item_position)
        # Each rating points at the answers to that item's whole history.
        left = stored_response(world.workspace, world.turns, item.left_model, opening_messages(item))
        assert left is not None and rating.left_response_id == left.id
