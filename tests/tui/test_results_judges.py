"""Pilot: the Results mode's stopping line, the Judges tab, and j pooling the judges into the numbers."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Static, TabbedContent

from tests.helpers.judge_world import JUDGE, build_rated
from tests.helpers.pilot import wait_until
from tui.app import MhbenchApp
from tui.results.screen import ResultsScreen


def _text(screen: ResultsScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_stopping_line_judges_tab_and_the_judges_toggle(tmp_path: Path) -> None:
    workspace, _session, _inputs = build_rated(tmp_path / "ws")
    app = MhbenchApp(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f6")
        await wait_until(pilot, lambda: isinstance(app.screen, ResultsScreen), 10, "the Results screen")
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await wait_until(pilot, lambda: screen.query_one("#results-board", DataTable).row_count == 2, 30,
                         "the leaderboard")
        assert screen.results is not None and not screen.results.include_judges
        assert "24 ratings" in _text(screen, "#results-status") and "2 raters" in _text(screen, "#results-status")
        stop = screen.results.stopping
        line = _text(screen, "#results-stopping")
        assert line.startswith("stop: ") and f"{stop.top} vs {stop.second}" in line
        assert ("separated (" in line) if stop.separated else ("not separated (" in line)
        assert "judges: out" in _text(screen, "#results-filters")
        tabs = screen.query_one("#results-tabs", TabbedContent)
        for _ in range(4):
            await pilot.press("t")
        assert tabs.active == "tab-judges"
        await wait_until(pilot, lambda: JUDGE in _text(screen, "#results-judges"), 30, "the calibration")
        judges = _text(screen, "#results-judges")
        assert "judge–human" in judges and "human–human" in judges and "vs h1" in judges
        assert "exact 100%" in judges and "needs --both-orders" in judges
        await pilot.press("j")
        await wait_until(pilot, lambda: screen.results is not None and screen.results.include_judges
                         and not screen.busy, 30, "the pooled results")
        assert "36 ratings" in _text(screen, "#results-status") and "3 raters" in _text(screen, "#results-status")
        assert "judges: in" in _text(screen, "#results-filters")
        await pilot.press("j")
        await wait_until(pilot, lambda: screen.results is not None and not screen.results.include_judges
                         and not screen.busy, 30, "humans only again")


async def test_g_starts_a_judge_job_on_the_filtered_session(tmp_path: Path) -> None:
    from core.models.jobs import list_jobs, wait_job
    from tui.shell.dialogs import Choose

    workspace, session_id, _inputs = build_rated(tmp_path / "ws")
    app = MhbenchApp(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f6")
        await wait_until(pilot, lambda: isinstance(app.screen, ResultsScreen) and app.screen.results is not None,
                         30, "the Results screen")
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await pilot.press("2")
        assert screen.filters["session"] == session_id
        await pilot.press("g")
        await wait_until(pilot, lambda: isinstance(app.screen, Choose) and "with:" in app.screen.title_text, 20,
                         "the judge model choice")
        choice = app.screen
        assert isinstance(choice, Choose) and "m-judge" in choice.options
        choice.query_one("#choose-list").highlighted = choice.options.index("m-judge")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, Choose) and app.screen is not choice, 20, "the modes")
        await pilot.press("down", "enter")  # both orders
        await wait_until(pilot, lambda: bool(list_jobs(workspace, "judge")), 30, "the judge job")
    (job,) = list_jobs(workspace, "judge")
    assert job.source_id == session_id and "--both-orders" in job.argv and "m-judge" in job.argv
    # The endpoint is not there (127.0.0.1:9): the job fails and says where it could not connect.
    ended = wait_job(workspace, job.id, 120)
    assert ended.status == "failed" and "127.0.0.1:9" in ended.stdout_path.read_text(encoding="utf-8")
