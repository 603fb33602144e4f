"""Pilot: shared answers stay shared. The operator's regenerate never changes a rated item; a rater cannot regenerate.

Answers are stored through the core API; the operator's regenerate streams from a small
local server speaking the OpenAI stream (:class:`tests.core.test_client.FakeServer`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from textual.widgets import Static

from core.arena.answers import ModelServers
from core.arena.controller import ArenaController
from core.arena.door import RaterDoor
from core.arena.ratings import current_ratings
from core.arena.reports import report_answer, session_reports
from core.arena.sessions import Response, Session, opening_messages, session_items, stored_response
from core.base.workspace import Workspace
from core.models.targets import ChatTarget
from tests.helpers.fake_openai import SSE_HEAD, FakeServer, chunk, fake_server
from tests.helpers.pilot import wait_until
from tests.helpers.rater_world import make_session
from tui.app import MhbenchApp
from tui.arena.screen import ArenaScreen
from tui.rater.app import RaterApp
from tui.rater.arena import RaterArenaScreen
from tui.shell.dialogs import Choose

FRESH = "regenerated-answer 新的一版回答。"


class FreshServer(FakeServer):
    """Every request (``model`` "fresh") streams :data:`FRESH`."""

    async def scenario_fresh(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.send(writer, SSE_HEAD, chunk(FRESH[:12]), chunk(FRESH[12:], finish="stop"), b"data: [DONE]\n\n")


def servers_at(url: str) -> type[ModelServers]:
    """The session's servers, all answering from the fake server at ``url``."""

    class FakeServers(ModelServers):
        async def connect(self, workspace: Workspace, session: Session, progress: object = None) -> None:
            self.targets = {model: ChatTarget(model, url, "fresh") for model in session.models}
            self._connected.set()

    return FakeServers


def _rate_as(workspace: Workspace, session_id: str, rater: str) -> dict[str, Response | None]:
    """``rater`` rates their first unrated item from the store; the versions they were shown."""
    controller = ArenaController.open(workspace, session_id, rater)
    for pending in controller.start_turn():
        stored = controller.answers.stored_answer(pending)
        assert stored is not None and controller.answers.accept(pending, stored)
    for key in "43s54sa":
        assert controller.press(key)
    controller.submit()
    shown = dict(controller.responses)
    controller.close()
    return shown


def _shown_to(workspace: Workspace, session_id: str, rater: str, position: int) -> dict[str, Response | None]:
    """The versions a fresh rater's Arena would show on the item at ``position``."""
    controller = ArenaController.open(workspace, session_id, rater)
    while controller.item.position != position:
        assert controller.place.forward()
        controller.reset_item()
    shown = {}
    for pending in controller.start_turn():
        shown[pending.side] = controller.answers.stored_answer(pending)
    controller.close()
    return shown


def _header(arena: ArenaScreen) -> str:
    return str(arena.query_one("#arena-item", Static).render())


async def _open_operator_arena(pilot, app: MhbenchApp, arena: ArenaScreen) -> ArenaScreen:  # type: ignore[no-untyped-def]
    await app.push_screen(arena)
    await wait_until(pilot, lambda: isinstance(app.screen, Choose), 20, "the session list")
    await pilot.press("enter")
    await wait_until(pilot, lambda: arena.controller is not None and all(arena.responses.values()), 20,
                     "the stored answers")
    return arena


