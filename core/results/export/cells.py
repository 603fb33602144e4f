"""How a value is written in each format: spreadsheet-safe CSV cells, JSONL members, and runs rendered once.

See :mod:`core.results.export` for the rules (control characters, formula escaping, line separators,
timestamps).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from core.base.text import strip_control
from core.results.export.columns import ExportFormat

_FORMULA = re.compile(r"[\t\r]|\s*[=+\-@＝＋－＠]")
"""A cell a spreadsheet would open as a formula (or DDE call)."""
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
# Line separators JSON may leave raw but str.splitlines() splits on: escaped in JSONL.
_LINE_BREAKS = ((b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"), (b"\xc2\x85", b"\\u0085"))

# Bidi marks: invisible, and enough to reorder what a viewer shows (strip_control takes the overrides and isolates).
_BIDI_MARKS = re.compile("[\u061c\u200e\u200f]")
# Anything clean_text removes; text without any (nearly all of it) is returned untouched, fast.
_UNCLEAN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

Row = tuple[Any, ...]


def clean_text(text: str) -> str:
    """``text`` without what could drive a terminal or disguise what it says; tabs and line breaks kept.

    Removed: whole ESC/CSI/OSC/DCS sequences (colours, cursor moves, OSC 8 hyperlinks, window
    titles), the other C0 controls (NUL included), DEL, the C1 controls, the bidi overrides and
    isolates (U+202A-U+202E, U+2066-U+2069) and the bidi marks U+200E, U+200F and U+061C.
    Kept: tab, newline and carriage return. Every exported text cell goes through here.
    """
    if _UNCLEAN.search(text) is None:
        return text
    if "\r" in text:  # strip_control drops carriage returns, and a CRLF answer should keep them
        return "\r".join([_BIDI_MARKS.sub("", strip_control(part)) for part in text.split("\r")])
    return _BIDI_MARKS.sub("", strip_control(text))


def spreadsheet_safe(text: str) -> str:
    """:func:`clean_text`, with a leading apostrophe when a spreadsheet would read it as a formula."""
    text = clean_text(text)
    return "'" + text if _FORMULA.match(text) else text


def language(text: str) -> str:
    """``Chinese`` when the text has CJK characters, else ``English``."""
    return "Chinese" if _CJK.search(text) else "English"


def utc_iso(value: str | None) -> str | None:
    """A stored timestamp as UTC ISO 8601 with ``Z`` (a naive one is taken as UTC); unparsable text as is."""
    if not value or value.endswith("Z"):
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def unix_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


# --- cells: how a value is written in each format ------------------------------------------------


class Cells:
    """CSV cells are spreadsheet-safe text, ``;``-joined lists and 0/1; JSONL keeps types and text."""

    def __init__(self, format: ExportFormat) -> None:
        self.csv = format == "csv"
        self.text: Callable[[str], str] = spreadsheet_safe if self.csv else clean_text
        self._texts: dict[str, str] = {}

    def opt(self, value: str | None) -> str | None:
        return None if value is None else self.text(value)

    def cached(self, value: str) -> str:
        """``text`` for values that repeat across rows (raters, model ids)."""
        done = self._texts.get(value)
        if done is None:
            done = self._texts[value] = self.text(value)
        return done

    def stamp(self, value: Any) -> Any:
        """A stored timestamp as UTC ISO 8601 with ``Z``; anything unparsable as (safe) text."""
        if type(value) is not str:
            return self.number(value)  # None, or a number where a hand edit put one
        if value[-1:] == "Z" and value[:1].isdigit():
            return value
        return self.opt(utc_iso(value))

    def items(self, values: Sequence[str]) -> str | list[str]:
        return self.text(";".join(values)) if self.csv else [clean_text(v) for v in values]

    def flag(self, value: bool) -> int | bool:
        return int(value) if self.csv else value

    def number(self, value: Any) -> Any:
        """A stored number as a number; anything else (a hand-edited cell) as text."""
        kind = type(value)
        if kind is int or kind is float or value is None:
            return value
        return self.text(str(value))

    def structure(self, value: list[dict[str, str]]) -> str | list[dict[str, str]]:
        return self.text(json.dumps(value, ensure_ascii=False)) if self.csv else value


_QUOTE = re.compile(r'[",\r\n]')


def csv_field(value: Any) -> bytes:
    """One CSV field as the ``csv`` module writes it with ``QUOTE_MINIMAL`` and ``\\r\\n``, in UTF-8."""
    if type(value) is str:
        if _QUOTE.search(value) is None:
            return value.encode()
        return b'"' + value.replace('"', '""').encode() + b'"'
    if value is None:
        return b""
    if isinstance(value, str):
        return csv_field(str.__str__(value))
    return str(value).encode()


class CellRun:
    """Cells that sit side by side in many rows (a prompt, a response, a model): rendered once per export.

    A row is a tuple of cells and runs; a run may hold runs. Its CSV text (or its JSON
    members) is computed on first use and reused by every row that shows it, so a response's
    text is escaped, quoted and encoded once however many ratings show it.
    """

    __slots__ = ("_csv", "_flat", "_json", "_width", "cells")

    def __init__(self, cells: Row) -> None:
        self.cells = cells
        self._csv: bytes | None = None
        self._flat: Row | None = None
        self._json: tuple[int, bytes] | None = None
        self._width: int | None = None

    @property
    def width(self) -> int:
        """How many columns the run fills."""
        if self._width is None:
            self._width = sum(c.width if type(c) is CellRun else 1 for c in self.cells)
        return self._width

    def csv(self) -> bytes:
        if self._csv is None:
            self._csv = b",".join([(c._csv or c.csv()) if type(c) is CellRun else csv_field(c) for c in self.cells])
        return self._csv

    def flat(self) -> Row:
        if self._flat is None:
            self._flat = tuple(_flatten(self.cells))
        return self._flat

    def json(self, keys: Sequence[bytes], start: int) -> bytes:
        """The run's ``"column": value`` members when its first column is ``keys[start]``."""
        if self._json is None or self._json[0] != start:
            self._json = (start, json_members(self.cells, keys, start))
        return self._json[1]


def _flatten(row: Row) -> list[Any]:
    values: list[Any] = []
    for cell in row:
        if type(cell) is CellRun:
            values.extend(cell.flat())
        else:
            values.append(cell)
    return values


# --- JSONL: a row's members -----------------------------------------------------------------------


def json_value(value: Any) -> bytes:
    """``value`` as JSON, UTF-8 (``ensure_ascii=False``), the line separators Python splits on escaped."""
    text = orjson.dumps(value)
    for raw, escaped in _LINE_BREAKS:
        if raw in text:
            text = text.replace(raw, escaped)
    return text


def json_members(row: Row, keys: Sequence[bytes], start: int = 0) -> bytes:
    """A row's ``"column": value`` members, comma-joined; ``keys[start]`` is its first column's key with ``:``."""
    parts: list[bytes] = []
    column = start
    for cell in row:
        if type(cell) is CellRun:
            parts.append(cell.json(keys, column))
            column += cell.width
        else:
            parts.append(keys[column] + json_value(cell))
            column += 1
    return b",".join(parts)
