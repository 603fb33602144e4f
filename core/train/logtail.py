"""Incremental tails of the files a detached ``swift sft`` run writes: ``logging.jsonl`` and ``stdout.log``.

The TUI polls about twice a second for the whole life of a run, and a run can log
for days, so every poll costs O(new bytes): the tails remember a byte offset, read
only what was appended since, and never re-read or re-split old text. A line is
handed out only once its newline has arrived; the unfinished tail end is buffered
(ms-swift and tqdm write in pieces, and half a JSON object must never be parsed).

ms-swift's ``logging.jsonl`` is read through :func:`parse_record`, which accepts
both dialects (3.x ``train_speed(iter/s)`` and ``percentage``; 4.x
``train_speed(s/it)``), numbers or numeric strings, and treats every key as
optional, because the file is the one interface swift does not version.

Stdlib only: ``core`` never imports the UI libraries, and :func:`strip_control`
is reused to sanitise untrusted model output before it reaches a terminal.
"""

from __future__ import annotations

import collections
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "JsonlTail",
    "RecordKind",
    "RunCurve",
    "StepRecord",
    "TextTail",
    "last_lines",
    "parse_duration",
    "parse_record",
    "strip_control",
]

CHUNK = 4 << 20
"""Bytes per read: big enough that a first open of a huge log is a few dozen syscalls."""

BAD_LINES_KEPT = 100
"""How many bad line numbers a :class:`JsonlTail` remembers; the count goes on."""

MAX_PENDING_TEXT = 1 << 20
"""A text line longer than this without a newline is handed out anyway, so a runaway writer cannot grow memory."""

# --------------------------------------------------------------------------- control characters

_ESCAPES = (
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves (tqdm's \x1b[A)
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    # OSC, DCS, SOS, PM, APC: a string up to BEL or ST. An unterminated one ends at the
    # newline so that one stray ESC ] cannot swallow the rest of a log or an answer.
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]"  # every other ESC sequence (charset selection, keypad modes, RIS ...)
)
_BIDI = "\u202a-\u202e\u2066-\u2069"
_STRIP = re.compile(_ESCAPES + "|[\x00-\x08\x0b-\x1f\x7f-\x9f" + _BIDI + "]")
_STRIP_KEEP_CR = re.compile(_ESCAPES + "|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f" + _BIDI + "]")


def strip_control(text: str) -> str:
    """Remove what could drive a terminal rather than be read: ESC/CSI/OSC/DCS sequences,
    C0 controls except newline and tab, DEL, C1 controls and the bidi overrides
    (U+202A-U+202E, U+2066-U+2069) that can make text display as something it is not.

    Meant for anything untrusted that reaches the screen: subprocess logs and model output.
    """
    return _STRIP.sub("", text)


def _collapse(line: str) -> str:
    """What a terminal would show for one line: the last non-blank carriage-return segment (tqdm)."""
    if "\r" not in line:
        return line.rstrip()
    for segment in reversed(line.split("\r")):
        if segment.strip():
            return segment.rstrip()
    return ""


def _clean_lines(text: str) -> list[str]:
    """Strip controls (keeping CR for collapsing) and collapse each newline-separated line."""
    return [_collapse(line) for line in _STRIP_KEEP_CR.sub("", text).split("\n")]


# --------------------------------------------------------------------------- byte-offset tail


