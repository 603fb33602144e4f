"""The Train mode at 80×24 with several nodes: the form's node fields, the confirm step, a worker node's run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Select

from core.base.db import registry
from core.swift.dialects import installed_swift_version
from tests.helpers.pilot import text_of, wait_until
from tui.app import MhbenchApp
from tui.train.launch import ConfirmLaunch, LaunchForm
from tui.train.loss_plot import LossPlot
from tui.train.runs import TrainScreen

pytestmark = pytest.mark.skipif(installed_swift_version() is None, reason="the confirm step checks the installed swift")


async def test_the_form_takes_the_nodes_and_the_confirm_step_names_this_one(demo, tmp_path: Path) -> None:
    import shutil

    from core.base.db import open_workspace
    from core.base.workspace import Workspace

    workspace = open_workspace(Workspace(tmp_path / "ws"))
    shutil.copytree(demo.workspace.profiles_dir, workspace.profiles_dir, dirs_exist_ok=True)
    app = MhbenchApp(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen), 10, "the Train mode")
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchForm) and app.screen.profiles, 30, "the form")
        form = app.screen
        form.query_one("#profile", Select).value = "demo-tiny-qwen2"
        await pilot.pause()
        form.query_one("#nnodes", Input).value = "2"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, LaunchForm)
        assert "needs the master's address" in text_of(app, "#launch-error")
        form.query_one("#master", Input).focus()
        await pilot.pause()
        assert form.query_one("#master", Input).region.height > 0  # scrolled into view at 80×24
        form.query_one("#master", Input).value = "127.0.0.1:29611"
        form.query_one("#node_rank", Input).value = "1"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmLaunch), 10, "the confirm step")
        confirm = app.screen
        await wait_until(pilot, lambda: confirm.plan is not None or "✗" in text_of(app, "#confirm-body"), 120,
                         "the checked command")
        body = text_of(app, "#confirm-body")
        assert confirm.plan is not None, body
        assert "NODE_RANK=1" in body and "NNODES=2" in body and "MASTER_PORT=29611" in body
        assert "This is node 1/2" in body and "node(s) 0" in body
        await pilot.press("escape")


async def test_a_worker_nodes_run_is_marked_and_says_where_its_curve_is(tmp_path: Path) -> None:
    from core.base.db import open_workspace
    from core.base.workspace import Workspace

    workspace = open_workspace(Workspace(tmp_path / "ws"))
    run_dir = workspace.runs_dir / "20260101-000000-worker"
    (run_dir / "output").mkdir(parents=True)
    (run_dir / "stdout.log").write_text("[INFO:swift] rank: 2, local_rank: 0, world_size: 4\n", encoding="utf-8")
    with registry(workspace) as connection:
        connection.execute(
            "INSERT INTO runs (id, name, profile, run_dir, output_dir, argv, env, status, created_at, node_rank, nnodes)"
            " VALUES (?, 'worker', 'p', ?, ?, '[\"swift\", \"sft\"]', ?, 'finished', '2026-01-01T00:00:00Z', 1, 2)",
            (run_dir.name, str(run_dir), str(run_dir / "output"),
             json.dumps({"NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "10.0.0.1", "NPROC_PER_NODE": "2"})),
        )
    app = MhbenchApp(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen) and app.screen.records, 30, "the run")
        train = app.screen
        table = train.query_one("#run-table", DataTable)
        assert "·n1" in str(table.get_row_at(0)[0])
        await wait_until(pilot, lambda: "node 0 only" in text_of(app, "#run-metrics"), 30, "the worker's note")
        assert "node 1/2" in train.query_one(LossPlot).title
