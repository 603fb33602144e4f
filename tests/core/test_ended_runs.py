"""Checkpoints of a run that has ended reach the catalog without a rescan (no swift: hand-made folders)."""

from __future__ import annotations

from pathlib import Path

from core.base.db import open_workspace, registry
from core.base.workspace import Workspace
from core.models import list_models
from core.models.discovery import register_ended_runs
from tests.helpers.model_dirs import make_adapter, make_hf_dir


def _run_with_checkpoints(workspace: Workspace, run_id: str, status: str, steps: list[int], base: Path) -> Path:
    """A run row and its checkpoints, as the supervisor records them."""
    output = workspace.runs_dir / run_id / "output"
    with registry(workspace) as connection:
        connection.execute(
            "INSERT INTO runs (id, name, profile, run_dir, output_dir, argv, env, status, created_at) "
            "VALUES (?, ?, 'p', ?, ?, '[]', '{}', ?, 'now')", (run_id, run_id, str(output.parent), str(output), status))
        for step in steps:
            checkpoint = make_adapter(output / f"checkpoint-{step}", base)
            connection.execute("INSERT INTO checkpoints (path, run_id, step, created_at) VALUES (?, ?, ?, 'now')",
                               (str(checkpoint), run_id, step))
    return output


def test_a_finished_runs_checkpoints_are_registered_once(tmp_path: Path) -> None:
    workspace = open_workspace(Workspace(tmp_path / "ws"))
    base = make_hf_dir(workspace.models_dir / "tiny-llama3")
    _run_with_checkpoints(workspace, "live", "running", [2, 4], base)
    assert register_ended_runs(workspace) == [], "a run still training keeps its checkpoints to itself"
    with registry(workspace) as connection:
        connection.execute("UPDATE runs SET status = 'finished' WHERE id = 'live'")
    new = register_ended_runs(workspace)
    assert [entry.id for entry in new] == ["run-live-ckpt-2", "run-live-ckpt-4"]
    assert all(entry.kind == "adapter" and entry.run_id == "live" for entry in new)
    assert {entry.id for entry in new} <= {entry.id for entry in list_models(workspace)}
    assert register_ended_runs(workspace) == []


def test_a_broken_checkpoint_is_skipped_and_the_rest_registered(tmp_path: Path) -> None:
    workspace = open_workspace(Workspace(tmp_path / "ws"))
    base = make_hf_dir(workspace.models_dir / "tiny-llama3")
    output = _run_with_checkpoints(workspace, "stopped-one", "stopped", [1, 2], base)
    (output / "checkpoint-1" / "adapter_model.safetensors").unlink()  # the save was interrupted
    assert [entry.id for entry in register_ended_runs(workspace)] == ["run-stopped-one-ckpt-2"]
