"""The dataset check that runs before a training launch, and as its own action.

ms-swift reads a local dataset file in one pass and, by default, *drops* every
row it cannot preprocess or that is longer than ``--max_length``
(``truncation_strategy='delete'``), logging a traceback for the first few only.
A broken file therefore costs a model load before it shows, and a half-broken
one trains silently on fewer samples than the user thinks. This module reads
the file the way swift will, names every bad line with its number and a fix,
measures token lengths with the profile's own tokenizer and chat template, and
converts layouts that swift would misread (Dolly: swift keeps ``instruction``
and ``response`` but silently drops ``context``) into the OpenAI ``messages``
layout.

Heavy libraries (``transformers``) are imported inside the functions that need them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.base.errors import MhbenchError

if TYPE_CHECKING:
    from core.train.profiles import Profile

Progress = Callable[[str], None]
Record = dict[str, Any]
Message = dict[str, Any]

FORMATS = ("sharegpt", "messages", "alpaca", "dolly", "query_response")
"""Every layout recognised here; anything else is ``unknown``."""
NATIVE_FORMATS = frozenset({"sharegpt", "messages", "alpaca", "query_response"})
"""Layouts swift 4.x's ``AutoPreprocessor`` reads completely, so they are not converted."""
SWIFT_EXTENSIONS = frozenset({".jsonl", ".json", ".csv"})
"""swift picks the ``datasets`` loader from the file extension (``.jsonl``→json); others load wrongly."""

BOM = b"\xef\xbb\xbf"
USER_ROLES = frozenset({"user", "human"})
ASSISTANT_ROLES = frozenset({"assistant", "gpt", "bot"})
SYSTEM_ROLES = frozenset({"system"})
TOOL_CALL_ROLES = frozenset({"tool_call", "function_call"})
TOOL_RESPONSE_ROLES = frozenset({"tool", "tool_response", "function_response", "observation", "observations"})
KNOWN_ROLES = USER_ROLES | ASSISTANT_ROLES | SYSTEM_ROLES | TOOL_CALL_ROLES | TOOL_RESPONSE_ROLES

_LAYOUTS = (
    'sharegpt {"conversations": [{"from": "human", "value": ...}, {"from": "gpt", "value": ...}]}, '
    'messages {"messages": [{"role": "user", "content": ...}, {"role": "assistant", "content": ...}]}, '
    'alpaca {"instruction", "input", "output"}, dolly {"instruction", "context", "response"} '
    'or {"query", "response"}'
)
_FIXES = {
    "sharegpt": 'give each record a "conversations" list of {"from": "human"|"gpt"|"system", "value": text}, starting with human and ending with gpt.',
    "messages": 'give each record a "messages" list of {"role": "user"|"assistant"|"system", "content": text}, starting with user and ending with assistant.',
    "alpaca": 'give each record a non-empty "instruction" (or "input") and a non-empty "output", all strings.',
    "dolly": 'give each record non-empty "instruction" and "response" strings and a "context" string (may be empty).',
    "query_response": 'give each record non-empty "query" and "response" strings; "history" is a list of [query, response] pairs.',
    "unknown": f"use one of the layouts swift reads: {_LAYOUTS}.",
}


@dataclass(frozen=True)
class DatasetIssue:
    """One bad record (or a file-level problem when ``line`` is None), with the fix."""

    path: Path
    line: int | None
    problem: str
    fix: str

    def __str__(self) -> str:
        place = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{place}: {self.problem} Fix: {self.fix}"


