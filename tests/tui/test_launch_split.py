"""Pilot: the launch form offers the train file of a held-out split, at 80×24."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from core.base.workspace import Workspace
from core.train.datasets.holdout import split_dataset
from tests.helpers.pilot import settle, wait_until
from tui.app import MhbenchApp
from tui.train.launch import LaunchForm
from tui.train.runs import TrainScreen

DEMO_DIALOGUES = Path(__file__).resolve().parents[2] / "core" / "demo" / "data" / "dialogues.jsonl"


async def test_typing_a_slash_in_the_dataset_field_offers_the_split_s_train_file(workspace: Workspace,
                                                                               tmp_path: Path) -> None:
    split = split_dataset(workspace, DEMO_DIALOGUES, tmp_path / "split", hold_out=5)
    app = MhbenchApp(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen), 10, "the Train mode")
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchForm) and app.screen.split_train_files, 30,
                         "the form and the recorded split")
        dataset = app.screen.query_one("#dataset", Input)
        dataset.focus()
        await pilot.press("/")
        await settle(pilot)
        await pilot.press("right")  # takes the suggestion
        await wait_until(pilot, lambda: dataset.value == str(split.train_path), 10, "the train file taken",
                         detail=lambda: dataset.value)
