"""Pilot: blinding that holds (issue 17) in a 3-model session whose answers are all stored (no server).

With the ``end`` policy no model name is on a rater's screen until their own last item is
saved, then every item shows them; the rater mode never shows a speed or token line and
never a chat template's special token; the ``item`` policy keeps the per-submit reveal,
and the operator's Arena shows the speed line only beside revealed names.
"""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Static

from core.arena.prompts import register_prompt_set
from core.arena.sessions import Session, create_session, opening_messages, session_items, store_response
from core.base.workspace import Workspace
from core.models import register_endpoint
from core.models.client import StreamStats
from tests.helpers.pilot import wait_until
from tui.app import MhbenchApp
from tui.arena.screen import ArenaScreen
from tui.rater.app import RaterApp
from tui.rater.arena import RaterArenaScreen
from tui.shell.dialogs import Choose

MODELS = ("kestrel-7b", "osprey-8b", "merlin-q8")
"""Names that no answer, prompt or label contains: any of them on screen is a leak."""
STATS = StreamStats(0.25, 140, 17.0, "stop", 8.5)
SPEED_WORDS = ("tok/s", "tokens", "first after")
PROMPT = {"id": "q1", "prompt": "最近总是睡不着，白天也没精神。"}


def _session(workspace: Workspace, tmp_path: Path, reveal: str) -> Session:
    """One prompt, three models: three round-robin items (one per pair), every answer stored in advance.

    One model's answers carry a raw ``<|endoftext|>``, as a Qwen-family server lets through.
    """
    ids = [register_endpoint(workspace, name, f"http://127.0.0.1:9/v{n}").id for n, name in enumerate(MODELS)]
    prompt_file = tmp_path / "prompts.jsonl"
    prompt_file.write_text(json.dumps(PROMPT, ensure_ascii=False) + "\n", encoding="utf-8")
    session = create_session(workspace, register_prompt_set(workspace, prompt_file).id, *ids, side_seed=3,
                             name="blinding", reveal=reveal)
    for item in session_items(workspace, session.id):
        for model_id in (item.left_model, item.right_model):
            marker = f"answer-{ids.index(model_id)}"
            text = f"{marker} 我听到了你的疲惫，我们一起看看。" + ("<|endoftext|>" if model_id == ids[0] else "")
            store_response(workspace, session, model_id, opening_messages(item), text, STATS,
                           created_by="pregenerate")
    return session


def _screen_text(app: MhbenchApp | RaterApp) -> str:
    return "\n".join(str(widget.render()) for widget in app.screen.query(Static))


def _names_on(text: str) -> list[str]:
    return [name for name in MODELS if name in text]


async def _rate_shown_item(pilot, arena: ArenaScreen) -> None:
    await wait_until(pilot, lambda: all(arena.responses.values()) and not arena.answers_coming(), 20,
                     "both stored answers")
    await pilot.pause()
    for key in "43s54sa":
        await pilot.press(key)
    await pilot.press("enter")
    await wait_until(pilot, lambda: arena.submitted, 20, "the saved rating")
    await pilot.pause()


async def _rate_the_whole_session_as(workspace: Workspace, session: Session, rater: str) -> None:
    """``rater`` rates the three items in the rater mode: no name before their last save, every name after."""
    app = RaterApp(workspace, rater, session=session.id)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RaterArenaScreen)
                         and app.screen.controller is not None, 15, "the rater's Arena")
        arena = app.screen
        assert isinstance(arena, RaterArenaScreen) and arena.controller is not None
        assert arena.controller.count == 3
        for number in range(1, 4):
            await wait_until(pilot, lambda n=number: arena.index == n - 1, 15, f"item {number}")
            await wait_until(pilot, lambda: all(arena.responses.values()) and not arena.answers_coming(), 20,
                             "both stored answers")
            await pilot.pause()
            shown = _screen_text(app)
            assert "answer-" in shown, "the answers are on screen"
            assert _names_on(shown) == [], f"{rater} sees {_names_on(shown)} before rating item {number}"
            assert not any(word in shown for word in SPEED_WORDS), f"a speed line for {rater}: {shown}"
            assert "<|" not in shown, "a raw special token reached the rater"
            await _rate_shown_item(pilot, arena)
            if number < 3:
                assert _names_on(_screen_text(app)) == [], f"{rater} sees names after item {number} of 3"
                await pilot.press("enter")
        item = arena.items[arena.index]
        titles = " ".join(str(arena.query_one(f"#title-{side}", Static).render()) for side in ("left", "right"))
        assert item.left_model in titles and item.right_model in titles, titles
        shown = _screen_text(app)
        assert not any(word in shown for word in SPEED_WORDS), "revealed, the rater mode still shows no speed"
        await pilot.press("p")  # every earlier item shows its names now too
        await wait_until(pilot, lambda: arena.index == 1 and arena.submitted, 15, "the second item, saved")
        earlier = arena.items[1]
        titles = " ".join(str(arena.query_one(f"#title-{side}", Static).render()) for side in ("left", "right"))
        assert earlier.left_model in titles and earlier.right_model in titles, titles


