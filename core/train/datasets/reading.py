"""Reading a file the way swift will: JSONL line by line, JSON lists, CSV; every bad line kept with its number."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.train.datasets.encoding import encoding_of, read_dataset_bytes
from core.train.datasets.layouts import LAYOUT_FIXES, Record, detect_format, validate_record


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
    data = read_dataset_bytes(path)
    return _parse(path, data.decode(encoding_of(path, data)))


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


@dataclass
class DatasetScan:
    """One pass over a file: its encoding, layout, good records and bad lines."""

    path: Path
    encoding: str
    format: str
    good: list[tuple[int, Record]]
    invalid: list[DatasetIssue]


def scan_dataset(path: Path) -> DatasetScan:
    """Read, detect the file's layout by majority, and validate every record against it.

    swift picks one preprocessor per file from its columns, so a record of another
    layout in the same file would be dropped: it is reported as invalid here.
    """
    data = read_dataset_bytes(path)
    encoding = encoding_of(path, data)
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
            issues.append(DatasetIssue(path, line, problem or "", LAYOUT_FIXES[fmt]))
            continue
        problem = validate_record(record, fmt)
        if problem is None:
            good.append((line, record))
        else:
            issues.append(DatasetIssue(path, line, problem, LAYOUT_FIXES[fmt]))
    issues.sort(key=lambda issue: issue.line or 0)
    return DatasetScan(path, encoding, fmt, good, issues)

