"""Pilot tests of the rough edges a newcomer hit walking the demo at 80×24 (issue #16, second pass).

No swift needed: runs are hand-made registry rows with their files, as the supervisor
leaves them. Each test reads what is drawn on the screen, not the widgets' data.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from rich.segment import Segment
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import DataTable, OptionList, Static

from core.base.db import open_workspace, registry
from core.base.workspace import Workspace
from core.models import register_adapter
from tests.helpers.model_dirs import make_adapter, make_hf_dir
from tests.helpers.pilot import settle, wait_until
from tui.app import MhbenchApp
from tui.models.screen import ModelsScreen
from tui.shell.toasts import WholeCharacterToast, keep_wide_characters_whole
from tui.train.loss_plot import LossPlot
from tui.train.profiles import ProfilesScreen
from tui.train.runs import TrainScreen

SMALL = (80, 24)


def screen_lines(app: MhbenchApp) -> list[Strip]:
    return list(app.screen._compositor.render_strips())


def screen_text(app: MhbenchApp) -> str:
    return "\n".join(strip.text for strip in screen_lines(app))


def widget_text(widget: Widget) -> str:
    """What ``widget`` draws, line by line, scrolled where it is."""
    width, height = widget.outer_size
    return "\n".join(strip.text for strip in widget.render_lines(Region(0, 0, width, height)))


def add_run(workspace: Workspace, name: str, status: str, steps: int = 120) -> Path:
    """A run row with a logging.jsonl of ``steps`` steps out of twice as many, as swift writes it."""
    run_dir = workspace.runs_dir / f"20260101-000000-{name}"
    output = run_dir / "output"
    output.mkdir(parents=True)
    with (output / "logging.jsonl").open("w", encoding="utf-8") as log:
        for step in range(1, steps + 1):
            log.write(json.dumps({
                "loss": 3 - step / steps, "learning_rate": 1e-4, "epoch": step / steps / 2,
                "global_step/max_steps": f"{step}/{2 * steps}", "elapsed_time": f"{step}s",
                "remaining_time": "2m 0s", "train_speed(s/it)": 1.0,
            }) + "\n")
    (run_dir / "stdout.log").write_text("training\n", encoding="utf-8")
    with registry(workspace) as connection:
        connection.execute(
            "INSERT INTO runs (id, name, profile, run_dir, output_dir, argv, env, status, created_at, last_step,"
            " max_steps, last_loss) VALUES (?, ?, 'p', ?, ?, '[\"swift\", \"sft\"]', '{}', ?, ?, ?, ?, 2.0)",
            (run_dir.name, name, str(run_dir), str(output), status, "2026-01-01T00:00:00Z", steps, 2 * steps),
        )
    return output


# --- finished runs register their checkpoints -----------------------------------------------------


async def test_a_finished_runs_checkpoints_appear_in_models_without_rescan(tmp_path: Path) -> None:
    workspace = open_workspace(Workspace(tmp_path / "ws"))
    base = make_hf_dir(workspace.models_dir / "tiny-llama3")
    output = add_run(workspace, "demo", "running", steps=4)
    app = MhbenchApp(workspace)
    # 100 columns: at 80 the Models footer has no room left for its last keys (r, and the app's ^q and f1).
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelsScreen) and app.screen.entries, 20, "the catalog")
        models = app.screen
        assert "r Rescan" in screen_text(app).splitlines()[-1], "r is in the Models footer"
        assert not any(entry.kind == "adapter" for entry in models.entries)
        # swift ends: the supervisor records the checkpoint and the status; nobody presses r.
        checkpoint = make_adapter(output / "checkpoint-4", base)
        with registry(workspace) as connection:
            connection.execute("INSERT INTO checkpoints (path, run_id, step, created_at) VALUES (?, ?, 4, 'now')",
                               (str(checkpoint), "20260101-000000-demo"))
            connection.execute("UPDATE runs SET status = 'finished' WHERE id = '20260101-000000-demo'")
        await wait_until(pilot, lambda: any(e.id == "run-20260101-000000-demo-ckpt-4" for e in models.entries), 20,
                         "the checkpoint in the catalog")
        table = models.query_one("#model-table", DataTable)
        assert any("ckpt-4" in str(table.get_row_at(row)[1]) for row in range(table.row_count))


async def test_the_server_dot_is_seen_at_80x24_beside_a_long_model_id(tmp_path: Path) -> None:
    from core.base.processes import utc_now

    workspace = open_workspace(Workspace(tmp_path / "ws"))
    base = make_hf_dir(workspace.models_dir / "tiny-llama3")
    output = add_run(workspace, "demo-learning-qwen2-with-a-long-name", "finished", steps=4)
    checkpoint = make_adapter(output / "checkpoint-210", base)
    adapter = register_adapter(workspace, checkpoint)
    with registry(workspace) as connection:  # a server just started (no pid yet), serving the adapter
        connection.execute(
            "INSERT INTO servers (id, backend, model_ids, host, port, base_url, argv, server_dir, status, created_at)"
            " VALUES ('s1', 'swift', ?, '127.0.0.1', 8000, 'http://127.0.0.1:8000/v1', '[]', ?, 'ready', ?)",
            (json.dumps([adapter.id]), str(tmp_path / "server"), utc_now()))
    app = MhbenchApp(workspace)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelsScreen) and app.screen.entries, 20, "the catalog")
        await settle(pilot)
        drawn = widget_text(app.screen.query_one("#model-table", DataTable))
        line = next(line for line in drawn.splitlines() if "ckpt-210" in line)
        assert line.split()[0] == "●", drawn


# --- the Train screen at 80×24 --------------------------------------------------------------------


async def test_train_at_80x24_shows_whole_statuses_the_eta_and_a_readable_plot(tmp_path: Path) -> None:
    workspace = open_workspace(Workspace(tmp_path / "ws"))
    for name, status in (("demo-learning-qwen2", "finished"), ("demo-tiny-llama3", "stopped"),
                         ("demo-tiny-qwen2-again", "failed")):
        add_run(workspace, name, status)
    app = MhbenchApp(workspace)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen) and len(app.screen.records) == 3, 20,
                         "the runs")
        train = app.screen
        plot = train.query_one(LossPlot)
        await wait_until(pilot, lambda: bool(plot.series), 20, "the curve")
        await settle(pilot)
        table = widget_text(train.query_one("#run-table", DataTable))
        for word in ("status", "step", "finished", "stopped", "failed", "120/240"):
            assert re.search(rf"(^|\s){re.escape(word)}(\s|$)", table, re.MULTILINE), (word, table)
        assert "demo-" in table, "the run names keep their start"
        progress = widget_text(train.query_one("#run-progress-text", Static))
        assert re.search(r"ETA \d", progress) and "120/240" in progress, progress
        # Title, frame and ticks take 4 rows of the plot: more than 3 rows are left for the curve.
        assert plot.size.height >= 10, plot.size


# --- Profiles at 80×24 ----------------------------------------------------------------------------


async def _on_profile(pilot, app: MhbenchApp, name: str) -> ProfilesScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, ProfilesScreen) and app.screen.entries, 20, "profiles")
    screen = app.screen
    assert isinstance(screen, ProfilesScreen)
    index = [entry.name for entry in screen.entries].index(name)
    screen.query_one(OptionList).highlighted = index
    await settle(pilot)
    return screen


async def test_profile_values_are_read_whole_at_80x24(tmp_path: Path) -> None:
    app = MhbenchApp(open_workspace(Workspace(tmp_path / "ws")))
    async with app.run_test(size=SMALL) as pilot:
        screen = await _on_profile(pilot, app, "qwen2.5-7b-instruct")
        table = screen.query_one("#profile-params", DataTable)
        drawn = widget_text(table)
        lines = drawn.splitlines()
        assert any(re.search(r"\bname\s+qwen2\.5-7b-instruct\b", line) for line in lines), drawn
        assert any("model.template" in line and "qwen2_5" in line for line in lines), drawn
        values = [str(table.get_row_at(row)[1]) for row in range(table.row_count)]
        assert max(len(value) for value in values) > 11
        # Every value's words are drawn whole somewhere in its column (wrapped, never cut at 11).
        for value in values[:3]:  # the rows in view: name, display name, description
            for word in value.split():
                assert word in drawn, (word, drawn)


async def test_check_command_verdict_is_seen_though_the_pane_is_scrolled_down(demo) -> None:
    app = MhbenchApp(demo.workspace)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        screen = await _on_profile(pilot, app, "demo-tiny-qwen2")
        pane = screen.query_one("#profile-detail")
        pane.scroll_end(animate=False)
        await settle(pilot)
        status = screen.query_one("#profile-status", Static)
        assert pane.scroll_y > 0 and not pane.scrollable_content_region.overlaps(status.region)
        await pilot.press("c")
        await wait_until(pilot, lambda: any("✓" in n.message or "✗" in n.message for n in app._notifications), 300,
                         "the verdict")
        await settle(pilot)
        verdict = next(n for n in app._notifications if "✓" in n.message or "✗" in n.message)
        assert verdict.title == "Check cmd: demo-tiny-qwen2"
        assert pane.scrollable_content_region.overlaps(status.region), "the status line is scrolled into view"
        assert verdict.message.splitlines()[0][:30] in str(status.render())


# --- toasts with Chinese --------------------------------------------------------------------------

MESSAGE = "已停止 检查点保存在 runs/20260101/output/checkpoint-10，请稍后再试。这是一个很长的中文通知。"


async def test_a_chinese_toast_over_the_panes_is_drawn_whole(tmp_path: Path) -> None:
    app = MhbenchApp(open_workspace(Workspace(tmp_path / "ws")))
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await _on_profile(pilot, app, "llama2-7b-dolly-qlora")
        app.notify(MESSAGE, title="停止")
        await wait_until(pilot, lambda: bool(app.screen.query(WholeCharacterToast)), 10, "the toast")
        await settle(pilot)
        region = app.screen.query_one(WholeCharacterToast).region
        lines = screen_lines(app)[:-1]  # the footer's row, which the toast's bottom padding runs under
        drawn = "".join(strip.crop(region.x, region.right).text for strip in lines[region.y:region.bottom])
        assert re.sub(r"[\s▌]", "", drawn) == re.sub(r"\s", "", "停止" + MESSAGE), drawn


def test_a_double_width_character_is_moved_off_a_cut() -> None:
    strip = Strip([Segment("a中文  ")])
    assert keep_wide_characters_whole(strip, {2}).text == "a 中文 "  # 中 sat on cells 1-2, across the cut at 2
    assert keep_wide_characters_whole(strip, {1, 3}).text == "a中文  "  # cuts between characters move nothing
    assert keep_wide_characters_whole(strip, {2}).cell_length == strip.cell_length