def _nearest_rank(ordered: Sequence[int], percent: float) -> int:
    """Nearest-rank percentile: always a real sample length, monotone in ``percent``."""
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class LengthStats:
    """Token lengths of the samples, as the chat template renders them for training."""

    count: int
    min: int
    p50: int
    p90: int
    p99: int
    max: int
    mean: float
    over_max_length: int
    """Samples longer than ``max_length``; swift deletes them by default (``truncation_strategy='delete'``)."""
    over_share: float
    """``over_max_length / count``, 0 when there are no samples."""
    max_length: int
    lengths: tuple[int, ...] = field(default=(), repr=False, compare=False)
    """Every sample's length in file order, kept for the histogram."""

    @classmethod
    def from_lengths(cls, lengths: Sequence[int], max_length: int) -> LengthStats:
        if not lengths:
            return cls(0, 0, 0, 0, 0, 0, 0.0, 0, 0.0, max_length, ())
        ordered = sorted(lengths)
        over = sum(1 for length in ordered if length > max_length)
        return cls(
            count=len(ordered),
            min=ordered[0],
            p50=_nearest_rank(ordered, 50),
            p90=_nearest_rank(ordered, 90),
            p99=_nearest_rank(ordered, 99),
            max=ordered[-1],
            mean=sum(ordered) / len(ordered),
            over_max_length=over,
            over_share=over / len(ordered),
            max_length=max_length,
            lengths=tuple(lengths),
        )

    def histogram(self, bins: int = 10) -> list[tuple[int, int]]:
        """Equal-width bins from 0 to the longest sample: ``(upper_bound, count)``, bounds inclusive."""
        if not self.lengths or bins < 1:
            return []
        width = max(1, math.ceil(self.max / bins))
        counts = [0] * bins
        for length in self.lengths:
            counts[min(bins - 1, max(0, math.ceil(length / width) - 1))] += 1
        return [(width * (index + 1), count) for index, count in enumerate(counts)]

    def chart(self, bins: int = 8, width: int = 30) -> list[str]:
        """The histogram as text bars for a terminal; bins past ``max_length`` are marked ``!``."""
        rows = self.histogram(bins)
        if not rows:
            return []
        top = max(count for _, count in rows) or 1
        label = len(str(rows[-1][0]))
        lines = []
        width_of_bin = rows[0][0]
        for bound, count in rows:
            mark = "!" if bound - width_of_bin >= self.max_length else " "  # the whole bin is too long
            bar = "█" * round(count / top * width)
            lines.append(f"≤{bound:>{label}}{mark}{bar} {count}")
        return lines

    def line(self) -> str:
        return (
            f"tokens: min {self.min}, p50 {self.p50}, p90 {self.p90}, p99 {self.p99}, max {self.max}, mean {self.mean:.0f}; "
            f"{self.over_max_length} of {self.count} ({self.over_share:.1%}) longer than max_length {self.max_length}"
        )


@dataclass
class DatasetReport:
    """What the check found in one dataset file; the TUI lists it, the CLI prints ``summary()``."""

    path: Path
    format: str
    """``sharegpt``, ``messages``, ``alpaca``, ``dolly``, ``query_response`` or ``unknown``."""
    encoding: str
    """``utf-8`` or ``utf-8-sig``; ``unreadable`` when it could not be read or decoded; ``n/a`` when skipped."""
    samples: int
    """Records that swift will read correctly."""
    invalid: list[DatasetIssue] = field(default_factory=list)
    lengths: LengthStats | None = None
    converted_to: Path | None = None
    conversion_note: str | None = None
    notes: list[str] = field(default_factory=list)
    """Things worth knowing that are not errors: why lengths are missing, what swift will drop…"""
    error: MhbenchError | None = None
    """A file-level failure (missing, not UTF-8, no known layout); then nothing else is reliable."""
    skipped: str | None = None
    """Why this entry was not checked (a hub dataset id swift downloads itself)."""

    @property
    def ok(self) -> bool:
        """Nothing here blocks a launch: readable, at least one good sample, or not ours to check."""
        if self.skipped is not None:
            return True
        return self.error is None and self.encoding != "unreadable" and self.samples > 0

    def summary(self) -> str:
        if self.skipped is not None:
            return f"{self.path}: not checked: {self.skipped}"
        if self.error is not None:
            return str(self.error)
        status = "OK" if self.ok else "NOT USABLE"
        lines = [
            f"{self.path}: {status}: {self.format} layout, {self.encoding}, "
            f"{self.samples} good sample(s), {len(self.invalid)} invalid"
        ]
        for issue in self.invalid[:5]:
            lines.append(f"  {issue}")
        if len(self.invalid) > 5:
            lines.append(f"  … and {len(self.invalid) - 5} more invalid line(s)")
        if self.lengths is not None:
            lines.append(f"  {self.lengths.line()}")
        if self.converted_to is not None:
            lines.append(f"  converted to {self.converted_to}")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


