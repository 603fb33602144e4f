"""core.train.logtail: incremental tails of logging.jsonl / stdout.log, record parsing and run curves."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from core.train.logtail import (
    BAD_LINES_KEPT,
    JsonlTail,
    RunCurve,
    StepRecord,
    TextTail,
    last_lines,
    parse_duration,
    parse_record,
    strip_control,
)

# Real lines from ms-swift 4.6 (`swift sft` of a tiny model on CPU), copied verbatim.
REAL_46_LOG = r"""{"loss": 8.30970955, "grad_norm": 0.35527766, "learning_rate": 0.00085355, "token_acc": 0.01792115, "epoch": 0.03125, "global_step/max_steps": "1/4", "elapsed_time": "0s", "remaining_time": "1s", "train_speed(s/it)": 0.24118}
{"loss": 8.33544159, "grad_norm": 0.3090938, "learning_rate": 0.0005, "token_acc": 0.00343643, "epoch": 0.0625, "global_step/max_steps": "2/4", "elapsed_time": "0s", "remaining_time": "0s", "train_speed(s/it)": 0.21014}
{"loss": 8.29720783, "grad_norm": 0.33735913, "learning_rate": 0.00014645, "token_acc": 0.00727273, "epoch": 0.09375, "global_step/max_steps": "3/4", "elapsed_time": "1s", "remaining_time": "0s", "train_speed(s/it)": 0.233683}
{"loss": 8.33517933, "grad_norm": 0.29914871, "learning_rate": 0.0, "token_acc": 0.0, "epoch": 0.125, "global_step/max_steps": "4/4", "elapsed_time": "1s", "remaining_time": "0s", "train_speed(s/it)": 0.188101}
{"eval_loss": 8.32240391, "eval_runtime": 0.2044, "eval_samples_per_second": 29.359, "eval_steps_per_second": 14.679, "eval_token_acc": 0.0, "epoch": 0.125, "global_step/max_steps": "4/4", "elapsed_time": "1s", "remaining_time": "0s", "train_speed(s/it)": 0.240471}
{"train_runtime": 1.3898, "train_samples_per_second": 5.756, "train_steps_per_second": 2.878, "total_flos": 1525617408.0, "train_loss": 8.31938457, "epoch": 0.125, "global_step/max_steps": "4/4", "elapsed_time": "1s", "remaining_time": "0s", "train_speed(s/it)": 0.346458}
{"train_dataset": "257.206349±46.816480, min=158.000000, max=419.000000, size=63", "val_dataset": "308.166667±62.011872, min=234.000000, max=433.000000, size=6", "model_parameter_info": "PeftModelForCausalLM: 0.3695M Params (0.0187M Trainable [5.0580%]), 0.0000M Buffers.", "last_model_checkpoint": "/tmp/dw/runs/t1/output/checkpoint-4", "best_model_checkpoint": "/tmp/dw/runs/t1/output/checkpoint-4", "best_metric": 8.32240391, "global_step": 4, "log_history": [{"loss": 8.309709548950195, "grad_norm": 0.3552776575088501, "learning_rate": 0.0008535533905932737, "token_acc": 0.017921146953405017, "epoch": 0.03125, "step": 1}, {"loss": 8.335441589355469, "grad_norm": 0.30909380316734314, "learning_rate": 0.0005, "token_acc": 0.003436426116838488, "epoch": 0.0625, "step": 2}, {"loss": 8.297207832336426, "grad_norm": 0.33735913038253784, "learning_rate": 0.00014644660940672628, "token_acc": 0.007272727272727273, "epoch": 0.09375, "step": 3}, {"loss": 8.335179328918457, "grad_norm": 0.29914870858192444, "learning_rate": 0.0, "token_acc": 0.0, "epoch": 0.125, "step": 4}, {"eval_loss": 8.322403907775879, "eval_runtime": 0.2044, "eval_samples_per_second": 29.359, "eval_steps_per_second": 14.679, "eval_token_acc": 0.0, "epoch": 0.125, "step": 4}, {"train_runtime": 1.3898, "train_samples_per_second": 5.756, "train_steps_per_second": 2.878, "total_flos": 1525617408.0, "train_loss": 8.319384574890137, "epoch": 0.125, "step": 4}], "memory": 0}
"""

# The same shapes with every value written as a string (as the brief describes 4.x), GPU memory included.
STEP_STRINGS = {
    "loss": "8.31",
    "grad_norm": "0.3553",
    "learning_rate": "0.0008536",
    "token_acc": "0.01792",
    "epoch": "0.03125",
    "global_step/max_steps": "1/4",
    "elapsed_time": "0s",
    "remaining_time": "1s",
    "memory(GiB)": "13.2",
    "train_speed(s/it)": "0.2412",
}
EVAL_STRINGS = {
    "eval_loss": "8.322",
    "eval_runtime": "0.2044",
    "eval_samples_per_second": "29.36",
    "eval_steps_per_second": "14.68",
    "eval_token_acc": "0",
    "epoch": "0.125",
    "global_step/max_steps": "4/4",
    "elapsed_time": "1s",
    "remaining_time": "0s",
    "train_speed(s/it)": "0.2405",
}
SUMMARY_STRINGS = {
    "train_runtime": "1.39",
    "train_samples_per_second": "5.756",
    "train_steps_per_second": "2.878",
    "train_loss": "8.319",
    "epoch": "0.125",
    "global_step/max_steps": "4/4",
    "elapsed_time": "1s",
    "remaining_time": "0s",
    "train_speed(s/it)": "0.3465",
}
# ms-swift 3.x: numbers, `percentage`, and speed in iterations per second.
STEP_3X = {
    "loss": 1.2345,
    "token_acc": 0.61,
    "grad_norm": 0.9,
    "learning_rate": 0.0001,
    "memory(GiB)": 17.5,
    "train_speed(iter/s)": 0.25,
    "epoch": 0.1,
    "global_step/max_steps": "12/189",
    "percentage": "6.35%",
    "elapsed_time": "4m 28s",
    "remaining_time": "1h 5m 57s",
}


def line(obj: object) -> str:
    return json.dumps(obj) + "\n"


def append(path: Path, text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    with path.open("ab") as handle:
        handle.write(data)


def real_records() -> list[StepRecord]:
    records = [parse_record(json.loads(text)) for text in REAL_46_LOG.splitlines()]
    assert all(record is not None for record in records)
    return [record for record in records if record is not None]


# --------------------------------------------------------------------------- parse_record


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


# --------------------------------------------------------------------------- JsonlTail


def test_missing_file_then_lines_appear(tmp_path: Path) -> None:
    path = tmp_path / "logging.jsonl"
    tail = JsonlTail(path)
    assert tail.poll() == []
    assert tail.offset == 0 and tail.problem is None
    append(path, REAL_46_LOG)
    objects = tail.poll()
    assert len(objects) == 7
    assert objects[0]["loss"] == 8.30970955
    assert tail.offset == len(REAL_46_LOG.encode())
    assert tail.poll() == []  # nothing new: nothing returned, nothing re-read
    assert tail.lines_read == 7 and tail.bad_lines == 0


def test_partial_last_line_is_held_back_until_completed(tmp_path: Path) -> None:
    path = tmp_path / "logging.jsonl"
    text = line(STEP_STRINGS)
    append(path, line(STEP_3X))
    tail = JsonlTail(path)
    assert len(tail.poll()) == 1
    committed = tail.offset

    half = len(text) // 2
    append(path, text[:half])
    assert tail.poll() == []
    assert tail.offset == committed  # never past the partial line
    assert tail.bad_lines == 0  # and never parsed
    append(path, text[half:])
    assert tail.poll() == [STEP_STRINGS]
    assert tail.offset == committed + len(text.encode())


def test_partial_line_split_inside_a_multibyte_character(tmp_path: Path) -> None:
    path = tmp_path / "logging.jsonl"
    data = (json.dumps({"loss": 1.0, "note": "心理咨询"}, ensure_ascii=False) + "\n").encode()
    cut = data.index("理".encode()) + 1  # in the middle of a 3-byte character
    tail = JsonlTail(path)
    append(path, data[:cut])
    assert tail.poll() == []
    append(path, data[cut:])
    assert tail.poll() == [{"loss": 1.0, "note": "心理咨询"}]


def test_garbage_lines_are_skipped_and_counted_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "logging.jsonl"
    append(
        path,
        line({"loss": 1, "step": 1})
        + "not json\n"
        + "[1, 2]\n"
        + line({"loss": 2, "step": 2})
        + '{"loss": 3,\n'
        + "\n"  # blank: ignored, not counted
        + '{"a": 1} trailing\n'
        + "42\n"
        + b"\xff\xfe{bad utf8\n".decode("latin-1")
        + line({"loss": 3, "step": 3}),
    )
    tail = JsonlTail(path)
    objects = tail.poll()
    assert [obj["loss"] for obj in objects] == [1, 2, 3]
    assert tail.bad_lines == 6
    assert tail.bad_line_numbers == [2, 3, 5, 7, 8, 9]
    assert tail.lines_read == 10


def test_invalid_utf8_is_replaced_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "logging.jsonl"
    append(path, b'{"note": "\xff ok", "loss": 1}\n')
    assert JsonlTail(path).poll() == [{"note": "\ufffd ok", "loss": 1}]


def test_bad_line_numbers_are_capped(tmp_path: Path) -> None:
    path = tmp_path / "logging.jsonl"
    append(path, "x\n" * (BAD_LINES_KEPT + 50))
    tail = JsonlTail(path)
    assert tail.poll() == []
    assert tail.bad_lines == BAD_LINES_KEPT + 50
    assert len(tail.bad_line_numbers) == BAD_LINES_KEPT


def test_truncation_restarts_from_zero(tmp_path: Path) -> None:
    path = tmp_path / "logging.jsonl"
    append(path, line({"loss": 1, "step": 1}) + line({"loss": 2, "step": 2}) + "junk\n")
    tail = JsonlTail(path)
    assert len(tail.poll()) == 2 and tail.bad_lines == 1
    path.write_text(line({"loss": 9, "step": 1}))  # truncated and rewritten, shorter
    assert tail.poll() == [{"loss": 9, "step": 1}]
    assert tail.restarts == 1
    assert tail.bad_lines == 0 and tail.lines_read == 1


def test_replaced_file_restarts_even_when_longer(tmp_path: Path) -> None:
    path = tmp_path / "logging.jsonl"
    append(path, line({"loss": 1, "step": 1}))
    tail = JsonlTail(path)
    assert len(tail.poll()) == 1
    replacement = tmp_path / "new.jsonl"
    replacement.write_text(line({"loss": 5, "step": 1}) + line({"loss": 6, "step": 2}))
    os.replace(replacement, path)
    assert [obj["loss"] for obj in tail.poll()] == [5, 6]
    assert tail.restarts == 1


def test_rewritten_in_place_with_same_size_or_more_restarts(tmp_path: Path) -> None:
    path = tmp_path / "logging.jsonl"
    append(path, line({"loss": 1, "step": 1}))
    tail = JsonlTail(path)
    tail.poll()
    with path.open("r+b") as handle:  # same inode, overwritten: the byte before our offset is no longer "\n"
        handle.write((line({"loss": 22222, "step": 1, "pad": "xxxxxxxxxx"})).encode())
    assert tail.poll() == [{"loss": 22222, "step": 1, "pad": "xxxxxxxxxx"}]
    assert tail.restarts == 1


def test_offset_persistence_continues_without_repeats(tmp_path: Path) -> None:
    path = tmp_path / "logging.jsonl"
    lines = REAL_46_LOG.splitlines(keepends=True)
    append(path, "".join(lines[:3]) + lines[3][:40])  # three lines and a partial fourth
    old = JsonlTail(path)
    assert len(old.poll()) == 3
    append(path, lines[3][40:] + "".join(lines[4:]))
    new = JsonlTail(path, offset=old.offset, lines_before=old.lines_read)
    objects = new.poll()
    assert [parse_record(obj).kind for obj in objects] == ["train", "eval", "summary", "final"]  # type: ignore[union-attr]
    assert objects[0]["global_step/max_steps"] == "4/4"
    assert new.lines_read == 7
    assert new.poll() == []


def test_max_bytes_reads_in_slices(tmp_path: Path) -> None:
    path = tmp_path / "logging.jsonl"
    append(path, "".join(line({"loss": i, "step": i}) for i in range(100)))
    tail = JsonlTail(path)
    seen: list[dict[str, object]] = []
    polls = 0
    while True:
        seen.extend(tail.poll(max_bytes=500))
        polls += 1
        if tail.caught_up:
            break
    assert [obj["step"] for obj in seen] == list(range(100))
    assert polls > 3


def test_unreadable_path_reports_a_problem(tmp_path: Path) -> None:
    tail = JsonlTail(tmp_path)  # a directory
    assert tail.poll() == []
    assert tail.problem is not None


def test_poll_records(tmp_path: Path) -> None:
    path = tmp_path / "logging.jsonl"
    append(path, REAL_46_LOG)
    records = JsonlTail(path).poll_records()
    assert [r.kind for r in records][-3:] == ["eval", "summary", "final"]


# --------------------------------------------------------------------------- RunCurve


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


# --------------------------------------------------------------------------- TextTail and control characters


def test_strip_control() -> None:
    assert strip_control("\x1b[31mred\x1b[0m") == "red"
    assert strip_control("\x1b]0;title\x07after") == "after"
    assert strip_control("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\") == "link"
    assert strip_control("a\tb\nc") == "a\tb\nc"
    assert strip_control("bell\x07 back\x08 cr\r nul\x00 del\x7f") == "bell back cr nul del"
    assert strip_control("c1\x9b31m \x85next") == "c1 next"
    assert strip_control("safe\u202etxt.exe\u2066x\u2069") == "safetxt.exex"
    assert strip_control("\x1b]unterminated\nnext line") == "\nnext line"  # an open OSC ends at the newline
    assert strip_control("\x1b(B\x1bc\x1b=plain") == "plain"
    assert strip_control("心理咨询 ok") == "心理咨询 ok"


def test_text_tail_collapses_tqdm_and_strips_escapes(tmp_path: Path) -> None:
    path = tmp_path / "stdout.log"
    append(path, "Train:  25%|██▌ | 1/4\rTrain:  50%|█████ | 2/4\n")
    append(path, "\x1b[31mred\x1b[0m\n\x1b]0;title\x07plain\r\n")
    tail = TextTail(path)
    assert tail.poll() == ["Train:  50%|█████ | 2/4", "red", "plain"]
    assert tail.current == ""


def test_text_tail_holds_the_live_bar_in_current(tmp_path: Path) -> None:
    path = tmp_path / "stdout.log"
    tail = TextTail(path)
    append(path, "loading\nTrain:   0%|          | 0/4")
    assert tail.poll() == ["loading"]
    assert tail.current == "Train:   0%|          | 0/4"
    for step in range(1, 4):
        append(path, f"\rTrain:  {step * 25}%|#   | {step}/4")
        assert tail.poll() == []
        assert tail.current == f"Train:  {step * 25}%|#   | {step}/4"
    append(path, "\r")  # tqdm's clear-then-redraw leaves an empty segment: the last bar still shows
    tail.poll()
    assert tail.current == "Train:  75%|#   | 3/4"
    assert len(tail._pending) < 100  # compacted to the last redraw
    append(path, "\rTrain: 100%|####| 4/4\n")
    assert tail.poll() == ["Train: 100%|####| 4/4"]
    assert tail.current == ""
    assert list(tail.lines) == ["loading", "Train: 100%|####| 4/4"]


def test_text_tail_offset_continues_after_a_compacted_bar(tmp_path: Path) -> None:
    path = tmp_path / "stdout.log"
    append(path, "one\n" + "".join(f"\rbar {i}" for i in range(50)))
    old = TextTail(path)
    assert old.poll() == ["one"]
    assert old.offset == len(b"one\n")
    append(path, "\rbar done\ntwo\n")
    assert TextTail(path, offset=old.offset).poll() == ["bar done", "two"]


def test_text_tail_keeps_max_lines_and_tail(tmp_path: Path) -> None:
    path = tmp_path / "stdout.log"
    append(path, "".join(f"line {i}\n" for i in range(30)))
    tail = TextTail(path, max_lines=10)
    assert len(tail.poll()) == 30
    assert list(tail.lines) == [f"line {i}" for i in range(20, 30)]
    assert tail.tail(3) == ["line 27", "line 28", "line 29"]
    assert tail.tail(0) == []
    assert tail.tail(50) == list(tail.lines)


def test_text_tail_missing_and_truncated(tmp_path: Path) -> None:
    path = tmp_path / "stdout.log"
    tail = TextTail(path)
    assert tail.poll() == [] and tail.current == ""
    append(path, "a much longer first life of the log\nsecond\n")
    assert len(tail.poll()) == 2
    path.write_text("new\n")
    assert tail.poll() == ["new"]
    assert list(tail.lines) == ["new"] and tail.restarts == 1


def test_last_lines_reads_backwards(tmp_path: Path) -> None:
    path = tmp_path / "stdout.log"
    assert last_lines(path, 5) == []
    body = "".join(f"row {i}\n" for i in range(20000)) + "50%|#\r100%|##\nTraceback: boom"
    append(path, body)
    assert last_lines(path, 3, block=64) == ["row 19999", "100%|##", "Traceback: boom"]
    assert last_lines(path, 1) == ["Traceback: boom"]
    assert last_lines(path, 0) == []
    small = tmp_path / "small.log"
    append(small, "x\ny\n")
    assert last_lines(small, 10, block=1) == ["x", "y"]


def test_nan_loss_is_kept() -> None:
    record = parse_record({"loss": "nan", "step": 1})
    assert record is not None and record.loss is not None and math.isnan(record.loss)


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
