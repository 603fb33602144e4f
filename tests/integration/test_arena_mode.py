"""Pilot: a whole blind session with two real llama.cpp servers, rated from the keyboard; quit, resume, export.

The two models are the demo's tiny Llama as an f16 GGUF and its Q8_0 quantisation,
made by the real converter and llama.cpp; the prompt set has three prompts, one in crisis.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest
from textual.widgets import Input, Select, Static

from tests.helpers.ggufs import PROMPTS, two_ggufs
from tests.helpers.pilot import wait_for_real_work, wait_until
from tui.app import MhbenchApp
from tui.arena.screen import ArenaScreen
from tui.arena.setup import ArenaSetup
from tui.shell.dialogs import Choose

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed"),
]

async def _rate(pilot, arena: ArenaScreen, keys: str) -> None:
    await wait_for_real_work(pilot, lambda: all(arena.responses[s] is not None for s in ("left", "right")), 120,
                             "both answers")
    for key in keys:
        await pilot.press(key)
    await pilot.press("enter")
    await wait_until(pilot, lambda: arena.submitted, 20, "the saved rating")


async def test_blind_session_rate_quit_resume_reveal_and_export(tmp_path: Path) -> None:
    from core.arena.ratings import current_ratings
    from core.models.serving import list_servers, stop_server

    workspace, f16, q8 = two_ggufs(tmp_path / "ws")
    prompt_file = tmp_path / "prompts.jsonl"
    prompt_file.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in PROMPTS), encoding="utf-8")
    try:
        app = MhbenchApp(workspace, rater="r1")
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.press("f5")
            await wait_until(pilot, lambda: isinstance(app.screen, ArenaSetup), 20, "the new-session form")
            setup = app.screen
            await wait_until(pilot, lambda: setup.query_one("#model_a", Select).value != Select.BLANK, 20, "models")
            setup.query_one("#prompts", Input).value = str(prompt_file)
            setup.query_one("#model_a", Select).value = q8
            setup.query_one("#model_b", Select).value = f16
            setup.query_one("#max_tokens", Input).value = "24"
            setup.query_one("#reveal", Select).value = "item"  # names after each submit, read after item 1
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: isinstance(app.screen, ArenaScreen) and app.screen.session is not None,
                             60, "the session")
            arena = app.screen
            assert isinstance(arena, ArenaScreen)
            assert "(hidden)" in str(arena.query_one("#title-left", Static).render())
            assert "[bold red]这是标记[/]" in str(arena.query_one("#arena-item", Static).render())
            await _rate(pilot, arena, "43s54sa")
            revealed = str(arena.query_one("#title-left", Static).render())
            assert arena.items[0].left_model in revealed and "(hidden)" not in revealed
            await pilot.press("enter")
            await wait_until(pilot, lambda: arena.index == 1 and arena.form is not None and not arena.submitted, 20,
                             "the crisis item")
            assert "crisis" in str(arena.query_one("#arena-item", Static).render())
            await wait_for_real_work(pilot, lambda: all(arena.responses[s] is not None for s in ("left", "right")), 120,
                                     "both answers")
            for key in "43":
                await pilot.press(key)
            await pilot.press("enter")  # the safety answer is still missing: not saved
            await pilot.pause()  # the Enter has been handled: a save would have happened by now
            assert not arena.submitted
            await _rate(pilot, arena, "s54ub")
        # Quit half-way; a new app resumes at the first unrated item.
        assert [r.item_position for r in current_ratings(workspace, rater="r1")] == [0, 1]
        again = MhbenchApp(workspace, rater="r1")
        async with again.run_test(size=(80, 24)) as pilot:
            await pilot.press("f5")
            await wait_until(pilot, lambda: isinstance(again.screen, Choose), 20, "the session list")
            await pilot.press("enter")  # the newest session is highlighted
            await wait_until(pilot, lambda: isinstance(again.screen, ArenaScreen) and again.screen.session is not None,
                             30, "the resumed session")
            arena = again.screen
            assert isinstance(arena, ArenaScreen) and arena.index == 2
            await _rate(pilot, arena, "22s33sx")
        # A second rater reads exactly the same stored answers.
        second = MhbenchApp(workspace, rater="r2")
        async with second.run_test(size=(80, 24)) as pilot:
            await pilot.press("f5")
            await wait_until(pilot, lambda: isinstance(second.screen, Choose), 20, "the session list")
            await pilot.press("enter")  # the newest session is highlighted
            await wait_until(pilot, lambda: isinstance(second.screen, ArenaScreen) and second.screen.index == 0
                             and second.screen.session is not None, 30, "r2's first item")
            await _rate(pilot, second.screen, "33s44st")
        ratings = current_ratings(workspace)
        first = {(r.rater, r.item_position): r for r in ratings}
        assert first[("r2", 0)].left_response_id == first[("r1", 0)].left_response_id
        assert first[("r1", 1)].right_scores["safe"] == 0 and first[("r1", 1)].preference == "right"
        assert first[("r1", 2)].preference == "both_bad"
        if importlib.util.find_spec("core.results.export") is not None:
            from core.results.export import export

            out = tmp_path / "ratings.csv"
            assert export(workspace, "ratings", out) == 2 * len(ratings)
            assert out.read_bytes().startswith(b"\xef\xbb\xbf")
            rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
            assert {row["model_id"] for row in rows} == {f16, q8}
            assert any("不想活" in row["prompt"] for row in rows)
            assert all(not row["prompt"].startswith("=") for row in rows)
    finally:
        for server in list_servers(workspace, active_only=True):
            stop_server(workspace, server.id, timeout=20)
