"""core.train.records: ms-swift's logging.jsonl lines read in either dialect, numbers or strings."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from core.base.tail import JsonlTail
from core.train.records import StepRecord, parse_duration, parse_record, poll_records
from tests.helpers.swift_log_samples import (
    EVAL_STRINGS,
    REAL_46_LOG,
    STEP_3X,
    STEP_STRINGS,
    SUMMARY_STRINGS,
    append,
    real_records,
)


def test_real_46_lines_have_the_right_kinds_and_fields() -> None:
    records = real_records()
    assert [r.kind for r in records] == ["train"] * 4 + ["eval", "summary", "final"]

    first = records[0]
    assert (first.step, first.max_steps) == (1, 4)
    assert first.loss == pytest.approx(8.30970955)
    assert first.grad_norm == pytest.approx(0.35527766)
    assert first.learning_rate == pytest.approx(0.00085355)
    assert first.token_acc == pytest.approx(0.01792115)
    assert first.epoch == pytest.approx(0.03125)
    assert first.percentage == pytest.approx(25.0)  # computed: 4.x writes no percentage
    assert (first.elapsed_s, first.remaining_s) == (0.0, 1.0)
    assert first.seconds_per_it == pytest.approx(0.24118)
    assert first.memory_gib is None  # CPU run: no memory(GiB)
    assert first.raw["global_step/max_steps"] == "1/4"

    evaluation = records[4]
    assert evaluation.eval_loss == pytest.approx(8.32240391)
    assert evaluation.eval_token_acc == 0.0
    assert evaluation.loss is None
    assert (evaluation.step, evaluation.max_steps) == (4, 4)

    summary = records[5]
    assert summary.train_loss == pytest.approx(8.31938457)
    assert summary.seconds_per_it == pytest.approx(0.346458)

    final = records[6]
    assert final.last_model_checkpoint == "/tmp/dw/runs/t1/output/checkpoint-4"
    assert final.best_model_checkpoint == "/tmp/dw/runs/t1/output/checkpoint-4"
    assert final.step == 4  # from "global_step"
    assert len(final.log_history) == 6
    assert isinstance(final.log_history, tuple)
    assert final.log_history[4]["eval_loss"] == pytest.approx(8.322403907775879)
    assert final.memory_gib is None  # "memory": 0 on CPU means not measured


def test_numeric_strings_parse_like_numbers() -> None:
    step = parse_record(STEP_STRINGS)
    assert step is not None and step.kind == "train"
    assert step.loss == pytest.approx(8.31)
    assert step.learning_rate == pytest.approx(0.0008536)
    assert step.memory_gib == pytest.approx(13.2)
    assert step.seconds_per_it == pytest.approx(0.2412)
    assert (step.step, step.max_steps, step.percentage) == (1, 4, 25.0)

    evaluation = parse_record(EVAL_STRINGS)
    assert evaluation is not None and evaluation.kind == "eval"
    assert evaluation.eval_loss == pytest.approx(8.322)
    assert evaluation.eval_token_acc == 0.0
    assert evaluation.seconds_per_it == pytest.approx(0.2405)

    summary = parse_record(SUMMARY_STRINGS)
    assert summary is not None and summary.kind == "summary"
    assert summary.train_loss == pytest.approx(8.319)
    assert summary.step == 4

    as_numbers = parse_record({key: float(value) for key, value in {"loss": "8.31", "grad_norm": "0.3553"}.items()})
    assert as_numbers is not None and as_numbers.loss == pytest.approx(8.31) and as_numbers.grad_norm == 0.3553


def test_3x_dialect_inverts_iterations_per_second_and_reads_percentage() -> None:
    record = parse_record(STEP_3X)
    assert record is not None and record.kind == "train"
    assert record.seconds_per_it == pytest.approx(4.0)  # 1 / 0.25 iter/s
    assert record.percentage == pytest.approx(6.35)  # given, not computed (12/189 = 6.349...)
    assert (record.step, record.max_steps) == (12, 189)
    assert record.elapsed_s == 4 * 60 + 28
    assert record.remaining_s == 3600 + 5 * 60 + 57
    assert record.memory_gib == 17.5
    assert record.loss == 1.2345 and record.token_acc == 0.61


def test_every_key_is_optional_and_bad_values_become_none() -> None:
    empty = parse_record({})
    assert empty is not None and empty.kind == "other" and empty.step is None and empty.percentage is None
    odd = parse_record(
        {
            "loss": "n/a",
            "grad_norm": True,
            "global_step/max_steps": "x/y",
            "elapsed_time": "soon",
            "train_speed(iter/s)": 0,
            "log_history": "nope",
        }
    )
    assert odd is not None and odd.kind == "final"  # has log_history, even a broken one
    assert (odd.loss, odd.grad_norm, odd.step, odd.elapsed_s, odd.seconds_per_it) == (None,) * 5
    assert odd.log_history == ()
    assert parse_record([1, 2]) is None  # type: ignore[arg-type]
    assert parse_record({"loss": 1.0, "step": 7}) == StepRecord(kind="train", step=7, loss=1.0)


def test_kind_rules_first_match_wins() -> None:
    kinds = {
        "eval": {"eval_loss": 1, "loss": 1, "train_runtime": 1},
        "summary": {"train_runtime": 1, "loss": 1, "last_model_checkpoint": "x"},
        "final": {"log_history": [], "loss": 1},
        "train": {"loss": "2"},
        "other": {"epoch": 1},
    }
    for kind, obj in kinds.items():
        record = parse_record(obj)
        assert record is not None and record.kind == kind


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0s", 0),
        ("59s", 59),
        ("4m 28s", 268),
        ("1h 2m 3s", 3723),
        ("1d 2h 3m", 93780),
        ("1d 0h 0m 5s", 86405),
        ("2h", 7200),
        ("1:02:03", 3723),
        ("02:03", 123),
        ("12.5", 12.5),
        (7, 7),
        (1.5, 1.5),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "4x", "m 3s", None, True, [1]])
def test_unreadable_durations(text: object) -> None:
    assert parse_duration(text) is None


def test_nan_loss_is_kept() -> None:
    record = parse_record({"loss": "nan", "step": 1})
    assert record is not None and record.loss is not None and math.isnan(record.loss)


def test_poll_records(tmp_path: Path) -> None:
    path = tmp_path / "logging.jsonl"
    append(path, REAL_46_LOG)
    records = poll_records(JsonlTail(path))
    assert [r.kind for r in records][-3:] == ["eval", "summary", "final"]