# --- encoding ---------------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MhbenchError("does not exist.", path=path, fix="check the dataset path in the profile.") from None
    except IsADirectoryError:
        raise MhbenchError(
            "is a folder, not a dataset file.", path=path, fix="name a .jsonl, .json or .csv file."
        ) from None
    except OSError as error:
        raise MhbenchError(
            f"cannot be read: {error.strerror}.", path=path, fix="check the file's permissions."
        ) from None


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _encoding_of(path: Path, data: bytes) -> str:
    """The encoding of ``data``; raises MhbenchError naming the first bad byte and the fix."""
    body, encoding = (data[len(BOM) :], "utf-8-sig") if data.startswith(BOM) else (data, "utf-8")
    try:
        body.decode("utf-8")
        return encoding
    except UnicodeDecodeError as error:
        offset = error.start + (len(data) - len(body))
        bad = data[offset]
    line = data.count(b"\n", 0, offset) + 1
    where = f"byte 0x{bad:02x} at offset {offset} (line {line})"
    converted = f"{path.stem}.utf8{path.suffix}"
    line_start = data.rfind(b"\n", 0, offset) + 1
    if _decodes(data[line_start:], "gb18030"):
        head = data[:line_start].decode("utf-8", errors="replace")
        if any("\u4e00" <= char <= "\u9fff" for char in head):
            # Chinese that is valid UTF-8 before, GBK after: files joined with `cat` from two tools.
            raise MhbenchError(
                f"mixes encodings: UTF-8 before line {line}, then GBK/GB18030 ({where}).",
                path=path,
                line=line,
                fix=f"convert only the tail: tail -n +{line} {path.name} | iconv -f GB18030 -t UTF-8, and join it to the UTF-8 head.",
            )
        raise MhbenchError(
            f"is not UTF-8 ({where}): it looks like GBK/GB18030 (common from Chinese Windows tools).",
            path=path,
            line=line,
            fix=f"convert it: iconv -f GB18030 -t UTF-8 {path.name} > {converted} (or save as UTF-8 in your editor).",
        )
    raise MhbenchError(
        f"is not UTF-8 text ({where}), nor GBK/GB18030.",
        path=path,
        line=line,
        fix="save it as UTF-8 in your editor, or convert it with iconv -f <its encoding> -t UTF-8.",
    )


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` when the file starts with a BOM, ``utf-8`` when it decodes, else MhbenchError."""
    return _encoding_of(path, _read_bytes(path))


# --- layouts ----------------------------------------------------------------------------------


def _turns_key(record: Mapping[str, Any]) -> str | None:
    for key in ("messages", "conversations", "conversation"):
        if key in record:
            return key
    return None


def detect_format(record: Mapping[str, Any]) -> str:
    """The layout of one record, by its keys, in the order swift's ``AutoPreprocessor`` checks them."""
    key = _turns_key(record)
    if key is not None:
        return "messages" if key == "messages" else "sharegpt"
    if "instruction" in record and "context" in record and "response" in record:
        return "dolly"
    if "instruction" in record and "output" in record:
        return "alpaca"
    if "query" in record and "response" in record:
        return "query_response"
    return "unknown"


def _turn_parts(turn: Any, index: int) -> tuple[str, Any] | str:
    """``(role, content)`` of one turn, or the problem; both key spellings work, as in swift."""
    if not isinstance(turn, Mapping):
        return f"turn {index} is not an object but {type(turn).__name__}."
    role = turn.get("role", turn.get("from"))
    if "content" in turn:
        content = turn["content"]
    elif "value" in turn:
        content = turn["value"]
    else:
        return f'turn {index} has no "value"/"content".'
    if not isinstance(role, str):
        return f'turn {index} has no "from"/"role" string.'
    return role, content


def _parsed(value: Any) -> Any:
    """A JSON string decoded, as swift repairs CSV cells; an empty cell is None."""
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _check_history(history: Any) -> str | None:
    history = _parsed(history)
    if history is None:
        return None
    if not isinstance(history, list):
        return f'"history" is {type(history).__name__}, not a list of [query, response] pairs.'
    for index, pair in enumerate(history, start=1):
        if not (
            isinstance(pair, list | tuple)
            and len(pair) == 2
            and all(isinstance(text, str) and text.strip() for text in pair)
        ):
            return f'"history" item {index} is not a [query, response] pair of non-empty strings.'
    return None


def _check_system(record: Mapping[str, Any]) -> str | None:
    system = record.get("system")
    if system is not None and not isinstance(system, str):
        return f'"system" is {type(system).__name__}, not a string.'
    return None


def _check_turns(record: Mapping[str, Any]) -> str | None:
    key = _turns_key(record)
    assert key is not None
    turns = _parsed(record[key])  # swift repairs JSON in a string (CSV cells); so do we
    if isinstance(turns, str):
        return f'"{key}" is a string that is not JSON.'
    if not isinstance(turns, list):
        return f'"{key}" is {type(turns).__name__}, not a list of turns.'
    if not turns:
        return "empty conversation."
    spoken: list[tuple[int, str]] = []
    for index, turn in enumerate(turns, start=1):
        parts = _turn_parts(turn, index)
        if isinstance(parts, str):
            return parts
        role, content = parts
        if role not in KNOWN_ROLES:
            return f"turn {index} has unknown role '{role}' (use user/human, assistant/gpt or system)."
        if not isinstance(content, str):
            return f"turn {index} ({role}) text is {type(content).__name__}, not a string."
        if role in SYSTEM_ROLES:
            if index != 1:
                return f"turn {index} is a system turn; only the first turn may be system."
            continue
        if not content.strip() and role not in TOOL_CALL_ROLES | TOOL_RESPONSE_ROLES:
            return f"turn {index} ({role}) has empty text."
        if role in USER_ROLES:
            spoken.append((index, "user"))
        elif role in ASSISTANT_ROLES:
            spoken.append((index, "assistant"))
    if not spoken:
        return "conversation has no user or assistant turn."
    if spoken[0][1] != "user":
        return f"turn {spoken[0][0]} is from the assistant; a conversation starts with the user."
    for (_, before), (index, now) in itertools.pairwise(spoken):
        if now == before:
            return f"roles do not alternate user/assistant: turn {index} is a second '{now}' turn in a row."
    if spoken[-1][1] != "assistant":
        return f"last turn (turn {spoken[-1][0]}) is from the user; the assistant must answer last."
    return _check_system(record)


def _nonempty(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    if not isinstance(value, str):
        return f'"{key}" is {"missing" if value is None else type(value).__name__}, not a string.'
    if not value.strip():
        return f'"{key}" is empty.'
    return None


def validate_record(record: Mapping[str, Any], fmt: str) -> str | None:
    """The problem with one record read as layout ``fmt``, or None when swift will train on it as meant."""
    if fmt in ("sharegpt", "messages"):
        if _turns_key(record) is None:
            return f"no conversation list ({'messages' if fmt == 'messages' else 'conversations'})."
        return _check_turns(record)
    if fmt == "alpaca":
        instruction, input_ = record.get("instruction"), record.get("input")
        for key, value in (("instruction", instruction), ("input", input_)):
            if value is not None and not isinstance(value, str):
                return f'"{key}" is {type(value).__name__}, not a string.'
        if not ((instruction or "").strip() or (input_ or "").strip()):
            return '"instruction" and "input" are both empty.'
        return _nonempty(record, "output") or _check_history(record.get("history")) or _check_system(record)
    if fmt == "dolly":
        context = record.get("context")
        if context is not None and not isinstance(context, str):
            return f'"context" is {type(context).__name__}, not a string.'
        return _nonempty(record, "instruction") or _nonempty(record, "response") or _check_system(record)
    if fmt == "query_response":
        return (
            _nonempty(record, "query")
            or _nonempty(record, "response")
            or _check_history(record.get("history"))
            or _check_system(record)
        )
    keys = ", ".join(sorted(map(str, record))) or "none"
    return f"unrecognised record layout (keys: {keys})."


# --- reading ----------------------------------------------------------------------------------


def _json_array(path: Path, text: str) -> tuple[list[tuple[int, Record]], list[DatasetIssue]]:
    """Elements of a top-level JSON list, each with the line it starts on."""
    decoder = json.JSONDecoder()
    records: list[tuple[int, Record]] = []
    issues: list[DatasetIssue] = []
    index = text.index("[") + 1
    while True:
        while index < len(text) and text[index] in " \t\r\n,":
            index += 1
        if index >= len(text) or text[index] == "]":
            return records, issues
        line = text.count("\n", 0, index) + 1
        try:
            value, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError as error:
            issues.append(
                DatasetIssue(
                    path,
                    error.lineno,
                    f"not valid JSON: {error.msg}.",
                    "repair the JSON at that line; the rest of the list was not read.",
                )
            )
            return records, issues
        if isinstance(value, dict):
            records.append((line, value))
        else:
            issues.append(
                DatasetIssue(
                    path,
                    line,
                    f"list item is {type(value).__name__}, not a JSON object.",
                    "make every item of the list a {...} object.",
                )
            )


def _jsonl(path: Path, text: str) -> tuple[list[tuple[int, Record]], list[DatasetIssue]]:
    records: list[tuple[int, Record]] = []
    issues: list[DatasetIssue] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            issues.append(
                DatasetIssue(
                    path,
                    number,
                    f"not valid JSON: {error.msg} (column {error.colno}).",
                    "repair or remove the line; JSONL holds one complete object per line.",
                )
            )
            continue
        if isinstance(value, dict):
            records.append((number, value))
        else:
            issues.append(
                DatasetIssue(
                    path,
                    number,
                    f"line is a JSON {type(value).__name__}, not an object.",
                    "make the line one {...} object, or remove it.",
                )
            )
    return records, issues


def _csv(path: Path, text: str) -> tuple[list[tuple[int, Record]], list[DatasetIssue]]:
    records: list[tuple[int, Record]] = []
    issues: list[DatasetIssue] = []
    reader = csv.DictReader(io.StringIO(text, newline=""))
    start = 2
    try:
        for row in reader:
            extra = row.pop(None, None)
            if extra:
                issues.append(
                    DatasetIssue(
                        path,
                        start,
                        f"row has {len(extra)} more field(s) than the header.",
                        "quote fields that hold commas, or fix the header.",
                    )
                )
            else:
                records.append((start, {key: value for key, value in row.items() if value is not None}))
            start = reader.line_num + 1
    except csv.Error as error:
        issues.append(
            DatasetIssue(path, reader.line_num, f"not valid CSV: {error}.", "repair the quoting at that line.")
        )
    return records, issues


def read_records(path: Path) -> tuple[list[tuple[int, Record]], list[DatasetIssue]]:
    """Every JSON object of a JSONL, JSON-list or CSV file with its line number, and the bad lines.

    JSONL is read line by line so that every bad line is reported, not only the
    first (``datasets`` aborts there). A file that is not UTF-8 raises MhbenchError.
    """
    data = _read_bytes(path)
    return _parse(path, data.decode(_encoding_of(path, data)))


def _parse(path: Path, text: str) -> tuple[list[tuple[int, Record]], list[DatasetIssue]]:
    if path.suffix.lower() == ".csv":
        return _csv(path, text)
    stripped = text.lstrip()
    if stripped.startswith("["):
        return _json_array(path, text)
    if path.suffix.lower() == ".json" and stripped.startswith("{"):
        try:  # one pretty-printed object; a JSONL file named .json falls through
            value = json.loads(text)
        except json.JSONDecodeError:
            pass
        else:
            if isinstance(value, dict):
                return [(text[: len(text) - len(stripped)].count("\n") + 1, value)], []
    return _jsonl(path, text)


# --- conversion -------------------------------------------------------------------------------


def _role(role: str) -> str:
    if role in USER_ROLES:
        return "user"
    if role in ASSISTANT_ROLES:
        return "assistant"
    if role in TOOL_CALL_ROLES:
        return "tool_call"
    if role in TOOL_RESPONSE_ROLES:
        return "tool_response"
    return "system"


def _history(record: Mapping[str, Any]) -> list[Message]:
    messages: list[Message] = []
    for query, response in _parsed(record.get("history")) or []:
        messages += [{"role": "user", "content": query}, {"role": "assistant", "content": response}]
    return messages


def _with_system(record: Mapping[str, Any], messages: list[Message]) -> dict[str, Any]:
    system = record.get("system")
    if isinstance(system, str) and system.strip() and not (messages and messages[0]["role"] == "system"):
        messages.insert(0, {"role": "system", "content": system})
    return {"messages": messages}


def to_swift_messages(record: Mapping[str, Any], fmt: str) -> dict[str, Any]:
    """One valid record as ``{"messages": [{"role", "content"}, ...]}``, the layout swift reads as is.

    Alpaca joins instruction and input with one newline, exactly as swift's own
    ``AlpacaPreprocessor`` does, so that token counts match what swift trains on.
    Dolly, which swift does not read fully, puts the context after the instruction
    with a blank line between.
    """
    if fmt in ("sharegpt", "messages"):
        key = _turns_key(record)
        turns = _parsed(record[key]) if key is not None else []
        messages: list[Message] = []
        for turn in turns:
            role, content = turn.get("role", turn.get("from")), turn.get("content", turn.get("value"))
            mapped = _role(role)
            if mapped == "system" and not content.strip():
                continue
            messages.append({"role": mapped, "content": content})
        return _with_system(record, messages)
    if fmt == "alpaca":
        instruction, input_ = record.get("instruction") or "", record.get("input") or ""
        query = f"{instruction}\n{input_}" if instruction and input_ else instruction or input_
        return _with_system(
            record,
            [*_history(record), {"role": "user", "content": query}, {"role": "assistant", "content": record["output"]}],
        )
    if fmt == "dolly":
        context = (record.get("context") or "").strip()
        query = record["instruction"] + (f"\n\n{context}" if context else "")
        return _with_system(
            record, [{"role": "user", "content": query}, {"role": "assistant", "content": record["response"]}]
        )
    if fmt == "query_response":
        return _with_system(
            record,
            [
                *_history(record),
                {"role": "user", "content": record["query"]},
                {"role": "assistant", "content": record["response"]},
            ],
        )
    raise MhbenchError(f"cannot convert a record of layout '{fmt}'.", fix=_FIXES["unknown"])


@dataclass
class _Scan:
    """One pass over a file: its encoding, layout, good records and bad lines."""

    path: Path
    encoding: str
    format: str
    good: list[tuple[int, Record]]
    invalid: list[DatasetIssue]


def _scan(path: Path) -> _Scan:
    """Read, detect the file's layout by majority, and validate every record against it.

    swift picks one preprocessor per file from its columns, so a record of another
    layout in the same file would be dropped: it is reported as invalid here.
    """
    data = _read_bytes(path)
    encoding = _encoding_of(path, data)
    records, issues = _parse(path, data.decode(encoding))
    found = [(line, record, detect_format(record)) for line, record in records]
    counts = Counter(fmt for _, _, fmt in found if fmt != "unknown")
    fmt = counts.most_common(1)[0][0] if counts else "unknown"
    good: list[tuple[int, Record]] = []
    for line, record, own in found:
        if own != fmt:
            problem = (
                validate_record(record, "unknown")
                if own == "unknown"
                else f"record is {own} but the file is {fmt}; swift reads one layout per file."
            )
            issues.append(DatasetIssue(path, line, problem or "", _FIXES[fmt]))
            continue
        problem = validate_record(record, fmt)
        if problem is None:
            good.append((line, record))
        else:
            issues.append(DatasetIssue(path, line, problem, _FIXES[fmt]))
    issues.sort(key=lambda issue: issue.line or 0)
    return _Scan(path, encoding, fmt, good, issues)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_conversion(scan: _Scan, out_dir: Path) -> tuple[Path, str]:
    if scan.format == "unknown":
        raise MhbenchError(
            "has no record in a known layout; nothing to convert.", path=scan.path, fix=_FIXES["unknown"]
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = scan.path.name.rsplit(".", 1)[0] if "." in scan.path.name else scan.path.name
    target = out_dir / f"{stem}.swift-messages.jsonl"
    note_path = out_dir / f"{stem}.swift-messages.conversion.json"
    if target.resolve() == scan.path.resolve():
        raise MhbenchError(
            "would be overwritten by its own conversion.", path=scan.path, fix="pick another output folder."
        )
    partial = target.with_name(target.name + ".partial")
    with partial.open("w", encoding="utf-8", newline="\n") as handle:
        for _, record in scan.good:
            handle.write(json.dumps(to_swift_messages(record, scan.format), ensure_ascii=False) + "\n")
    os.replace(partial, target)
    meta = {
        "source": str(scan.path.resolve()),
        "source_sha256": _sha256(scan.path),
        "source_encoding": scan.encoding,
        "source_format": scan.format,
        "output": str(target.resolve()),
        "output_format": "messages",
        "kept": len(scan.good),
        "skipped": len(scan.invalid),
        "skipped_lines": [issue.line for issue in scan.invalid],
        "converted_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "converter": "mhbench core.train.datasets",
    }
    note_path.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    note = (
        f"converted {meta['source']} (sha256 {meta['source_sha256']}, {scan.format}) to messages: "
        f"kept {meta['kept']}, skipped {meta['skipped']} invalid, at {meta['converted_at']}"
    )
    return target, note


def convert_dataset(path: Path, out_dir: Path) -> tuple[Path, str]:
    """Write ``<stem>.swift-messages.jsonl`` (UTF-8, no BOM) and its conversion note; invalid lines are skipped.

    Returns the new file and a one-line note; the note is also kept as
    ``<stem>.swift-messages.conversion.json`` so a run can show where its data came from.
    """
    return _write_conversion(_scan(path), out_dir)


# --- token lengths ----------------------------------------------------------------------------


def _input_ids(encoded: Any) -> list[Any]:
    """``input_ids`` from what ``apply_chat_template(tokenize=True)`` returned (a list, or a dict in transformers 5)."""
    if isinstance(encoded, Mapping) or hasattr(encoded, "keys"):
        return list(encoded["input_ids"])
    return list(encoded)


def token_lengths(
    records_as_messages: Iterable[Mapping[str, Any] | Sequence[Mapping[str, Any]]],
    tokenizer_dir: Path,
    max_length: int,
    *,
    progress: Progress | None = None,
    batch_size: int = 64,
) -> LengthStats:
    """Token count of each sample as the model's own chat template renders it (offline, local tokenizer).

    Each item is ``{"messages": [...]}`` (what ``to_swift_messages`` returns) or the list itself.
    The tokenizer's template may add a default system prompt, as swift's does.
    """
    from transformers import AutoTokenizer

    try:
        tokenizer: Any = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
    except (OSError, ValueError) as error:
        raise MhbenchError(
            f"has no usable tokenizer: {error}".rstrip(".") + ".",
            path=tokenizer_dir,
            fix="point the profile's model.id at a local model folder with tokenizer files.",
        ) from None
    if not getattr(tokenizer, "chat_template", None):
        raise MhbenchError(
            "the tokenizer has no chat template, so lengths cannot be measured as trained.",
            path=tokenizer_dir,
            fix="use a model folder whose tokenizer_config.json (or chat_template.jinja) has a chat template.",
        )
    conversations = [
        list(item["messages"]) if isinstance(item, Mapping) else list(item) for item in records_as_messages
    ]
    lengths: list[int] = []
    for start in range(0, len(conversations), batch_size):
        batch = conversations[start : start + batch_size]
        try:
            encoded = tokenizer.apply_chat_template(batch, tokenize=True)
        except Exception as error:  # jinja raises its own errors on samples the template refuses
            raise MhbenchError(
                f"the chat template refused a sample in {start + 1}–{start + len(batch)}: {error}",
                path=tokenizer_dir,
                fix="check those samples' roles against the template.",
            ) from None
        lengths += [len(ids) for ids in _input_ids(encoded)]
        if progress is not None:
            progress(f"tokenized {len(lengths)} of {len(conversations)} samples")
    return LengthStats.from_lengths(lengths, max_length)


# --- the check --------------------------------------------------------------------------------


def _unreadable(path: Path, error: MhbenchError) -> DatasetReport:
    issue = DatasetIssue(path, error.line, error.problem, error.fix or "")
    return DatasetReport(path, "unknown", "unreadable", 0, [issue], error=error)


def check_dataset(
    path: Path,
    *,
    tokenizer_dir: Path | None = None,
    max_length: int = 2048,
    convert_dir: Path | None = None,
    progress: Progress | None = None,
) -> DatasetReport:
    """Check one file: encoding, layout, every record, token lengths; convert Dolly when asked.

    File-level failures (missing, not UTF-8, no known layout) do not raise: they
    come back as ``report.error`` so that a list of files can still be shown.
    """
    say = progress or (lambda message: None)
    path = Path(path)
    say(f"reading {path}")
    try:
        scan = _scan(path)
    except MhbenchError as error:
        return _unreadable(path, error)
    report = DatasetReport(path, scan.format, scan.encoding, len(scan.good), list(scan.invalid))
    if path.suffix.lower() not in SWIFT_EXTENSIONS:
        report.notes.append(f"swift picks its loader from the extension; rename '{path.suffix or '(none)'}' to .jsonl.")
    if scan.format == "unknown":
        first = scan.invalid[0].line if scan.invalid else None
        report.error = MhbenchError(
            "has no record in a layout swift reads.", path=path, line=first, fix=_FIXES["unknown"]
        )
        report.samples = 0
        return report
    if scan.format == "dolly":
        if convert_dir is not None:
            say(f"converting {path.name} from Dolly to messages")
            report.converted_to, report.conversion_note = _write_conversion(scan, convert_dir)
        else:
            report.notes.append(
                "Dolly layout: swift would train on instruction→response and silently drop 'context'; "
                "convert it to messages first (check with a conversion folder)."
            )
    if report.samples and tokenizer_dir is None:
        report.notes.append(
            "token lengths not measured: the model is not a local folder (a hub id not downloaded yet)."
        )
    elif report.samples and tokenizer_dir is not None:
        say(f"counting tokens with the tokenizer in {tokenizer_dir}")
        try:
            report.lengths = token_lengths(
                (to_swift_messages(record, scan.format) for _, record in scan.good),
                tokenizer_dir,
                max_length,
                progress=progress,
            )
        except MhbenchError as error:
            report.notes.append(f"token lengths not measured: {error}")
        else:
            if report.lengths.over_max_length:
                report.notes.append(
                    f"{report.lengths.over_max_length} sample(s) exceed max_length {max_length}; swift deletes them by "
                    "default (truncation_strategy 'delete'). Raise max_length or shorten them."
                )
    return report


def _local_file(entry: str, base_dir: Path) -> Path | None:
    """The local file a ``--dataset`` entry names (swift allows a ``#N`` sample count), or None for a hub id."""
    for candidate in (entry, entry.rsplit("#", 1)[0]):
        path = Path(candidate).expanduser()
        path = path if path.is_absolute() else base_dir / path
        if path.exists():
            return path
    return None


def _looks_like_path(entry: str) -> bool:
    name = entry.rsplit("#", 1)[0]
    return name.startswith(("/", "./", "../", "~")) or Path(name).suffix.lower() in SWIFT_EXTENSIONS | {
        ".txt",
        ".parquet",
    }


def check_profile_datasets(
    profile: Profile,
    *,
    convert_dir: Path | None,
    base_dir: Path | None = None,
    progress: Progress | None = None,
) -> list[DatasetReport]:
    """Check every dataset and validation file of a profile with its own tokenizer and max_length.

    Hub dataset ids come back as skipped reports: swift downloads and preprocesses
    them itself. A missing file that looks like a path is an error, not a hub id.
    """
    base = base_dir or Path.cwd()
    model_dir = Path(profile.model.id).expanduser()
    tokenizer_dir = model_dir if profile.model.hub == "local" and model_dir.is_dir() else None
    reports: list[DatasetReport] = []
    for entry in (*profile.train.dataset, *profile.train.val_dataset):
        path = _local_file(entry, base)
        if path is None and not _looks_like_path(entry):
            reports.append(
                DatasetReport(
                    Path(entry),
                    "unknown",
                    "n/a",
                    0,
                    skipped="a hub dataset id; swift downloads and reads it at launch.",
                )
            )
            continue
        reports.append(
            check_dataset(
                path or base / entry,
                tokenizer_dir=tokenizer_dir,
                max_length=profile.train.max_length,
                convert_dir=convert_dir,
                progress=progress,
            )
        )
    return reports
