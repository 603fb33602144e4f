"""The rater mode with Pilot: only a rater's sessions, the Arena and the rubric; the operator's are out of reach.

Every mode key, the operator screens' keys and the palette are tried; the modules of the
operator screens and the CLI are never even imported by a run of the rater app.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import Static

from core.arena.controller import ArenaController
from core.arena.raters import add_rater, restrict_session
from core.arena.ratings import current_ratings
from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from tests.helpers.pilot import wait_until
from tests.helpers.rater_world import make_session
from tui.arena.help import RubricHelp
from tui.rater.app import RaterApp
from tui.rater.arena import RaterArenaScreen
from tui.rater.sessions import RaterSessions
from tui.rater.token import TokenScreen

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_KEYS = ["f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10", "n", "g", "d", "s", "m", "l", "k", "x",
                 "delete", "ctrl+d", "ctrl+e", "ctrl+s", "ctrl+r", "ctrl+x"]
ALLOWED_SCREENS = (RaterSessions, RaterArenaScreen, RubricHelp, TokenScreen)


def _screen_text(app: RaterApp) -> str:
    return "\n".join(str(widget.render()) for widget in app.screen.query(Static))


def _only_rater_screens(app: RaterApp) -> None:
    names = [type(screen).__name__ for screen in app.screen_stack]
    assert all(isinstance(screen, ALLOWED_SCREENS) or type(screen).__name__ == "Screen"
               for screen in app.screen_stack), names


def _rate_other(workspace: Workspace, session_id: str) -> None:
    controller = ArenaController.open(workspace, session_id, "r2")
    for pending in controller.start_turn():
        stored = controller.answers.stored_answer(pending)
        assert stored is not None and controller.answers.accept(pending, stored)
    for key in "11s11sx":
        controller.press(key)
    controller.set_comment("SECRET-COMMENT-OF-r2")
    controller.submit()
    controller.close()


async def test_the_operator_keys_screens_and_palette_are_unreachable(workspace: Workspace, tmp_path: Path) -> None:
    session = make_session(workspace, tmp_path)
    _rate_other(workspace, session.id)
    app = RaterApp(workspace, "r1", language="en")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RaterSessions) and app.screen.entries, 15,
                         "the sessions list")
        assert app.MODES == {} and app.door is not None and app.door.rater == "r1"
        assert [(entry.rated, entry.items) for entry in app.screen.entries] == [(0, 3)], "r2's progress is not r1's"
        for key in OPERATOR_KEYS:
            await pilot.press(key)
            await pilot.pause()  # the key has been handled: a screen it opened would be up by now
            _only_rater_screens(app)
        assert isinstance(app.screen, RaterSessions)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RaterArenaScreen)
                         and app.screen.controller is not None and all(app.screen.responses.values()), 15,
                         "the first item's answers")
        screen = app.screen
        assert screen.controller is not None and screen.controller.index == 0
        text = _screen_text(app)
        assert "model-a" not in text and "model-b" not in text and "SECRET-COMMENT-OF-r2" not in text
        assert not set(screen._bindings.key_to_bindings) & {"n", "g"}, "new session and pre-generate are the operator's"
        for key in OPERATOR_KEYS:
            await pilot.press(key)
            await pilot.pause()  # the key has been handled: a screen it opened would be up by now
            _only_rater_screens(app)
        assert app.screen is screen and screen.controller.index == 0 and not screen.submitted
        # The palette offers the rater's own commands and nothing else.
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert titles == ["My sessions", "Rubric help", "Quit"]
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "CommandPalette", 10, "the palette")
        await pilot.press("escape")
        await wait_until(pilot, lambda: type(app.screen).__name__ != "CommandPalette", 10, "the palette to close")
        # The operator's actions refuse even when called by name.
        for action in ("new_session", "pregenerate", "open_session"):
            await app.run_action(f"screen.{action}")
            await pilot.pause()  # the action has run: a screen it opened would be up by now
            _only_rater_screens(app)
        for mode in ("train", "models", "results", "profiles", "arena"):
            with pytest.raises(Exception):  # noqa: B017 - no such mode: Textual raises its own error
                await app.switch_mode(mode)
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, RubricHelp), 10, "the rubric help")
        assert "o           back to your sessions" in _screen_text(app)


async def test_a_rater_rates_in_the_terminal_and_sees_only_their_own(workspace: Workspace, tmp_path: Path) -> None:
    session = make_session(workspace, tmp_path, reveal="item")  # the names show after each submit
    hidden = make_session(workspace, tmp_path, "hidden")
    restrict_session(workspace, hidden.id)
    _rate_other(workspace, session.id)
    app = RaterApp(workspace, "r1", session=session.id, language="en")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RaterArenaScreen)
                         and all(app.screen.responses.values()), 15, "the answers")
        for key in "43s54sa":
            await pilot.press(key)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen.submitted, 15, "the submit")
        assert "model-a" in _screen_text(app)  # revealed after this rater's own submit
        await pilot.press("o")
        await wait_until(pilot, lambda: isinstance(app.screen, RaterSessions) and app.screen.entries
                         and app.screen.entries[0].rated == 1, 15, "the list with the new count")
        assert [entry.id for entry in app.screen.entries] == [session.id], "a restricted session is not listed"
        assert (app.screen.entries[0].rated, app.screen.entries[0].items) == (1, 3)
        with pytest.raises(MhbenchError, match="rates as 'r1'"):
            app.bind_rater("r2")
    mine = current_ratings(workspace, rater="r1")
    assert [(r.source, r.item_position) for r in mine] == [("terminal", 0)]


async def test_the_token_screen_lets_in_only_a_live_token(workspace: Workspace, tmp_path: Path) -> None:
    make_session(workspace, tmp_path)
    token = add_rater(workspace, "alice").token
    app = RaterApp(workspace, "bob", source="browser", token_required=True, language="en")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TokenScreen), 10, "the token screen")
        assert app.door is None, "a browser tab is bound by its token, never by a name"
        for wrong in ("mhb_nope", token[:-1], "alice"):
            await pilot.press(*wrong, "enter")
            await wait_until(pilot, lambda: "not valid" in _screen_text(app), 10, "the refusal")
            assert isinstance(app.screen, TokenScreen) and app.door is None
        await pilot.press(*token, "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RaterSessions), 10, "the sessions")
        assert app.door is not None and (app.door.rater, app.door.source) == ("alice", "browser")


def test_a_run_of_the_rater_app_loads_no_operator_screen_and_no_cli(workspace: Workspace, tmp_path: Path) -> None:
    session = make_session(workspace, tmp_path)
    script = f"""
import asyncio, json, sys
from pathlib import Path
from core.base.workspace import Workspace
from tests.helpers.pilot import wait_until
from tui.rater.app import RaterApp

async def main():
    app = RaterApp(Workspace(Path({str(workspace.root)!r})), "r1", session={session.id!r})
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: getattr(app.screen, "controller", None) is not None, 30, "the first item")
        for key in {OPERATOR_KEYS!r}:
            await pilot.press(key)
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "CommandPalette", 30, "the palette")
        await pilot.pause()  # the palette's commands are gathered: whatever they import is in by now
    print(json.dumps(sorted(name for name in sys.modules if name.startswith(("tui", "core")))))

asyncio.run(main())
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert "tui.rater.arena" in loaded
    forbidden = [name for name in loaded if name == "tui.app" or name.startswith(
        ("tui.cli", "tui.train", "tui.models", "tui.results", "tui.shell.help", "core.results"))]
    # (core.train.runs comes in with the model catalog, for checkpoints' lineage: data, not a control.)
    assert not forbidden, forbidden
    # The per-tab command takes no operator subcommand.
    refused = subprocess.run([sys.executable, "-m", "tui.rater", "--workspace", str(workspace.root), "export",
                              "ratings"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "unrecognized arguments" in refused.stderr