async def test_the_operators_regenerate_leaves_rated_items_untouched(workspace: Workspace, tmp_path: Path) -> None:
    session = make_session(workspace, tmp_path)
    first, second = (item.position for item in session_items(workspace, session.id)[:2])
    rated_with = _rate_as(workspace, session.id, "r1")  # r1 rated the first item
    report_answer(workspace, session_id=session.id, item_position=first, turn=1, rater="r3", side="left",
                  reason="cut_off")
    async with fake_server(FreshServer) as fake:
        app = MhbenchApp(workspace, rater="op")
        async with app.run_test(size=(100, 30)) as pilot:
            arena = await _open_operator_arena(pilot, app, ArenaScreen(servers=servers_at(fake.url)))
            assert arena.controller is not None and arena.controller.item.position == first
            await wait_until(pilot, lambda: "reported broken" in _header(arena), 10, "the report marker")
            assert "A cut off (rater r3" in _header(arena)
            await pilot.press("r")
            regenerated: Callable[[], bool] = lambda: all(  # noqa: E731
                response is not None and response.text == FRESH for response in arena.responses.values())
            await wait_until(pilot, regenerated, 20, "the regenerated answers")
            # The operator sees the new version of a rated item; everyone who rates it still gets r1's.
            assert all(response.generation == 1 for response in arena.responses.values())  # type: ignore[union-attr]
            assert _shown_to(workspace, session.id, "r2", first) == rated_with
            for key in "22s22sb":
                await pilot.press(key)
            await pilot.press("enter")
            await wait_until(pilot, lambda: arena.submitted, 20, "the operator's rating")
            await pilot.press("enter")  # on to the second item, rated by nobody
            await wait_until(pilot, lambda: arena.controller is not None and arena.controller.item.position == second
                             and all(arena.responses.values()), 20, "the second item's stored answers")
            assert "reported broken" not in _header(arena)
            await pilot.press("r")
            await wait_until(pilot, regenerated, 20, "the second item's regenerated answers")
    # An item not yet rated shows the new version; the rated one keeps the version it was rated with.
    assert all(response is not None and response.text == FRESH
               for response in _shown_to(workspace, session.id, "r2", second).values())
    assert _shown_to(workspace, session.id, "r2", first) == rated_with
    ratings = {(r.rater, r.item_position): r for r in current_ratings(workspace, session_id=session.id)}
    assert ratings["r1", first].left_response_id == rated_with["left"].id  # type: ignore[union-attr]
    assert ratings["op", first].left_response_id != rated_with["left"].id  # the operator's records what they saw


async def test_a_rater_has_no_regenerate_and_reports_a_broken_answer(workspace: Workspace, tmp_path: Path) -> None:
    session = make_session(workspace, tmp_path)
    first = session_items(workspace, session.id)[0]
    app = RaterApp(workspace, "r1", session=session.id, language="en")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RaterArenaScreen)
                         and all(app.screen.responses.values()), 15, "the answers")
        arena = app.screen
        assert isinstance(arena, RaterArenaScreen) and arena.controller is not None
        assert "r" not in arena._bindings.key_to_bindings, "regenerate is the operator's"
        shown = dict(arena.responses)
        await pilot.press("r")
        await pilot.pause()
        assert dict(arena.responses) == shown and not arena.answers_coming()
        await app.run_action("screen.regenerate")  # called by name, it still refuses
        await pilot.pause()
        assert dict(arena.responses) == shown
        assert all(stored_response(workspace, session, model, opening_messages(first)).generation == 0  # type: ignore[union-attr]
                   for model in session.models)
        await pilot.press("exclamation_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, Choose), 10, "which side")
        await pilot.press("down", "enter")  # B
        await wait_until(pilot, lambda: isinstance(app.screen, Choose) and "Why" in app.screen.title_text, 10,
                         "the reason")
        await pilot.press("down", "enter")  # cut off
        await wait_until(pilot, lambda: arena.controller is not None and arena.controller.item.position
                         != first.position and all(arena.responses.values()), 15, "the next item")
        (report,) = session_reports(workspace, session.id)
        assert (report.item_position, report.side, report.reason, report.rater) == (first.position, "right",
                                                                                    "cut_off", "r1")
        assert report.right_response_id == shown["right"].id  # type: ignore[union-attr]
        for _ in range(2):
            await wait_until(pilot, lambda: all(arena.responses.values()) and not arena.submitted, 15, "answers")
            for key in "43s54sa":
                await pilot.press(key)
            await pilot.press("enter")
            await wait_until(pilot, lambda: arena.submitted, 15, "the saved rating")
            await pilot.press("enter")
        await wait_until(pilot, lambda: any("last item" in n.message for n in app._notifications), 10,
                         "the end-of-session notice")
    assert first.position not in {r.item_position for r in current_ratings(workspace, rater="r1")}
    door = RaterDoor(workspace, "r1")
    entry = door.sessions()[0]
    door.close()
    assert (entry.rated, entry.items, entry.done) == (2, 2, True)
