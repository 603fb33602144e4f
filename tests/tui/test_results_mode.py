"""Pilot: the Results mode at 80×24 over ratings made through the real APIs (endpoint models, no servers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Static, TabbedContent

from core.base.db import open_workspace
from core.base.workspace import Workspace
from tests.helpers.pilot import wait_until
from tests.helpers.results_world import ITEMS, build_ratings
from tui.app import MhbenchApp
from tui.results.hbars import HBars
from tui.results.screen import ResultsScreen


def _text(screen: ResultsScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


@pytest.fixture(scope="module")
def rated(tmp_path_factory: pytest.TempPathFactory):
    return build_ratings(open_workspace(Workspace(tmp_path_factory.mktemp("results-tui") / "ws")))


async def _open(pilot, app: MhbenchApp) -> ResultsScreen:
    await pilot.press("f6")
    await wait_until(pilot, lambda: isinstance(app.screen, ResultsScreen), 10, "the Results screen")
    screen = app.screen
    assert isinstance(screen, ResultsScreen)
    await wait_until(pilot, lambda: screen.query_one("#results-board", DataTable).row_count > 0, 30,
                     "the leaderboard")
    return screen


async def test_leaderboard_filters_tabs_and_chart(rated) -> None:
    app = MhbenchApp(rated.workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, app)
        board = screen.query_one("#results-board", DataTable)
        m1, m2, m3 = (rated.ids[name] for name in ("m1", "m2", "m3"))
        assert [str(board.get_row_at(i)[1]) for i in range(board.row_count)] == [m1, m2, m3]
        assert f"{3 * 2 * ITEMS + 2} ratings" in _text(screen, "#results-status")
        assert "rater: all" in _text(screen, "#results-filters")
        # 1 cycles the rater filter: r1, then r2, then all again; 0 clears everything.
        await pilot.press("1")
        assert "rater: r1" in _text(screen, "#results-filters")
        await wait_until(pilot, lambda: screen.results is not None and screen.results.filters.rater == "r1"
                         and not screen.busy, 30, "r1's results")
        assert f"{3 * ITEMS + 2} ratings" in _text(screen, "#results-status")
        await pilot.press("4")
        await wait_until(pilot, lambda: screen.results is not None and screen.results.filters.model is not None
                         and not screen.busy, 30, "the model filter")
        assert "model: all" not in _text(screen, "#results-filters")
        await pilot.press("0")
        await wait_until(pilot, lambda: screen.results is not None and not screen.results.filters.active
                         and not screen.busy, 30, "all the ratings again")
        assert "rater: all" in _text(screen, "#results-filters")
        # t walks the tabs; every pane has its content.
        tabs = screen.query_one("#results-tabs", TabbedContent)
        await pilot.press("t")
        assert tabs.active == "tab-matrix"
        matrix = screen.query_one("#results-matrix", DataTable)
        assert matrix.row_count == 3 and str(matrix.get_row_at(0)[3]) == "13-3-2"
        await pilot.press("t")
        chart = screen.query_one("#results-chart", HBars)
        assert tabs.active == "tab-chart" and [bar.label for bar in chart.bars] == [m1, m2, m3]
        assert "█" in str(chart.render())
        await pilot.press("c")
        assert "empathy" in chart.title
        await pilot.press("t")
        assert tabs.active == "tab-stats"
        stats = _text(screen, "#results-stats")
        assert "Position bias" in stats and "Krippendorff" in stats and "BLEU-4" in stats


async def test_an_empty_workspace_says_so(tmp_path: Path) -> None:
    app = MhbenchApp(open_workspace(Workspace(tmp_path / "ws")))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f6")
        await wait_until(pilot, lambda: isinstance(app.screen, ResultsScreen) and app.screen.results is not None,
                         30, "the empty results")
        assert "no ratings yet" in _text(app.screen, "#results-status")
        for key in "1234c0t":  # nothing to cycle through, nothing to chart: no error either
            await pilot.press(key)
        assert "rater: all" in _text(app.screen, "#results-filters")


async def test_e_exports_the_filtered_ratings(rated) -> None:
    app = MhbenchApp(rated.workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, app)
        await pilot.press("1")
        await wait_until(pilot, lambda: not screen.busy, 30, "r1's results")
        await pilot.press("e")
        folder = rated.workspace.exports_dir
        names = ("ratings-rater_r1.csv", "comparisons-rater_r1.csv", "battles-rater_r1.jsonl")
        await wait_until(pilot, lambda: all((folder / name).is_file() for name in names), 30, "the exports")
        lines = (folder / "battles-rater_r1.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == 3 * ITEMS + 2


def _cli(argv: list[str]):
    import argparse

    from tui.cli import results as results_commands

    parser = argparse.ArgumentParser(prog="mhbench")
    parser.add_argument("--workspace")
    parser.add_argument("--rater")
    results_commands.add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_results_command_text_and_json(rated, capsys) -> None:
    import json

    root = str(rated.workspace.root)
    assert _cli(["--workspace", root, "--rater", "r2", "results", "--rounds", "50"]) == 0
    text = capsys.readouterr().out
    assert "Bradley–Terry" in text and f"{3 * 2 * ITEMS + 2} current ratings" in text
    assert _cli(["--workspace", root, "results", "--rater", "r1", "--model", rated.ids["m3"], "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["filters"] == {"rater": "r1", "session": None, "tag": None, "model": rated.ids["m3"], "kind": None}
    assert data["standings"][-1]["model"] == rated.ids["m3"] and data["ratings"] == 2 * ITEMS


async def test_new_ratings_show_on_the_next_refresh(tmp_path: Path) -> None:
    from core.arena.ratings import RatingInput, RatingStore

    built = build_ratings(open_workspace(Workspace(tmp_path / "ws")))
    app = MhbenchApp(built.workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, app)
        before = screen.results.ratings if screen.results else 0
        last = built.submitted[0]
        with RatingStore(built.workspace) as store:
            store.submit(RatingInput(**{**last.__dict__, "rater": "r3"}))
        screen.refresh_if_shown()  # what the 10-second timer calls
        await wait_until(pilot, lambda: screen.results is not None and screen.results.ratings == before + 1, 30,
                         "the new rating")
        assert "3 raters" in _text(screen, "#results-status")


async def test_user_text_is_never_markup_and_errors_are_shown(tmp_path: Path) -> None:
    from core.arena.prompts import register_prompt_set
    from core.arena.ratings import RatingInput, RatingStore
    from core.arena.sessions import create_session, session_items
    from core.models import register_endpoint

    workspace = open_workspace(Workspace(tmp_path / "ws"))
    a = register_endpoint(workspace, "a", "http://127.0.0.1:9/a").id
    b = register_endpoint(workspace, "b", "http://127.0.0.1:9/b").id
    session = create_session(workspace, register_prompt_set(workspace).id, a, b, name="[b]会话[/b]")
    item = session_items(workspace, session.id)[0]
    with RatingStore(workspace) as store:
        store.submit(RatingInput(session.id, 0, "[red]x[/]", "default", item.left_model, item.right_model,
                                 {"empathy": 4, "professionalism": 4, "safe": 1}, {"empathy": 2, "professionalism": 3, "safe": 1},
                                 "left"))
    app = MhbenchApp(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, app)
        await pilot.press("1", "2")
        filters = _text(screen, "#results-filters")
        assert "rater: [red]x[/]" in filters and "session: [b]会话[/b]" in filters
        await wait_until(pilot, lambda: screen.results is not None and screen.results.filters.session == session.id
                         and not screen.busy, 30, "the filtered results")
        assert "[red]x[/]" in str(screen.stats_text(screen.results))
        screen.filters["tag"] = "no-such-tag"
        screen.recompute()
        await wait_until(pilot, lambda: not screen.busy, 30, "the error")
        assert "no current rating has tag 'no-such-tag'" in _text(screen, "#results-status")
        await pilot.press("0")
        await wait_until(pilot, lambda: not screen.busy and screen.error is None, 30, "the cleared filters")
