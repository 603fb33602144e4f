"""Pilot test of the Models mode: the newcomer's path on the demo workspace, with the real tools.

A 2-step LoRA run of the tiny Llama → merge (m) → f16 GGUF (g) → Q8_0 (q) → parity (p)
→ chat (c) through a llama.cpp server; then a second app chats through the same server.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from core.demo import DEMO_LLAMA, create_demo
from core.swift.dialects import installed_swift_version
from tests.helpers.pilot import wait_for_real_work, wait_until
from tests.helpers.real_runs import wait_for_run
from tui.app import MhbenchApp
from tui.models.chat import ChatScreen
from tui.models.screen import ModelsScreen
from tui.shell.dialogs import Choose
from tui.widgets.chat_pane import ChatPane

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(installed_swift_version() is None, reason="ms-swift not installed"),
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed"),
]


def _trained_workspace(root: Path):
    from core.profiles import apply_overrides, find_profile, load_profiles
    from core.train.launch import LaunchRequest, launch, plan_run

    workspace = create_demo(root).workspace
    profile = apply_overrides(find_profile(load_profiles(workspace.profiles_dir), DEMO_LLAMA), ["train.max_steps=2"])
    record = launch(workspace, plan_run(workspace, LaunchRequest(profile=profile, name="pilot")))
    assert wait_for_run(workspace, record.id, 300, "the 2-step training run").status == "finished"
    return workspace


async def _select(pilot, screen: ModelsScreen, predicate, what: str, timeout: float = 300) -> str:
    """Wait for a catalog entry, then put the cursor on it; returns its id."""
    await wait_for_real_work(pilot, lambda: any(predicate(e) for e in screen.entries), timeout, what)
    index = next(i for i, e in enumerate(screen.entries) if predicate(e))
    screen.query_one("#model-table", DataTable).move_cursor(row=index)
    await wait_until(pilot, lambda: screen.selected_id == screen.entries[index].id, 10, f"the cursor on {what}")
    return screen.entries[index].id


async def _chat(pilot, app: MhbenchApp, prompt: str) -> ChatScreen:
    await pilot.press("c")
    await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen), 30, "the chat screen")
    chat = app.screen
    assert isinstance(chat, ChatScreen)
    await wait_for_real_work(pilot, lambda: chat.target is not None, 120, "the server")
    chat.query_one("#chat-input", Input).value = prompt
    await pilot.press("enter")
    await wait_for_real_work(pilot, lambda: len(chat.history) == 2 and chat.streaming is None, 120, "the answer")
    return chat


async def test_merge_convert_quantise_parity_serve_chat_then_a_second_app_reuses(tmp_path: Path) -> None:
    from core.models import get_model
    from core.models.serving import list_servers, stop_server

    workspace = _trained_workspace(tmp_path / "ws")
    app = MhbenchApp(workspace)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.press("f4")
            await wait_until(pilot, lambda: isinstance(app.screen, ModelsScreen), 20, "the Models mode")
            screen = app.screen
            assert isinstance(screen, ModelsScreen)
            await _select(pilot, screen, lambda e: e.kind == "adapter", "the run's adapter", 60)
            await pilot.press("m")
            merged = await _select(pilot, screen, lambda e: e.kind == "merged", "the merged model")
            await pilot.press("g")
            f16 = await _select(pilot, screen, lambda e: e.quant == "F16", "the f16 GGUF")
            await pilot.press("q")
            await wait_until(pilot, lambda: isinstance(app.screen, Choose), 10, "the quant choice")
            await pilot.press("enter")  # Q8_0, the first choice
            q8 = await _select(pilot, screen, lambda e: e.quant == "Q8_0", "the Q8_0 GGUF")
            lineage = str(screen.query_one("#model-lineage", Static).render())
            assert f"{merged} → {f16} → {q8}" in lineage and "Q8_0" in lineage
            await pilot.press("p")
            await wait_for_real_work(pilot, lambda: "parity" in get_model(workspace, q8).lineage, 300, "the parity verdict")
            assert get_model(workspace, q8).lineage["parity"]["passed"] is True
            chat = await _chat(pilot, app, "我最近总是睡不着")
            first_server = chat.target.server_id if chat.target else None
            assert first_server is not None and chat.query_one(ChatPane).answer
            note = str(chat.query_one("#chat-status", Static).render())
            assert "tokens" in note and "tok/s" in note
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is screen, 10, "back to the catalog")

        # The first app has quit; its server has not. A second app (a second rater) reuses it.
        second = MhbenchApp(workspace)
        async with second.run_test(size=(80, 24)) as pilot:
            await pilot.press("f4")
            await wait_until(pilot, lambda: isinstance(second.screen, ModelsScreen), 20, "the Models mode")
            screen = second.screen
            assert isinstance(screen, ModelsScreen)
            await _select(pilot, screen, lambda e: e.id == q8, "the Q8_0 GGUF", 30)
            chat = await _chat(pilot, second, "还有别的办法吗？")
            assert chat.target is not None and chat.target.server_id == first_server
        assert [s.id for s in list_servers(workspace, active_only=True)] == [first_server]
    finally:
        for server in list_servers(workspace, active_only=True):
            stop_server(workspace, server.id, timeout=20)
