"""Pilot: a four-model adaptive session on real llama.cpp servers, rated from the keyboard; quit, resume, export.

The four models are the demo's tiny Llama as an f16 GGUF and its Q8_0, Q5_K_M and Q4_K_M
quantisations, made by the real converter and llama.cpp (``tests.helpers.ggufs``); the
prompt set has three prompts, one in crisis. Each next item is drawn by the adaptive
schedule when the rater goes past the last one; the battles JSONL must carry each
rating's own pair, left model first.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from textual.widgets import Input, Select, SelectionList

from core.arena.schedule import pair_key
from tests.helpers.ggufs import PROMPTS, four_ggufs
from tests.helpers.pilot import wait_for_real_work, wait_until
from tui.app import MhbenchApp
from tui.arena.screen import ArenaScreen
from tui.arena.setup import ArenaSetup
from tui.shell.dialogs import Choose

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed"),
]


async def _rate(pilot, arena: ArenaScreen, preference: str) -> None:
    await wait_for_real_work(pilot, lambda: all(arena.responses[s] is not None for s in ("left", "right")), 240,
                             "both answers")
    assert arena.controller is not None
    keys = "43s54s" + preference
    for key in keys:
        await pilot.press(key)
    await pilot.press("enter")
    await wait_until(pilot, lambda: arena.submitted, 20, "the saved rating")


async def _next(pilot, arena: ArenaScreen, index: int) -> None:
    await pilot.press("enter")  # past the last drawn item: the schedule draws the next one
    await wait_until(pilot, lambda: arena.index == index and not arena.submitted, 30, f"item {index + 1}")


async def test_a_four_model_adaptive_session_rated_resumed_and_exported(tmp_path: Path) -> None:
    from core.arena.ratings import current_ratings
    from core.arena.sessions import list_sessions, session_items
    from core.models.serving import list_servers, stop_server
    from core.results.export import export

    workspace, models = four_ggufs(tmp_path / "ws")
    prompt_file = tmp_path / "prompts.jsonl"
    prompt_file.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in PROMPTS), encoding="utf-8")
    try:
        app = MhbenchApp(workspace, rater="r1")
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.press("f5")
            await wait_until(pilot, lambda: isinstance(app.screen, ArenaSetup), 20, "the new-session form")
            setup = app.screen
            more = setup.query_one("#more_models", SelectionList)

            def listed() -> set[str]:
                return {str(more.get_option_at_index(i).value) for i in range(more.option_count)}

            await wait_until(pilot, lambda: set(models) <= listed(), 20, "the catalog")
            setup.query_one("#prompts", Input).value = str(prompt_file)
            setup.query_one("#model_a", Select).value = models[0]
            setup.query_one("#model_b", Select).value = models[1]
            setup.query_one("#schedule", Select).value = "adaptive"
            setup.query_one("#max_tokens", Input).value = "16"
            more.focus()
            for model in models[2:]:  # tick the other two from the keyboard
                more.highlighted = next(i for i in range(more.option_count) if more.get_option_at_index(i).value
                                        == model)
                await pilot.press("space")
            assert set(more.selected) == set(models[2:])
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: isinstance(app.screen, ArenaScreen) and app.screen.session is not None,
                             60, "the session")
            arena = app.screen
            assert isinstance(arena, ArenaScreen) and arena.session is not None
            assert arena.session.models == tuple(models) and arena.session.adaptive
            assert len(arena.items) == 1 and arena.items[0].drawn_for == "r1"
            await _rate(pilot, arena, "a")
            await _next(pilot, arena, 1)
            await _rate(pilot, arena, "b")
        # Quit; a new app resumes: everything drawn is rated, so the next item is drawn on opening.
        again = MhbenchApp(workspace, rater="r1")
        async with again.run_test(size=(80, 24)) as pilot:
            await pilot.press("f5")
            await wait_until(pilot, lambda: isinstance(again.screen, Choose), 20, "the session list")
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(again.screen, ArenaScreen) and again.screen.session is not None,
                             30, "the resumed session")
            arena = again.screen
            assert isinstance(arena, ArenaScreen) and arena.index == 2 and len(arena.items) == 3
            await _rate(pilot, arena, "t")
        (session,) = list_sessions(workspace)
        items = {item.position: item for item in session_items(workspace, session.id)}
        shown = [(item.prompt_id, pair_key(models, item.left_model, item.right_model)) for item in items.values()]
        assert len(items) == 3 and len(set(shown)) == 3  # never the same prompt and pair twice
        ratings = current_ratings(workspace, session_id=session.id)
        assert sorted(r.item_position for r in ratings) == sorted(items)
        out = tmp_path / "battles.jsonl"
        assert export(workspace, "battles", out, format="jsonl", session=session.id) == 3
        battles = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        by_prompt = {}
        for rating in ratings:
            item = items[rating.item_position]
            by_prompt.setdefault(item.prompt_id, []).append((item.left_model, item.right_model, rating.preference))
        winners = {"left": "model_a", "right": "model_b", "tie": "tie"}
        for battle in battles:
            prompt_id = battle["question_id"].split("/")[1]
            expected = [(left, right, winners[p]) for left, right, p in by_prompt[prompt_id]]
            assert (battle["model_a"], battle["model_b"], battle["winner"]) in expected
            assert {battle["model_a"], battle["model_b"]} <= set(models) and battle["judge"] == "r1"
        assert sorted(b["winner"] for b in battles) == ["model_a", "model_b", "tie"]
    finally:
        for server in list_servers(workspace, active_only=True):
            stop_server(workspace, server.id, timeout=20)