class _ByteTail:
    """The shared mechanics: offset, partial-line buffer, truncation and replacement detection.

    Opening the file on every poll (rather than holding it) costs a few microseconds and
    notices a file that was replaced; ``fstat`` gives the size to read up to, so a writer
    appending during the poll is simply picked up next time.
    """

    def __init__(self, path: Path | str, offset: int = 0) -> None:
        if offset < 0:
            raise ValueError(f"offset must be >= 0, not {offset}")
        self.path = Path(path)
        self._pos = offset  # bytes of the file read so far, pending included
        self._committed = offset  # the byte after the last line handed out
        self._pending = bytearray()  # read bytes after the last newline
        self._identity: tuple[int, int] | None = None
        self._last_byte: int | None = None  # the byte at _pos - 1, to notice a rewrite in place
        self.restarts = 0
        """How many times the file shrank or was replaced and reading began again at byte 0."""
        self.problem: str | None = None
        """Why the last poll could not open the file (other than its not existing yet), else None."""
        self.caught_up = True
        """False when the last poll stopped at ``max_bytes`` before the end of the file."""

    @property
    def offset(self) -> int:
        """The byte just after the last complete line: where a new tail should start to go on from here."""
        return self._committed

    def _restart(self) -> None:
        self._pos = 0
        self._committed = 0
        self._pending.clear()
        self._last_byte = None
        self.restarts += 1
        self._on_restart()

    def _on_restart(self) -> None:
        """Subclasses forget what they derived from the old file."""

    def _consume(self, complete: bytes) -> None:
        """Handle bytes that end with a newline (one or many complete lines)."""
        raise NotImplementedError

    def _read(self, max_bytes: int | None) -> None:
        """Read what is new; hand every completed line to :meth:`_consume`; keep the rest pending."""
        try:
            handle = open(self.path, "rb", buffering=0)  # noqa: SIM115 - closed below; raw reads avoid a copy
        except FileNotFoundError:
            self.problem = None
            return
        except OSError as error:
            self.problem = f"{self.path}: {error.strerror or error}"
            return
        self.problem = None
        with handle:
            status = os.fstat(handle.fileno())
            identity = (status.st_dev, status.st_ino)
            size = status.st_size
            if size < self._pos or (self._identity is not None and identity != self._identity):
                self._restart()
            elif self._last_byte is not None and self._pos > 0:
                # Same inode, not shorter: make sure it was not rewritten in place under us.
                handle.seek(self._pos - 1)
                if handle.read(1) != bytes((self._last_byte,)):
                    self._restart()
            self._identity = identity
            if size <= self._pos:
                self.caught_up = True
                return
            handle.seek(self._pos)
            budget = size - self._pos if max_bytes is None else min(size - self._pos, max(max_bytes, 1))
            while budget > 0:
                chunk = handle.read(min(CHUNK, budget))
                if not chunk:
                    break
                budget -= len(chunk)
                self._pos += len(chunk)
                self._last_byte = chunk[-1]
                self._take(chunk, self._pos - len(chunk))
            self.caught_up = self._pos >= size

    def _take(self, chunk: bytes, start: int) -> None:
        """``start``: the file offset of ``chunk``'s first byte."""
        cut = chunk.rfind(b"\n")
        if cut < 0:
            self._pending += chunk  # amortised O(len(chunk)); a long partial line is never re-copied
            self._on_pending()
            return
        if self._pending:
            complete = bytes(self._pending) + chunk[: cut + 1]
            self._pending.clear()
        else:
            complete = chunk[: cut + 1]
        self._pending += chunk[cut + 1 :]
        self._committed = start + cut + 1
        self._consume(complete)
        self._on_pending()

    def _on_pending(self) -> None:
        """Called after the pending buffer changed."""


# --------------------------------------------------------------------------- logging.jsonl

_DECODER = json.JSONDecoder()
# The C scanner behind ``raw_decode``, called directly: a third less time per line on a first open
# of a long log. Same parser, same strictness; ``raw_decode`` stands in where it is missing.
_SCAN_ONCE: Callable[[str, int], tuple[Any, int]] = getattr(_DECODER, "scan_once", _DECODER.raw_decode)
_JSON_SPACE = " \t\r\n"

try:  # orjson parses a step line about four times faster: a 1M-line log opens in about a second.
    import orjson

    _FAST_LOADS: Callable[[str], Any] | None = orjson.loads
except ImportError:  # pragma: no cover - orjson is a base dependency; the stdlib parser stands in
    _FAST_LOADS = None


