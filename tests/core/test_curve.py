"""core.train.curve: a run's loss curves from its records, deduplicated by step and stitched onto a parent."""

from __future__ import annotations

import json

import pytest

from core.train.curve import RunCurve
from core.train.records import parse_record
from tests.helpers.swift_log_samples import REAL_46_LOG, STEP_3X, real_records


def test_run_curve_from_real_log() -> None:
    curve = RunCurve()
    for record in real_records():
        curve.add(record)
    assert [step for step, _ in curve.train_points] == [1, 2, 3, 4]
    assert curve.train_points[0][1] == pytest.approx(8.30970955)
    assert curve.eval_points == [(4, pytest.approx(8.32240391))]
    assert curve.latest is not None and curve.latest.step == 4
    assert curve.latest_eval is not None and curve.latest_eval.eval_loss == pytest.approx(8.32240391)
    assert curve.max_steps == 4
    assert curve.summary is not None and curve.summary.train_loss == pytest.approx(8.31938457)
    assert curve.final is not None and curve.final.last_model_checkpoint is not None
    # The final line's log_history repeats every step: nothing is duplicated.
    assert len(curve.train_points) == 4 and len(curve.eval_points) == 1


def test_run_curve_deduplicates_by_step_later_wins() -> None:
    curve = RunCurve()
    curve.add_objects([{"loss": 3.0, "step": 1}, {"loss": 2.0, "step": 2}, {"loss": 2.5, "step": 1}])
    curve.add_objects([{"loss": 1.0, "step": 3}, {"loss": 1.5, "step": 3}])
    assert curve.train_points == [(1, 2.5), (2, 2.0), (3, 1.5)]
    curve.add_objects([{"eval_loss": 4.0, "step": 2}, {"eval_loss": 3.0, "step": 2}])
    assert curve.eval_points == [(2, 3.0)]


def test_run_curve_reads_log_history_without_duplicates() -> None:
    final = parse_record(json.loads(REAL_46_LOG.splitlines()[-1]))
    assert final is not None
    curve = RunCurve()
    curve.add(real_records()[1])  # a tail that started late saw only step 2
    assert curve.extend_from_log_history(final.log_history) == 4  # steps 1, 3, 4 and the eval at 4
    assert [step for step, _ in curve.train_points] == [1, 2, 3, 4]
    assert curve.train_points[1][1] == pytest.approx(8.33544159)  # seen live: kept
    assert curve.eval_points == [(4, pytest.approx(8.322403907775879))]
    assert curve.latest is not None and curve.latest.step == 4
    assert curve.summary is not None and curve.summary.train_loss == pytest.approx(8.319384574890137)
    assert curve.extend_from_log_history(final.log_history) == 0


def test_run_curve_log_history_accepts_string_values() -> None:
    curve = RunCurve()
    curve.extend_from_log_history([{"loss": "1.5", "step": "3"}, {"eval_loss": "2.5", "step": 3}, "junk"])
    assert curve.train_points == [(3, 1.5)]
    assert curve.eval_points == [(3, 2.5)]


def test_stitched_child_continues_its_parent() -> None:
    parent = RunCurve()
    parent.add_objects({"loss": 10.0 - step, "global_step/max_steps": f"{step}/10"} for step in range(1, 8))
    parent.add_objects([{"eval_loss": 5.0, "global_step/max_steps": "5/10"}])
    child = RunCurve()  # resumed from checkpoint-5: re-logs from step 6
    child.add_objects({"loss": 1.0 / step, "global_step/max_steps": f"{step}/10"} for step in range(6, 9))

    stitched = child.stitched(parent)
    assert [step for step, _ in stitched.train_points] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert dict(stitched.train_points)[5] == 5.0  # the parent's
    assert dict(stitched.train_points)[6] == pytest.approx(1 / 6)  # the child's, not the parent's 4.0
    assert dict(stitched.train_points)[7] == pytest.approx(1 / 7)
    assert stitched.eval_points == [(5, 5.0)]
    assert stitched.latest is not None and stitched.latest.step == 8
    assert stitched.max_steps == 10
    # Neither input changed.
    assert len(parent.train_points) == 7 and len(child.train_points) == 3

    fresh = RunCurve().stitched(parent)  # the child has not logged yet: the parent's curve
    assert fresh.train_points == parent.train_points
    assert fresh.latest is parent.latest


def test_add_objects_matches_add_of_each_record() -> None:
    objects: list[dict[str, object]] = [json.loads(text) for text in REAL_46_LOG.splitlines()]
    objects[3:3] = [STEP_3X, {"loss": "x", "step": 99}, {"epoch": 1}]
    one_by_one = RunCurve()
    for obj in objects:
        record = parse_record(obj)
        assert record is not None
        one_by_one.add(record)
    batched = RunCurve()
    assert batched.add_objects(objects) == len(objects)
    assert batched.train_points == one_by_one.train_points
    assert batched.eval_points == one_by_one.eval_points
    assert batched.latest == one_by_one.latest
    assert (batched.max_steps, batched.summary, batched.final) == (
        one_by_one.max_steps,
        one_by_one.summary,
        one_by_one.final,
    )
    assert batched.latest is not None and batched.latest.step == 4