async def test_end_reveal_hides_every_name_until_each_raters_last_item_and_shows_them_after(
        workspace: Workspace, tmp_path: Path) -> None:
    session = _session(workspace, tmp_path, "end")
    await _rate_the_whole_session_as(workspace, session, "r1")
    await _rate_the_whole_session_as(workspace, session, "r2")  # r1's end revealed nothing to r2


async def test_item_reveal_shows_names_after_each_submit_and_the_operator_speed_line_only_then(
        workspace: Workspace, tmp_path: Path) -> None:
    _session(workspace, tmp_path, "item")
    app = MhbenchApp(workspace, rater="r1")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f5")
        await wait_until(pilot, lambda: isinstance(app.screen, Choose), 20, "the session list")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ArenaScreen) and app.screen.controller is not None,
                         20, "the session")
        arena = app.screen
        assert isinstance(arena, ArenaScreen)
        await wait_until(pilot, lambda: all(arena.responses.values()) and not arena.answers_coming(), 20,
                         "both stored answers")
        await pilot.pause()
        before = _screen_text(app)
        assert _names_on(before) == [] and not any(word in before for word in SPEED_WORDS), before
        await _rate_shown_item(pilot, arena)
        item = arena.items[0]
        titles = " ".join(str(arena.query_one(f"#title-{side}", Static).render()) for side in ("left", "right"))
        assert item.left_model in titles and item.right_model in titles, titles
        stats = " ".join(str(arena.query_one(f"#stats-{side}", Static).render()) for side in ("left", "right"))
        assert "17.0 tok/s" in stats, "the operator sees the speed beside revealed names"
        await pilot.press("enter")
        await wait_until(pilot, lambda: arena.index == 1 and all(arena.responses.values())
                         and not arena.answers_coming(), 20, "the next item's answers")
        await pilot.pause()
        nxt = _screen_text(app)
        assert _names_on(nxt) == [] and not any(word in nxt for word in SPEED_WORDS), "hidden again on a new item"


async def test_the_new_session_form_records_the_reveal_choice_and_warns_about_item(
        workspace: Workspace) -> None:
    from textual.widgets import Select

    from core.arena.sessions import list_sessions
    from tui.arena.setup import ArenaSetup

    for n, name in enumerate(MODELS[:2]):
        register_endpoint(workspace, name, f"http://127.0.0.1:9/v{n}")
    app = MhbenchApp(workspace, rater="r1")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f5")  # no session yet: the form opens
        await wait_until(pilot, lambda: isinstance(app.screen, ArenaSetup), 20, "the new-session form")
        setup = app.screen
        await wait_until(pilot, lambda: setup.query_one("#model_b", Select).value != Select.BLANK, 20, "the models")
        reveal = setup.query_one("#reveal", Select)
        assert reveal.value == "end"
        assert str(setup.query_one("#reveal-warning", Static).render()) == ""
        reveal.value = "item"
        await wait_until(pilot, lambda: "recur" in str(setup.query_one("#reveal-warning", Static).render()), 10,
                         "the reveal warning")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: bool(list_sessions(workspace)), 30, "the new session")
    assert [session.reveal for session in list_sessions(workspace)] == ["item"]
