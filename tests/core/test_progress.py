"""core.train.progress: the Train screen's figures, progress line and failure text as plain strings."""

from __future__ import annotations

from pathlib import Path

from core.train.curve import RunCurve
from core.train.progress import failure_text, format_duration, latest_figures, progress_summary
from core.train.records import parse_record
from core.train.runs import RunRecord
from tests.helpers.swift_log_samples import EVAL_STRINGS, STEP_STRINGS


def _record(status: str, diagnosis: dict[str, str] | None) -> RunRecord:
    return RunRecord(
        id="20250101-000000-demo", name="demo", profile="demo-tiny-qwen2", parent_id=None, resume_from=None,
        run_dir=Path("/runs/demo"), output_dir=Path("/runs/demo/output"), argv=("swift", "sft"), env={},
        status=status, pid=None, pgid=None, start_time=None, exit_code=1, signal=None, stop_requested=False,
        created_at="2025-01-01T00:00:00Z", started_at=None, ended_at=None, last_step=None, max_steps=None,
        last_loss=None, last_checkpoint=None, diagnosis=diagnosis,
    )


def _curve(*objects: dict[str, object]) -> RunCurve:
    curve = RunCurve()
    for obj in objects:
        record = parse_record(obj)
        assert record is not None
        curve.add(record)
    return curve


def test_durations_switch_to_hours_from_an_hour_on() -> None:
    assert format_duration(None) == "–"
    assert format_duration(0) == "0m00s"
    assert format_duration(187.9) == "3m07s"
    assert format_duration(3599) == "59m59s"
    assert format_duration(3900) == "1h05m"


def test_an_empty_curve_says_nothing_is_known_yet() -> None:
    curve = RunCurve()
    assert latest_figures(curve) == []
    assert progress_summary(curve) == "0/?"


def test_figures_and_progress_of_a_step_and_an_eval() -> None:
    curve = _curve(STEP_STRINGS, EVAL_STRINGS)
    assert latest_figures(curve) == [
        ("loss", "8.31"), ("lr", "0.0008536"), ("grad", "0.3553"), ("acc", "0.01792"), ("epoch", "0.03125"),
        ("mem", "13.20 GiB"), ("eval", "8.322"),
    ]
    # The eval line carries 4/4 but the latest train step is 1: the bar shows the step trained.
    assert progress_summary(curve) == "1/4  elapsed 0m00s  ETA 0m01s  0.24 s/it"


def test_failure_text_only_for_a_failed_or_lost_run_with_a_diagnosis() -> None:
    diagnosis = {"summary": "CUDA out of memory", "fix": "lower train.batch_size"}
    assert failure_text(_record("failed", diagnosis)) == "✗ CUDA out of memory\nFix: lower train.batch_size"
    assert failure_text(_record("lost", {})) is None
    assert failure_text(_record("finished", diagnosis)) is None
    assert failure_text(_record("lost", {"fix": "restart it"})) == "✗ lost\nFix: restart it"
