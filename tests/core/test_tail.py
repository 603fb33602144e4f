"""core.base.tail: incremental byte-offset tails of JSON Lines (logging.jsonl) and text logs (stdout.log)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from core.base.tail import BAD_LINES_KEPT, JsonlTail, TextTail, last_lines
from core.train.records import parse_record
from tests.helpers.swift_log_samples import REAL_46_LOG, STEP_3X, STEP_STRINGS, append, line

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


# --------------------------------------------------------------------------- TextTail and last_lines


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
