"""Where each key of a TOML file is written, so that a fault can name its line.

``tomllib`` returns values without positions. The file has already parsed when this
runs, so a line-by-line reading of headers and ``key =`` lines is enough; values that
span lines (multi-line strings and arrays) are stepped over so their contents are
never taken for keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

_BARE = r"[A-Za-z0-9_-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"|\'[^\']*\''
_PART = rf"(?:{_BARE}|{_QUOTED})"
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_HEADER = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(rf"^\s*({_DOTTED})\s*=")
_PIECE = re.compile(_PART)
_STRING = re.compile(_QUOTED)


def _parts(dotted: str) -> list[str]:
    return [piece[1:-1] if piece[0] in "\"'" else piece for piece in _PIECE.findall(dotted)]


def _open_brackets(value: str) -> int:
    """How many ``[`` a value leaves open, not counting brackets inside strings or comments."""
    bare = _STRING.sub("", value).split("#", 1)[0]
    return bare.count("[") - bare.count("]")


def key_lines(text: str) -> dict[str, int]:
    """``{"train.batch_size": 12, "train": 10, ...}``: the first line of each table and key."""
    found: dict[str, int] = {}
    table: list[str] = []
    fence: str | None = None  # the quotes of a multi-line string we are inside
    depth = 0  # brackets still open from a multi-line array
    for number, raw in enumerate(text.splitlines(), start=1):
        if fence is not None:
            if fence in raw:
                fence = None
            continue
        if depth > 0:
            depth = max(0, depth + _open_brackets(raw))
            continue
        header = _HEADER.match(raw)
        if header is not None:
            table = _parts(header.group(1))
            found.setdefault(".".join(table), number)
            continue
        key = _KEY.match(raw)
        if key is None:
            continue
        found.setdefault(".".join([*table, *_parts(key.group(1))]), number)
        value = raw[key.end() :]
        for quotes in ('"""', "'''"):
            if value.count(quotes) % 2 == 1:
                fence = quotes
        if fence is None:
            depth = max(0, _open_brackets(value))
    return found


def line_of(lines: Mapping[str, int], key: Sequence[str]) -> int | None:
    """The line of ``key``, else of the nearest table that holds it (a missing key's section)."""
    for end in range(len(key), 0, -1):
        line = lines.get(".".join(key[:end]))
        if line is not None:
            return line
    return None
