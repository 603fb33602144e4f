"""Converting a file to the OpenAI ``messages`` layout, with a note of where it came from."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.base.errors import MhbenchError
from core.train.datasets.layouts import (
    ASSISTANT_ROLES,
    LAYOUT_FIXES,
    TOOL_CALL_ROLES,
    TOOL_RESPONSE_ROLES,
    USER_ROLES,
    Message,
    decoded_cell,
    turns_key,
)
from core.train.datasets.reading import DatasetScan, scan_dataset


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
    for query, response in decoded_cell(record.get("history")) or []:
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
        key = turns_key(record)
        turns = decoded_cell(record[key]) if key is not None else []
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
    raise MhbenchError(f"cannot convert a record of layout '{fmt}'.", fix=LAYOUT_FIXES["unknown"])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_conversion(scan: DatasetScan, out_dir: Path) -> tuple[Path, str]:
    """Write the scanned file's good records as ``messages`` and the note of where they came from (see
    :func:`convert_dataset`); the check reuses its scan rather than reading the file again."""
    if scan.format == "unknown":
        raise MhbenchError(
            "has no record in a known layout; nothing to convert.", path=scan.path, fix=LAYOUT_FIXES["unknown"]
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
    return write_conversion(scan_dataset(path), out_dir)

