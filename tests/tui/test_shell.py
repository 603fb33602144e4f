"""Pilot tests of the app shell: modes, help, palette, the Profiles screen."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, OptionList, Static

from core.base.db import open_workspace
from tests.helpers.pilot import wait_until
from tui.app import MhbenchApp
from tui.models.screen import ModelsScreen
from tui.results.screen import ResultsScreen
from tui.shell.help import HelpScreen
from tui.train.profiles import ProfilesScreen


def _static_text(app: MhbenchApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def _wait_for_profiles(pilot, app: MhbenchApp) -> None:
    await wait_until(pilot, lambda: isinstance(app.screen, ProfilesScreen) and app.screen.entries, 10,
                     "the profiles to load")


async def test_opens_on_profiles_with_every_profile(demo) -> None:
    app = MhbenchApp(demo.workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await _wait_for_profiles(pilot, app)
        names = [entry.name for entry in app.screen.entries]
        assert {"qwen2.5-7b-instruct", "llama3.1-8b-instruct", "llama3-chinese-8b-instruct-v2",
                "llama2-7b-dolly-qlora", "demo-tiny-qwen2", "demo-tiny-llama3"} <= set(names)
        assert app.screen.query_one(OptionList).option_count == len(names)
        table = app.screen.query_one("#profile-params", DataTable)
        await wait_until(pilot, lambda: table.row_count > 0, 5, "the first profile's parameters")
        keys = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert "train.learning_rate" in keys and "lora.rank" in keys
        command = _static_text(app, "#profile-command")
        assert "swift sft" in command and "--tuner_type lora" in command


async def test_profile_detail_follows_the_cursor_and_shows_vram(demo) -> None:
    app = MhbenchApp(demo.workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await _wait_for_profiles(pilot, app)
        index = [e.name for e in app.screen.entries].index("qwen2.5-7b-instruct")
        app.screen.query_one(OptionList).focus()
        for _ in range(index):
            await pilot.press("down")
        screen = app.screen
        await wait_until(pilot, lambda: getattr(screen.selected_entry(), "name", None) == "qwen2.5-7b-instruct"
                         and screen.gpu_summary != "reading GPUs…", 10, "qwen's detail with the GPUs read")
        await pilot.pause()  # the highlight's handler redraws the detail
        vram = _static_text(app, "#profile-vram")
        assert "train 45–50 GB" in vram and "infer 15–20 GB" in vram
        assert "no NVIDIA GPU" in vram or "GPU0" in vram
        assert "--model_type qwen2" in _static_text(app, "#profile-command")


async def test_invalid_profile_shows_one_line_error(demo, tmp_path: Path) -> None:
    from core.base.workspace import Workspace

    workspace = open_workspace(Workspace(tmp_path / "ws"))
    (workspace.profiles_dir / "broken.toml").write_text(
        'name = "broken"\nextends = "qwen2.5-7b-instruct"\n[train]\nlearnig_rate = 1e-4\n', encoding="utf-8"
    )
    app = MhbenchApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await _wait_for_profiles(pilot, app)
        index = [e.name for e in app.screen.entries].index("broken")
        app.screen.query_one(OptionList).focus()
        for _ in range(index):
            await pilot.press("down")
        screen = app.screen
        await wait_until(pilot, lambda: getattr(screen.selected_entry(), "name", None) == "broken", 5,
                         "the cursor on the broken profile")
        await pilot.pause()  # the highlight's handler redraws the detail
        status = _static_text(app, "#profile-status")
        assert "broken.toml" in status and "train.learnig_rate" in status and "learning_rate" in status


async def test_function_keys_switch_modes_and_f1_helps(demo) -> None:
    app = MhbenchApp(demo.workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await _wait_for_profiles(pilot, app)
        await pilot.press("f4")
        await pilot.pause()
        assert app.current_mode == "models" and isinstance(app.screen, ModelsScreen)
        await pilot.press("f6")
        await pilot.pause()
        assert app.current_mode == "results" and isinstance(app.screen, ResultsScreen)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, ProfilesScreen)


async def test_palette_lists_mode_commands(demo) -> None:
    app = MhbenchApp(demo.workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await _wait_for_profiles(pilot, app)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert {"Go to Profiles", "Go to Train", "Go to Arena", "Help"} <= set(titles)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "CommandPalette"


async def test_every_binding_has_an_id() -> None:
    from tui.shell.help import HelpScreen as Help

    for owner in (MhbenchApp, ProfilesScreen, ResultsScreen, Help):
        for binding in owner.BINDINGS:
            assert binding.id, f"{owner.__name__} binding {binding.key} has no id"  # type: ignore[union-attr]


async def test_check_command_against_installed_swift(demo) -> None:
    import pytest

    from core.swift.dialects import installed_swift_version

    if installed_swift_version() is None:
        pytest.skip("ms-swift not installed")
    app = MhbenchApp(demo.workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await _wait_for_profiles(pilot, app)
        await pilot.press("c")
        await wait_until(pilot, lambda: "✓" in _static_text(app, "#profile-status")
                         or "✗" in _static_text(app, "#profile-status"), 60, "the flag check's verdict")
        assert "✓ every flag is accepted" in _static_text(app, "#profile-status")
