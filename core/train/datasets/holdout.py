"""A held-out split of a conversation dataset: a file to train on, and turn items cut from the rest.

Whole conversations are kept apart, never single rows: a conversation that appears twice in a
file (a copy, or the same dialogue with other whitespace or another system prompt) is one
conversation, found by :func:`conversation_key`, and lands on one side only. So no turn item of
``eval-prompts.jsonl`` comes from a conversation that ``train.jsonl`` holds.

Each held-out conversation is cut at up to ``cuts`` client turns that the real counsellor answered,
spread over the conversation (the first turn, the last, and between): the history up to that client
turn is the item, the counsellor's real next turn its ``reference``. Each row names its
conversation's key (``conversation``), and the split is recorded in the workspace
(``dataset_splits``, ``dataset_split_items``): the launch form offers the train file, and the
contamination check (:mod:`core.arena.contamination`) flags a turn item whose conversation is in a
candidate's training data.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.base.db import registry, write_transaction
from core.base.errors import MhbenchError
from core.base.processes import utc_now
from core.base.workspace import Workspace
from core.train.datasets.conversion import to_swift_messages
from core.train.datasets.reading import scan_dataset

CONVERSATION_LAYOUTS = frozenset({"sharegpt", "messages"})
DEFAULT_CUTS = 3
TRAIN_FILE = "train.jsonl"
EVAL_FILE = "eval-prompts.jsonl"


def conversation_key(messages: Sequence[Mapping[str, Any]]) -> str:
    """The identity of a conversation: its client and counsellor turns, each NFKC-normalised, case-folded
    and without white space (a system prompt is not part of it). Two copies of one dialogue share it."""
    turns = [(str(m.get("role")), "".join(unicodedata.normalize("NFKC", str(m.get("content") or "")).casefold().split()))
             for m in messages if m.get("role") in ("user", "assistant")]
    return hashlib.sha256(json.dumps(turns, ensure_ascii=False).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class DatasetSplit:
    """What ``mhbench dataset FILE --hold-out`` wrote and recorded."""

    id: str
    source: Path
    format: str
    train_path: Path
    eval_path: Path
    conversations: int
    """Distinct conversations in the source (copies count once)."""
    duplicates: int
    """Rows that repeat a conversation already seen: they go where their conversation goes."""
    held_out: int
    train_rows: int
    eval_rows: int
    seed: int


def cut_points(messages: Sequence[Mapping[str, Any]], cuts: int) -> list[int]:
    """Indices of up to ``cuts`` client turns that a counsellor turn follows, spread from first to last."""
    points = [i for i, m in enumerate(messages[:-1]) if m["role"] == "user" and messages[i + 1]["role"] == "assistant"]
    if len(points) <= cuts:
        return points
    if cuts == 1:
        return [points[-1]]
    return sorted({points[round(j * (len(points) - 1) / (cuts - 1))] for j in range(cuts)})


def turn_rows(key: str, messages: Sequence[Mapping[str, Any]], cuts: int) -> list[dict[str, Any]]:
    """The turn items of one held-out conversation, in the prompt-set layout (``history`` and ``reference``)."""
    spoken = [{"role": m["role"], "content": m["content"]} for m in messages if m["role"] in ("user", "assistant")]
    return [{"id": f"{key[:12]}-t{sum(m['role'] == 'user' for m in spoken[:i + 1])}", "history": spoken[:i + 1],
             "reference": spoken[i + 1]["content"], "conversation": key}
            for i in cut_points(spoken, cuts)]


def held_out_count(conversations: int, hold_out: int | None, fraction: float | None) -> int:
    """How many conversations to hold out; at least one on each side."""
    if (hold_out is None) == (fraction is None):
        raise MhbenchError("give exactly one of --hold-out N and --hold-out-fraction F.",
                           fix="e.g. --hold-out 10, or --hold-out-fraction 0.1.")
    if fraction is not None:
        if not 0 < fraction < 1:
            raise MhbenchError(f"--hold-out-fraction {fraction} is not between 0 and 1.", fix="e.g. 0.1 for 10 %.")
        hold_out = max(1, round(fraction * conversations))
    assert hold_out is not None
    if not 1 <= hold_out < conversations:
        raise MhbenchError(f"cannot hold out {hold_out} of {conversations} distinct conversations.",
                           fix=f"hold out between 1 and {conversations - 1}, so both sides keep one.")
    return hold_out


def split_dataset(workspace: Workspace, path: Path, out_dir: Path, *, hold_out: int | None = None,
                  fraction: float | None = None, seed: int = 0, cuts: int = DEFAULT_CUTS) -> DatasetSplit:
    """Split ``path`` by whole conversations into ``out_dir/train.jsonl`` and ``out_dir/eval-prompts.jsonl``,
    and record the split in the workspace."""
    path = path.expanduser().resolve()
    if cuts < 1:
        raise MhbenchError(f"--cuts-per-conversation {cuts} is below 1.", fix="cut each conversation at least once.")
    scan = scan_dataset(path)
    if scan.format not in CONVERSATION_LAYOUTS:
        raise MhbenchError(f"the file is in the {scan.format} layout: single question–answer rows, not conversations "
                           "whose turns can be held out.", path=path,
                           fix=f"convert it first (`mhbench dataset {path} --convert` writes a messages file), then "
                               "split that, or split a ShareGPT or messages file.")
    if scan.invalid:
        first = scan.invalid[0]
        raise MhbenchError(f"{len(scan.invalid)} invalid line(s); the first: {first.problem}", path=path,
                           line=first.line, fix=f"{first.fix} (`mhbench dataset {path}` lists them all).")
    rows: dict[str, list[dict[str, Any]]] = {}
    messages_of: dict[str, list[dict[str, Any]]] = {}
    for _line, record in scan.good:
        messages = to_swift_messages(record, scan.format)["messages"]
        key = conversation_key(messages)
        rows.setdefault(key, []).append(record)
        messages_of.setdefault(key, messages)
    keys = list(rows)
    count = held_out_count(len(keys), hold_out, fraction)
    held = set(random.Random(seed).sample(sorted(keys), count))
    train = [record for _line, record in scan.good if conversation_key(to_swift_messages(record, scan.format)["messages"])
             not in held]
    items = [row for key in keys if key in held for row in turn_rows(key, messages_of[key], cuts)]
    out_dir = out_dir.expanduser().resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    train_path, eval_path = out_dir / TRAIN_FILE, out_dir / EVAL_FILE
    _write_jsonl(train_path, train)
    _write_jsonl(eval_path, items)
    source_sha = hashlib.sha256(path.read_bytes()).hexdigest()
    split = DatasetSplit(f"{path.stem}-{source_sha[:8]}-s{seed}-h{count}", path, scan.format, train_path, eval_path,
                         len(keys), len(scan.good) - len(keys), count, len(train), len(items), seed)
    record_split(workspace, split, source_sha, hashlib.sha256(eval_path.read_bytes()).hexdigest(), items)
    return split


def _write_jsonl(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Beside the target, then renamed over it: a reader (a training run) never sees half a file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    os.replace(partial, path)


def record_split(workspace: Workspace, split: DatasetSplit, source_sha: str, eval_sha: str,
                 items: Sequence[Mapping[str, Any]]) -> None:
    """Record the split (replacing an earlier one of the same id): which files, and each item's conversation."""
    with write_transaction(workspace) as connection:
        connection.execute("DELETE FROM dataset_split_items WHERE split_id = ?", (split.id,))
        connection.execute("DELETE FROM dataset_splits WHERE id = ?", (split.id,))
        connection.execute(
            """INSERT INTO dataset_splits (id, source, source_sha256, format, train_path, eval_path, eval_sha256, seed,
               conversations, held_out, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (split.id, str(split.source), source_sha, split.format, str(split.train_path), str(split.eval_path),
             eval_sha, split.seed, split.conversations, split.held_out, utc_now()))
        connection.executemany("INSERT INTO dataset_split_items (split_id, prompt_id, conversation) VALUES (?, ?, ?)",
                               [(split.id, item["id"], item["conversation"]) for item in items])


def train_files(workspace: Workspace) -> list[tuple[str, Path]]:
    """(split id, train file) of every recorded split whose train file still exists, newest first."""
    if not workspace.db_path.is_file():
        return []
    with registry(workspace) as connection:
        rows = connection.execute("SELECT id, train_path FROM dataset_splits ORDER BY created_at DESC, id").fetchall()
    return [(str(row["id"]), Path(row["train_path"])) for row in rows if Path(row["train_path"]).is_file()]


def held_out_conversations(workspace: Workspace, eval_sha256: str) -> dict[str, str]:
    """Prompt id → conversation key of the turn items a recorded split wrote into a file of this content;
    empty when the file was not written by a split."""
    with registry(workspace) as connection:
        rows = connection.execute(
            """SELECT i.prompt_id, i.conversation FROM dataset_split_items i
               JOIN dataset_splits s ON s.id = i.split_id WHERE s.eval_sha256 = ?""", (eval_sha256,)).fetchall()
    return {str(row["prompt_id"]): str(row["conversation"]) for row in rows}