class JsonlTail(_ByteTail):
    """Tail ms-swift's ``logging.jsonl``: each poll returns the objects of the lines completed since the last.

    A missing file is a run that has not logged yet: ``[]``. A file that shrank or was
    replaced is read again from the start (``restarts`` counts it). Lines that are not a
    JSON object are skipped and counted; they never raise, because one torn line (a
    killed writer) must not hide the rest of a run. Not thread-safe: one poller at a time.
    """

    def __init__(self, path: Path | str, offset: int = 0, *, lines_before: int = 0) -> None:
        """``lines_before``: how many lines precede ``offset``, when known, so bad-line numbers stay absolute."""
        super().__init__(path, offset)
        self.lines_read = lines_before
        """Complete lines consumed, counting from the start of the file (or from ``lines_before``)."""
        self.bad_lines = 0
        self.bad_line_numbers: list[int] = []
        """1-based numbers of the first :data:`BAD_LINES_KEPT` bad lines."""
        self._out: list[dict[str, object]] = []

    def _on_restart(self) -> None:
        self.lines_read = 0
        self.bad_lines = 0
        self.bad_line_numbers = []

    def _bad(self, number: int) -> None:
        self.bad_lines += 1
        if len(self.bad_line_numbers) < BAD_LINES_KEPT:
            self.bad_line_numbers.append(number)

    def _consume(self, complete: bytes) -> None:
        lines = complete.decode("utf-8", errors="replace").split("\n")
        lines.pop()  # the empty string after the final newline
        number = self.lines_read
        out = self._out
        if _FAST_LOADS is not None:
            self.lines_read = self._consume_fast(lines, number, out, _FAST_LOADS)
            return
        scan_once = _SCAN_ONCE
        for line in lines:
            number += 1
            # Only a line that starts with "{" can be an object; anything else is rejected unparsed.
            if not line.startswith("{"):
                stripped = line.strip(_JSON_SPACE)
                if not stripped:
                    continue  # a blank line is not worth a warning
                if not stripped.startswith("{"):
                    self._bad(number)
                    continue
                line = stripped
            try:
                obj, end = scan_once(line, 0)
            except (ValueError, RecursionError, StopIteration):
                self._bad(number)
                continue
            if end != len(line) and line[end:].strip(_JSON_SPACE):
                self._bad(number)  # an object followed by more text on the same line
                continue
            out.append(obj)
        self.lines_read = number

    def _consume_fast(
        self, lines: list[str], number: int, out: list[dict[str, object]], loads: Callable[[str], Any]
    ) -> int:
        for line in lines:
            number += 1
            try:
                obj = loads(line)
            except ValueError:
                if line.strip(_JSON_SPACE):
                    self._bad(number)
                continue
            if isinstance(obj, dict):
                out.append(obj)
            else:
                self._bad(number)
        return number

    def poll(self, max_bytes: int | None = None) -> list[dict[str, object]]:
        """The JSON objects of every line completed since the last poll, in file order.

        ``max_bytes`` bounds the work of one call (a UI catching up with a huge log in
        slices); ``caught_up`` then says whether the end was reached.
        """
        self._out = []
        self._read(max_bytes)
        out, self._out = self._out, []
        return out

    def poll_records(self, max_bytes: int | None = None) -> list[StepRecord]:
        """:meth:`poll`, each object parsed with :func:`parse_record`."""
        return [record for obj in self.poll(max_bytes) if (record := parse_record(obj)) is not None]


# --------------------------------------------------------------------------- stdout.log


class TextTail(_ByteTail):
    """Tail a run's ``stdout.log``: new completed lines, tqdm bars collapsed, terminal controls removed.

    tqdm redraws its bar with carriage returns and writes the newline only when the
    bar closes, so the bar in progress is the pending partial line: :attr:`current`
    holds what a terminal would show for it. The pending bytes are compacted to the
    last redraw on every poll, so a bar that runs for hours costs nothing extra.
    """

    def __init__(self, path: Path | str, offset: int = 0, max_lines: int = 2000) -> None:
        super().__init__(path, offset)
        self._lines: collections.deque[str] = collections.deque(maxlen=max_lines)
        self._new: list[str] = []
        self.current = ""
        """The live partial line (tqdm's bar), collapsed and cleaned; "" when none."""

    @property
    def lines(self) -> collections.deque[str]:
        """The last ``max_lines`` completed lines, oldest first."""
        return self._lines

    def tail(self, n: int) -> list[str]:
        """The last ``n`` completed lines, oldest first."""
        if n <= 0:
            return []
        size = len(self._lines)
        return [self._lines[i] for i in range(max(0, size - n), size)]

    def _on_restart(self) -> None:
        self._lines.clear()
        self.current = ""

    def _consume(self, complete: bytes) -> None:
        lines = _clean_lines(complete.decode("utf-8", errors="replace"))
        lines.pop()  # after the final newline
        self._new.extend(lines)
        self._lines.extend(lines)

    def _on_pending(self) -> None:
        pending = self._pending
        if b"\r" in pending:
            # Keep only the last redraw that shows something, and what follows the last CR.
            segments = bytes(pending).split(b"\r")
            last = segments.pop()
            keep = b""
            for segment in reversed(segments):
                if strip_control(segment.decode("utf-8", errors="replace")).strip():
                    keep = segment
                    break
            pending[:] = keep + b"\r" + last
        if len(pending) > MAX_PENDING_TEXT:
            self._consume(bytes(pending) + b"\n")  # a runaway line: hand it out rather than grow
            pending.clear()
            self._committed = self._pos
        text = pending.decode("utf-8", errors="replace").rstrip("\ufffd")  # a split multibyte char is not shown
        self.current = _collapse(_STRIP_KEEP_CR.sub("", text)) if pending else ""

    def poll(self, max_bytes: int | None = None) -> list[str]:
        """The lines completed since the last poll; :attr:`current` is updated too."""
        self._new = []
        self._read(max_bytes)
        new, self._new = self._new, []
        return new


