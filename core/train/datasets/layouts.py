"""Record layouts swift reads, how to tell them apart, and what makes one record unusable."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping
from typing import Any

Progress = Callable[[str], None]
Record = dict[str, Any]
Message = dict[str, Any]

FORMATS = ("sharegpt", "messages", "alpaca", "dolly", "query_response")
"""Every layout recognised here; anything else is ``unknown``."""
NATIVE_FORMATS = frozenset({"sharegpt", "messages", "alpaca", "query_response"})
"""Layouts swift 4.x's ``AutoPreprocessor`` reads completely, so they are not converted."""
SWIFT_EXTENSIONS = frozenset({".jsonl", ".json", ".csv"})
"""swift picks the ``datasets`` loader from the file extension (``.jsonl``→json); others load wrongly."""
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
LAYOUT_FIXES: Mapping[str, str] = {
    "sharegpt": 'give each record a "conversations" list of {"from": "human"|"gpt"|"system", "value": text}, starting with human and ending with gpt.',
    "messages": 'give each record a "messages" list of {"role": "user"|"assistant"|"system", "content": text}, starting with user and ending with assistant.',
    "alpaca": 'give each record a non-empty "instruction" (or "input") and a non-empty "output", all strings.',
    "dolly": 'give each record non-empty "instruction" and "response" strings and a "context" string (may be empty).',
    "query_response": 'give each record non-empty "query" and "response" strings; "history" is a list of [query, response] pairs.',
    "unknown": f"use one of the layouts swift reads: {_LAYOUTS}.",
}
"""Per layout (and ``unknown``), the fix a bad record of it is reported with."""



def turns_key(record: Mapping[str, Any]) -> str | None:
    """The key that holds a record's list of turns (``messages``, ``conversations``…), else ``None``."""
    for key in ("messages", "conversations", "conversation"):
        if key in record:
            return key
    return None


def detect_format(record: Mapping[str, Any]) -> str:
    """The layout of one record, by its keys, in the order swift's ``AutoPreprocessor`` checks them."""
    key = turns_key(record)
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


def decoded_cell(value: Any) -> Any:
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
    history = decoded_cell(history)
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
    key = turns_key(record)
    assert key is not None
    turns = decoded_cell(record[key])  # swift repairs JSON in a string (CSV cells); so do we
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
        if turns_key(record) is None:
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

