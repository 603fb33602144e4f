"""Fields a rule's summary quotes beyond its own match: the allocation that failed, the model being fetched,
the flags swift did not know, how many dataset rows survived.

Each reader takes the match and the whole (cleaned) log and returns more ``str.format`` fields
for the summary template of its rule (see :attr:`core.swift.diagnose.rules.Rule.extra`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence


def oom_detail(match: re.Match[str], _lines: Sequence[str]) -> Mapping[str, str]:
    """The allocation that failed and the GPU's free memory, as torch's out-of-memory line gives them."""
    line = match.string
    parts: list[str] = []
    tried = re.search(r"Tried to allocate ([\d.]+ ?[KMGT]i?B)", line)
    if tried:
        parts.append(f"Tried to allocate {tried.group(1)}")
    free = re.search(
        r"GPU (\d+) has a total capacity of ([\d.]+ ?[KMGT]i?B) of which ([\d.]+ ?[KMGT]i?B) is free", line
    )
    if free:
        parts.append(f"GPU {free.group(1)}: {free.group(3)} free of {free.group(2)}")
    return {"detail": f" ({'; '.join(parts)})" if parts else ""}


_HUB_ITEM = re.compile(r"Downloading the (model|dataset) from \w+(?: Hub)?, (?:model|dataset)_id: (\S+)")
_HUB_URL = re.compile(r"(?:/api/v1/models/|/api/models/|/api/datasets/|Repo )([\w.-]+/[\w.-]+)")


def hub_item(_match: re.Match[str], lines: Sequence[str]) -> Mapping[str, str]:
    """Which model (or dataset) swift was fetching: its own log line says, else a URL."""
    for line in reversed(lines):
        found = _HUB_ITEM.search(line)
        if found:
            return {"what": f"{found.group(1)} {found.group(2)}"}
    for line in reversed(lines):
        url = _HUB_URL.search(line)
        if url:
            return {"what": f"model {url.group(1)}"}
    return {"what": "the model"}


_CAUSES = (
    re.compile(r"Failed to resolve '[^']+'"),
    re.compile(r"Connection refused"),
    re.compile(r"timed out"),
    re.compile(r"Max retries exceeded"),
    re.compile(r"Connection failed"),
)


def network_cause(match: re.Match[str], lines: Sequence[str]) -> Mapping[str, str]:
    """The most specific reason in a ModelScope ``NetworkError`` line (DNS before "retries exceeded")."""
    cause = next((found.group(0) for rx in _CAUSES if (found := rx.search(match.string))), "network error")
    return {**hub_item(match, lines), "cause": cause}


def remaining_flags(match: re.Match[str], _lines: Sequence[str]) -> Mapping[str, str]:
    """The flags in swift's ``remaining_argv: [...]`` (a Python list literal) that it did not know."""
    try:
        items = [str(item) for item in ast.literal_eval(match.group("argv"))]
    except (ValueError, SyntaxError):
        items = match.group("argv").strip("[]").replace("'", "").split(", ")
    flags = [item for item in items if item.startswith("-")] or items
    return {"flags": " ".join(flags)}


def unrecognized(match: re.Match[str], _lines: Sequence[str]) -> Mapping[str, str]:
    """The flags in argparse's ``error: unrecognized arguments: ...``."""
    items = match.group("argv").split()
    flags = [item for item in items if item.startswith("-")] or items
    return {"flags": " ".join(flags)}


DROPPED_ROW = re.compile(r"There are errors in the dataset, the data will be deleted")
"""swift's warning after each dataset row it drops (a rule of its own, and the anchor of :func:`dropped_reason`)."""
ERROR_LINE = re.compile(r"^(?:\[rank\d+\]:\s*)?([\w.]*(?:Error|Exception)\b:.*)$")
"""A Python exception line (``ValueError: ...``), rank prefix allowed: the fallback evidence of an unknown failure."""


_FILTERED = re.compile(r"Dataset filtered, origin length: (\d+), filtered dataset length: (\d+)")


def dropped_reason(_match: re.Match[str], lines: Sequence[str]) -> Mapping[str, str]:
    """How many rows swift kept, and the error of the first dropped row.

    swift logs each bad row's traceback, then a warning, and later
    "Dataset filtered, origin length: N, filtered dataset length: M".
    """
    reason = ""
    for line in reversed(lines):
        counts = _FILTERED.search(line)
        if counts:
            reason += f" ({counts.group(2)} of {counts.group(1)} rows kept)"
            break
    for index, line in enumerate(lines):
        if DROPPED_ROW.search(line):
            for previous in reversed(lines[max(0, index - 8) : index]):
                error = ERROR_LINE.match(previous.strip())
                if error:
                    return {"reason": f"{reason}; first bad row: {error.group(1)}"}
            break
    return {"reason": reason}
