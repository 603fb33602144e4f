"""A real launch from the CLI runs exactly the command its dry run printed (the tiny demo run, for real)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.swift.dialects import installed_swift_version
from tests.helpers.commands import cli, with_run_id
from tests.helpers.real_runs import wait_for_run

HAS_SWIFT = installed_swift_version() is not None


@pytest.mark.integration
@pytest.mark.skipif(not HAS_SWIFT, reason="ms-swift not installed")
def test_a_real_launch_runs_the_printed_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Start the tiny demo run for real from the CLI and read back what its supervisor ran."""
    from core.demo import create_demo

    workspace = create_demo(tmp_path / "demo").workspace
    arguments = ["train", "demo-tiny-qwen2", "--set", "train.max_steps=2", "--set", "train.save_steps=1000",
                 "--set", "train.eval_steps=1000", "--gpus", "0", "--name", "real"]
    shown = json.loads(cli(capsys, workspace, *arguments, "--dry-run", "--json"))
    run_id = cli(capsys, workspace, *arguments).split()[0]
    record = wait_for_run(workspace, run_id, 300, "the 2-step run")
    assert record.status == "finished", record.diagnosis
    spec = json.loads((record.run_dir / "run.json").read_text(encoding="utf-8"))
    assert with_run_id(shown["argv"], run_id) == spec["argv"] == list(record.argv)
    assert shown["env"] == spec["env"] == dict(record.env) == {"PYTHONUNBUFFERED": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "0"}