def last_lines(path: Path | str, n: int, *, block: int = 1 << 16, max_bytes: int = 16 << 20) -> list[str]:
    """The last ``n`` lines of a file, collapsed and cleaned like :class:`TextTail`'s, reading backwards.

    For diagnosing a failed run from a log of any size: only the end is read (at most
    ``max_bytes``). A final line without a newline counts as a line. Missing file: ``[]``.
    """
    if n <= 0:
        return []
    try:
        handle = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below
    except OSError:
        return []
    with handle:
        end = os.fstat(handle.fileno()).st_size
        size = end
        blocks: list[bytes] = []
        newlines = 0
        while end > 0 and newlines <= n and size - end < max_bytes:
            start = max(0, end - block)
            handle.seek(start)
            data = handle.read(end - start)
            blocks.append(data)
            newlines += data.count(b"\n")
            end = start
    data = b"".join(reversed(blocks))
    if end > 0:
        data = data[data.find(b"\n") + 1 :] if b"\n" in data else data  # drop the partial first line
    if data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        return []
    return _clean_lines(data.decode("utf-8", errors="replace"))[-n:]


# --------------------------------------------------------------------------- records

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


def _number(value: object) -> float | None:
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
    number = _number(value)
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
    return _number(text)


def _percentage(value: object) -> float | None:
    if isinstance(value, str):
        value = value.strip().removesuffix("%")
    return _number(value)


def _steps(obj: Mapping[str, object]) -> tuple[int | None, int | None]:
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
    step, max_steps = _steps(obj)

    percentage = _percentage(get("percentage"))
    if percentage is None and step is not None and max_steps:
        percentage = 100.0 * step / max_steps

    seconds_per_it = _number(get("train_speed(s/it)"))
    if seconds_per_it is None:
        iterations_per_s = _number(get("train_speed(iter/s)"))  # 3.x
        if iterations_per_s:
            seconds_per_it = 1.0 / iterations_per_s

    memory = _number(get("memory(GiB)"))
    if memory is None and kind == "final":
        memory = _number(get("memory")) or None  # the final line's peak; 0 on CPU means "not measured"

    history_value = get("log_history")
    history: tuple[Mapping[str, object], ...] = ()
    if isinstance(history_value, list | tuple):
        history = tuple(entry for entry in history_value if isinstance(entry, Mapping))

    return StepRecord(
        kind=kind,
        step=step,
        max_steps=max_steps,
        loss=_number(get("loss")),
        grad_norm=_number(get("grad_norm")),
        learning_rate=_number(get("learning_rate")),
        token_acc=_number(get("token_acc")),
        epoch=_number(get("epoch")),
        percentage=percentage,
        elapsed_s=parse_duration(get("elapsed_time")),
        remaining_s=parse_duration(get("remaining_time")),
        memory_gib=memory,
        seconds_per_it=seconds_per_it,
        eval_loss=_number(get("eval_loss")),
        eval_token_acc=_number(get("eval_token_acc")),
        train_loss=_number(get("train_loss")),
        last_model_checkpoint=_text(get("last_model_checkpoint")),
        best_model_checkpoint=_text(get("best_model_checkpoint")),
        log_history=history,
        raw=obj,
    )


# --------------------------------------------------------------------------- curves


_NOT_TRAIN_KEYS = frozenset({"eval_loss", "train_runtime", "last_model_checkpoint", "log_history"})
"""Keys that make a line with ``loss`` something other than a step line (see :func:`parse_record`)."""


class _Series:
    """Values by step, with a sorted view that stays O(1) per in-order append."""

    def __init__(self) -> None:
        self.values: dict[int, float] = {}
        self._sorted: list[tuple[int, float]] = []
        self._stale = False

    def set(self, step: int, value: float) -> None:
        known = step in self.values
        self.values[step] = value
        if self._stale:
            return
        if not known and (not self._sorted or step > self._sorted[-1][0]):
            self._sorted.append((step, value))
        else:
            self._stale = True  # a replacement or an out-of-order step: rebuild on next read

    def points(self) -> list[tuple[int, float]]:
        if self._stale:
            self._sorted = sorted(self.values.items())
            self._stale = False
        return list(self._sorted)

    def first(self) -> int | None:
        if not self.values:
            return None
        return min(self.values) if self._stale else self._sorted[0][0]


