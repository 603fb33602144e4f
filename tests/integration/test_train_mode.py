"""Pilot tests of the Train mode on real swift runs of the tiny demo model."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Log, Select, Static

from core.demo import create_demo
from core.swift.dialects import installed_swift_version
from tests.helpers.pilot import text_of, wait_for_real_work, wait_until
from tests.helpers.real_runs import wait_for_run
from tui.app import MhbenchApp
from tui.train.launch import ConfirmLaunch, LaunchForm
from tui.train.loss_plot import LossPlot
from tui.train.runs import TrainScreen

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(installed_swift_version() is None, reason="ms-swift not installed"),
]


async def test_form_confirm_live_panes_then_stop(tmp_path: Path) -> None:
    workspace = create_demo(tmp_path / "ws").workspace
    app = MhbenchApp(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen), 10, "the Train mode")
        train = app.screen
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchForm) and app.screen.profiles, 30, "the form")
        form = app.screen
        form.query_one("#profile", Select).value = "demo-tiny-qwen2"
        await pilot.pause()
        form.query_one("#max_steps", Input).value = "200"
        form.query_one("#name", Input).value = "pilot"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmLaunch), 10, "the confirm step")
        confirm = app.screen
        await wait_for_real_work(pilot, lambda: confirm.plan is not None, 120, "the checked command")
        body = text_of(app, "#confirm-body")
        assert "swift sft" in body and "--max_steps 200" in body and "PYTHONUNBUFFERED=1" in body
        assert "sharegpt" in body
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is train and train.records, 30, "the run in the list")
        record = train.records[0]
        assert record.name == "pilot" and record.active
        await wait_for_real_work(pilot, lambda: len(train.query_one(LossPlot).series[0].points) >= 3
                                 if train.query_one(LossPlot).series else False, 300, "three logged steps on the plot")
        assert "loss" in text_of(app, "#run-metrics")
        assert "/200" in text_of(app, "#run-progress-text")
        assert train.query_one("#run-log", Log).line_count > 0
        assert "no NVIDIA GPU" in str(train.query_one("#gpu-pane", Static).render())
        await pilot.press("s")
        await wait_for_real_work(pilot, lambda: any(r.id == record.id and r.status == "stopped" for r in train.records),
                                 180, "the stopped status")
        table = train.query_one("#run-table", DataTable)
        assert table.row_count == 1


async def test_reopened_app_shows_the_whole_finished_curve(tmp_path: Path) -> None:
    from core.profiles import apply_overrides, find_profile, load_profiles
    from core.train.launch import LaunchRequest, launch, plan_run

    workspace = create_demo(tmp_path / "ws").workspace
    profile = apply_overrides(find_profile(load_profiles(workspace.profiles_dir), "demo-tiny-qwen2"),
                              ["train.max_steps=8", "train.save_steps=1000", "train.eval_steps=4"])
    record = launch(workspace, plan_run(workspace, LaunchRequest(profile=profile, name="history")))
    wait_for_run(workspace, record.id, 300, "the 8-step run")
    app = MhbenchApp(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen) and app.screen.records, 30, "the runs")
        plot = app.screen.query_one(LossPlot)
        await wait_until(pilot, lambda: bool(plot.series), 30, "the curve")
        assert [step for step, _ in plot.series[0].points] == list(range(1, 9))
        assert len(plot.series) == 2  # train and eval
