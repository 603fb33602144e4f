"""ms-swift's ``logging.jsonl`` records, read leniently: step, eval, train-end and final lines.

:func:`parse_record` accepts both dialects (3.x ``train_speed(iter/s)`` and
``percentage``; 4.x ``train_speed(s/it)``), numbers or numeric strings, "12/189" step
pairs and "4m 28s" durations, and treats every key as optional, because the file is the
one interface swift does not version. The lines themselves come from
:class:`core.base.tail.JsonlTail`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from core.base.tail import JsonlTail

__all__ = ["RecordKind", "StepRecord", "as_number", "parse_duration", "parse_record", "poll_records", "steps_of"]

RecordKind = Literal["train", "eval", "summary", "final", "other"]


@dataclass(frozen=True)
class StepRecord:
    """One ``logging.jsonl`` line, read leniently: every field is None when its key is missing or unreadable."""

    kind: RecordKind
    step: int | None = None
    max_steps: int | None = None
    loss: float | None = None
    grad_norm: float | None = None
    learning_rate: float | None = None
    token_acc: float | None = None
    epoch: float | None = None
    percentage: float | None = None
    elapsed_s: float | None = None
    remaining_s: float | None = None
    memory_gib: float | None = None
    seconds_per_it: float | None = None
    eval_loss: float | None = None
    eval_token_acc: float | None = None
    train_loss: float | None = None
    last_model_checkpoint: str | None = None
    best_model_checkpoint: str | None = None
    log_history: tuple[Mapping[str, object], ...] = field(default=(), repr=False, hash=False)
    raw: Mapping[str, object] = field(default_factory=dict, repr=False, compare=False)


def as_number(value: object) -> float | None:
    """A float from a number or a numeric string ("8.31", " 1e-4 "); None for anything else, bools included."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _integer(value: object) -> int | None:
    number = as_number(value)
    if number is None or not math.isfinite(number):
        return None
    return int(number)


_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d*)?)\s*(d|h|m|s)(?![a-z])", re.IGNORECASE)
_DURATION_UNIT = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_CLOCK = re.compile(r"\s*(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)\s*")


def parse_duration(value: object) -> float | None:
    """Seconds from swift's ``format_time`` ("0s", "4m 28s", "1h 2m 3s", "1d 2h 3m"), a clock ("1:02:03") or a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        return None
    total = 0.0
    position = 0
    text = value.strip()
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _DURATION_UNIT[match.group(2).lower()]
        position = match.end()
    else:
        if position == len(text) and position > 0:
            return total
    clock = _CLOCK.fullmatch(text)
    if clock:
        hours = float(clock.group(1) or 0)
        return hours * 3600 + float(clock.group(2)) * 60 + float(clock.group(3))
    return as_number(text)


def _percentage(value: object) -> float | None:
    if isinstance(value, str):
        value = value.strip().removesuffix("%")
    return as_number(value)


def steps_of(obj: Mapping[str, object]) -> tuple[int | None, int | None]:
    """(step, max_steps) from 4.x's ``"global_step/max_steps": "12/189"`` or from separate keys; None where unreadable."""
    step: int | None = None
    max_steps: int | None = None
    pair = obj.get("global_step/max_steps")
    if isinstance(pair, str) and "/" in pair:
        left, _, right = pair.partition("/")
        step, max_steps = _integer(left), _integer(right)
    if step is None:
        step = _integer(obj.get("step", obj.get("global_step")))
    if max_steps is None:
        max_steps = _integer(obj.get("max_steps"))
    return step, max_steps


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_record(obj: Mapping[str, object]) -> StepRecord | None:
    """Read one ``logging.jsonl`` object (either swift dialect, numbers or strings); None only for a non-mapping.

    Kind, first match wins: ``eval_loss`` → eval, ``train_runtime`` → summary,
    ``last_model_checkpoint``/``log_history`` → final, ``loss`` → train, else other.
    """
    if not isinstance(obj, Mapping):
        return None
    get = obj.get
    kind: RecordKind
    if "eval_loss" in obj:
        kind = "eval"
    elif "train_runtime" in obj:
        kind = "summary"
    elif "last_model_checkpoint" in obj or "log_history" in obj:
        kind = "final"
    elif "loss" in obj:
        kind = "train"
    else:
        kind = "other"
    step, max_steps = steps_of(obj)

    percentage = _percentage(get("percentage"))
    if percentage is None and step is not None and max_steps:
        percentage = 100.0 * step / max_steps

    seconds_per_it = as_number(get("train_speed(s/it)"))
    if seconds_per_it is None:
        iterations_per_s = as_number(get("train_speed(iter/s)"))  # 3.x
        if iterations_per_s:
            seconds_per_it = 1.0 / iterations_per_s

    memory = as_number(get("memory(GiB)"))
    if memory is None and kind == "final":
        memory = as_number(get("memory")) or None  # the final line's peak; 0 on CPU means "not measured"

    history_value = get("log_history")
    history: tuple[Mapping[str, object], ...] = ()
    if isinstance(history_value, list | tuple):
        history = tuple(entry for entry in history_value if isinstance(entry, Mapping))

    return StepRecord(
        kind=kind,
        step=step,
        max_steps=max_steps,
        loss=as_number(get("loss")),
        grad_norm=as_number(get("grad_norm")),
        learning_rate=as_number(get("learning_rate")),
        token_acc=as_number(get("token_acc")),
        epoch=as_number(get("epoch")),
        percentage=percentage,
        elapsed_s=parse_duration(get("elapsed_time")),
        remaining_s=parse_duration(get("remaining_time")),
        memory_gib=memory,
        seconds_per_it=seconds_per_it,
        eval_loss=as_number(get("eval_loss")),
        eval_token_acc=as_number(get("eval_token_acc")),
        train_loss=as_number(get("train_loss")),
        last_model_checkpoint=_text(get("last_model_checkpoint")),
        best_model_checkpoint=_text(get("best_model_checkpoint")),
        log_history=history,
        raw=obj,
    )


def poll_records(tail: JsonlTail, max_bytes: int | None = None) -> list[StepRecord]:
    """:meth:`JsonlTail.poll`, each object parsed with :func:`parse_record`."""
    return [record for obj in tail.poll(max_bytes) if (record := parse_record(obj)) is not None]