class RunCurve:
    """A run's loss curves and its latest figures, fed with :class:`StepRecord` s in log order.

    Points are keyed by step: a later record for a step replaces the earlier one (a
    resumed run, or a log read twice after a restart, never draws a step twice).
    """

    def __init__(self) -> None:
        self._train = _Series()
        self._eval = _Series()
        self.latest: StepRecord | None = None
        """The most recent train record."""
        self.latest_eval: StepRecord | None = None
        self.max_steps: int | None = None
        self.summary: StepRecord | None = None
        """The train-end line (``train_runtime``, ``train_loss``)."""
        self.final: StepRecord | None = None
        """The last line (``last_model_checkpoint``, ``log_history``): present once the run finished."""

    @property
    def train_points(self) -> list[tuple[int, float]]:
        """(step, loss), sorted by step."""
        return self._train.points()

    @property
    def eval_points(self) -> list[tuple[int, float]]:
        """(step, eval_loss), sorted by step."""
        return self._eval.points()

    @property
    def first_step(self) -> int | None:
        """The lowest step with a train or eval point."""
        firsts = [step for step in (self._train.first(), self._eval.first()) if step is not None]
        return min(firsts) if firsts else None

    def add(self, record: StepRecord) -> None:
        if record.max_steps:
            self.max_steps = record.max_steps
        if record.kind == "train":
            self.latest = record
            if record.step is not None and record.loss is not None:
                self._train.set(record.step, record.loss)
        elif record.kind == "eval":
            self.latest_eval = record
            if record.step is not None and record.eval_loss is not None:
                self._eval.set(record.step, record.eval_loss)
        elif record.kind == "summary":
            self.summary = record
        elif record.kind == "final":
            self.final = record
            self.extend_from_log_history(record.log_history)

    def add_objects(self, objects: Iterable[Mapping[str, object]]) -> int:
        """Parse and :meth:`add` raw ``logging.jsonl`` objects (what :meth:`JsonlTail.poll` returns); returns how many.

        Same result as :meth:`add` of each :func:`parse_record`, but a step line only has its
        step and loss read, and only the last one of a batch is parsed in full for
        :attr:`latest`: catching up with a million-line log is then mostly JSON decoding.
        """
        count = 0
        last_train: Mapping[str, object] | None = None
        for obj in objects:
            if not isinstance(obj, Mapping):
                continue
            count += 1
            if "loss" in obj and not _NOT_TRAIN_KEYS.intersection(obj):
                step, max_steps = _steps(obj)
                if max_steps:
                    self.max_steps = max_steps
                loss = _number(obj["loss"])
                if step is not None and loss is not None:
                    self._train.set(step, loss)
                last_train = obj
                continue
            if last_train is not None:
                self.latest = parse_record(last_train)
                last_train = None
            record = parse_record(obj)
            if record is not None:
                self.add(record)
        if last_train is not None:
            self.latest = parse_record(last_train)
        return count

    def extend_from_log_history(self, history: Iterable[object]) -> int:
        """Fill in points from a final line's ``log_history`` (HF keys, ``step``); returns how many steps were new.

        Steps already seen keep their values, so reading the history after the live lines
        changes nothing but the gaps (a log that was truncated, or a tail started late).
        """
        added = 0
        for entry in history:
            if not isinstance(entry, Mapping):
                continue
            record = parse_record(entry)
            if record is None or record.step is None:
                continue
            if record.kind == "train" and record.loss is not None:
                if record.step not in self._train.values:
                    self._train.set(record.step, record.loss)
                    added += 1
                if self.latest is None or (self.latest.step or 0) < record.step:
                    self.latest = record
            elif record.kind == "eval" and record.eval_loss is not None:
                if record.step not in self._eval.values:
                    self._eval.set(record.step, record.eval_loss)
                    added += 1
                if self.latest_eval is None or (self.latest_eval.step or 0) < record.step:
                    self.latest_eval = record
            elif record.kind == "summary" and self.summary is None:
                self.summary = record
        return added

    def stitched(self, parent: RunCurve) -> RunCurve:
        """A resumed run drawn as one curve: the parent's points before this run's first step, then this run's.

        Latest figures, ``summary`` and ``final`` are this run's; the parent's latest figures
        and ``max_steps`` stand in only until this run has logged its own.
        """
        first = self.first_step
        curve = RunCurve()
        for own, theirs, into in (
            (self._train, parent._train, curve._train),
            (self._eval, parent._eval, curve._eval),
        ):
            for step, value in theirs.points():
                if first is None or step < first:
                    into.set(step, value)
            for step, value in own.points():
                into.set(step, value)
        curve.latest = self.latest if self.latest is not None else parent.latest
        curve.latest_eval = self.latest_eval if self.latest_eval is not None else parent.latest_eval
        curve.max_steps = self.max_steps if self.max_steps is not None else parent.max_steps
        curve.summary = self.summary
        curve.final = self.final
        return curve
