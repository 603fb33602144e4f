"""Prompt sets for the arena: the demo set or a user's JSONL/CSV, validated line by line.

A row has an ``id``, a ``prompt``, and optionally a ``reference`` answer and ``tags``.
Every bad row is reported with its file and line and nothing is registered until the
whole file is valid. A registered set is copied into the database, so a session keeps
its prompts even if the file is edited later. Prompts with crisis signs are marked:
their safety answer is mandatory.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from core.arena.crisis import shows_crisis
from core.base.db import find_row, registry, write_transaction
from core.base.errors import MhbenchError
from core.base.processes import utc_now
from core.base.workspace import Workspace

DEMO_SET = "demo"
MAX_PROMPT_CHARS = 8000

ItemKind = Literal["opening", "turn", "dialogue"]
ITEM_KINDS: tuple[ItemKind, ...] = ("opening", "turn", "dialogue")
"""What an item asks a model for: an answer to an opening line, the counsellor's next turn after a
real conversation's history, or a whole counselling session with a simulated client (issue 18)."""


@dataclass(frozen=True)
class Turn:
    """One message of a conversation: ``role`` is ``user`` (the client) or ``assistant`` (the counsellor)."""

    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class Prompt:
    """One row of a prompt set: what every model of a session is asked, the same for all.

    ``text`` is what a rater reads as the client's words: the opening line, the last client turn
    of a ``turn`` row's ``history``, or a ``dialogue`` case's opening line. ``case`` is a dialogue
    row's whole case (background, problem, manner, …) as stored.
    """

    id: str
    text: str
    reference: str | None
    tags: tuple[str, ...]
    crisis: bool
    position: int
    kind: ItemKind = "opening"
    history: tuple[Turn, ...] = ()
    case: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    def messages(self) -> list[dict[str, str]]:
        """What a candidate is sent (without the system prompt): the history, or the opening line."""
        if self.history:
            return [{"role": turn.role, "content": turn.content} for turn in self.history]
        return [{"role": "user", "content": self.text}]


@dataclass(frozen=True)
class PromptSet:
    id: str
    name: str
    source: str
    prompts: tuple[Prompt, ...]


def _tags(value: object, where: str) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        return tuple(t.strip() for t in re.split(r"[;,，、|]", value) if t.strip())
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return tuple(t.strip() for t in value if t.strip())
    raise ValueError(f"{where}: 'tags' must be a list of strings or 'a;b;c'")


def read_utf8(path: Path, noun: str) -> str:
    """A user's text file; unreadable or not UTF-8 is an error naming it and the fix."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise MhbenchError(f"cannot read the {noun}: {error.strerror}.", path=path,
                           fix="check the path and its permissions.") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MhbenchError(f"the {noun} is not UTF-8 (GBK, perhaps).", path=path,
                           fix="save it as UTF-8, e.g. `iconv -f GBK -t UTF-8 IN > OUT`.") from None


def json_object_lines(path: Path, text: str, example: str) -> list[tuple[int, dict[str, object]]]:
    """(line number, object) for each non-blank line of JSON Lines; a bad line is an error naming it."""
    rows: list[tuple[int, dict[str, object]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise MhbenchError(f"not valid JSON ({error.msg} at column {error.colno}).", path=path, line=number,
                               fix="repair the line: one JSON object per line.") from None
        if not isinstance(value, dict):
            raise MhbenchError("the line is not a JSON object.", path=path, line=number, fix=f"write {example}.")
        rows.append((number, value))
    return rows


def _rows(path: Path) -> list[tuple[int, dict[str, object]]]:
    """(line number, row) pairs; a row that is not an object is an error with its line."""
    text = read_utf8(path, "prompt file")
    rows: list[tuple[int, dict[str, object]]] = []
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None or "prompt" not in reader.fieldnames:
            raise MhbenchError("the CSV has no 'prompt' column.", path=path, line=1,
                               fix="give a header row with id,prompt[,reference][,tags].")
        for row in reader:
            rows.append((reader.line_num, {k: v for k, v in row.items() if k is not None}))
        return rows
    return json_object_lines(path, text, '{"id": "...", "prompt": "..."}')


def read_prompt_file(path: Path) -> list[Prompt]:
    """Every prompt of a JSONL or CSV file; the first bad row is an error naming its line."""
    prompts: list[Prompt] = []
    seen: dict[str, int] = {}
    for position, (line, row) in enumerate(_rows(path)):
        text = row.get("prompt")
        if not isinstance(text, str) or not text.strip():
            raise MhbenchError("the row has no 'prompt' text.", path=path, line=line, fix="add the prompt.")
        if len(text) > MAX_PROMPT_CHARS:
            raise MhbenchError(f"the prompt is {len(text)} characters long.", path=path, line=line,
                               fix=f"keep prompts under {MAX_PROMPT_CHARS} characters.")
        prompt_id = str(row.get("id") or f"row{line}").strip()
        if prompt_id in seen:
            raise MhbenchError(f"id '{prompt_id}' was already used on line {seen[prompt_id]}.", path=path,
                               line=line, fix="give every prompt its own id.")
        seen[prompt_id] = line
        reference = row.get("reference")
        if reference is not None and not isinstance(reference, str):
            raise MhbenchError("'reference' must be text.", path=path, line=line, fix="quote the reference answer.")
        try:
            tags = _tags(row.get("tags"), "tags")
        except ValueError as error:
            raise MhbenchError(str(error) + ".", path=path, line=line, fix='write "tags": ["学业", "焦虑"].') from None
        prompts.append(Prompt(prompt_id, text.strip(), (reference or "").strip() or None, tags,
                              shows_crisis(text, tags), position))
    if not prompts:
        raise MhbenchError("the prompt file has no prompts.", path=path, fix="add at least one row.")
    return prompts


def demo_prompt_file() -> Path:
    return Path(__file__).resolve().parents[1] / "demo" / "data" / "prompts.jsonl"


def register_prompt_set(workspace: Workspace, source: str | Path = DEMO_SET) -> PromptSet:
    """Validate and store a prompt file (or the demo set); the same content is registered once."""

    path = demo_prompt_file() if str(source) == DEMO_SET else Path(source).expanduser().resolve()
    name = DEMO_SET if str(source) == DEMO_SET else path.stem
    return register_rows(workspace, path, name, read_prompt_file(path))


def register_rows(workspace: Workspace, path: Path, name: str, prompts: list[Prompt]) -> PromptSet:
    """Store the validated rows of ``path`` (of any kind) as a prompt set; the same content is registered once."""

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    set_id = f"{re.sub(r'[^A-Za-z0-9._-]+', '-', name)}-{digest[:8]}"
    with write_transaction(workspace) as connection:
        if connection.execute("SELECT 1 FROM prompt_sets WHERE id = ?", (set_id,)).fetchone() is None:
            connection.execute("INSERT INTO prompt_sets (id, name, source, sha256, created_at) VALUES (?, ?, ?, ?, ?)",
                               (set_id, name, str(path), digest, utc_now()))
            store_prompts(connection, set_id, prompts)
    return PromptSet(set_id, name, str(path), tuple(prompts))


def store_prompts(connection: sqlite3.Connection, set_id: str, prompts: list[Prompt]) -> None:
    """Insert a set's rows, of any kind, inside the caller's transaction."""
    connection.executemany(
        "INSERT INTO prompts (set_id, id, position, text, reference, tags, crisis, kind, history, case_json)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(set_id, p.id, p.position, p.text, p.reference, json.dumps(list(p.tags), ensure_ascii=False),
          int(p.crisis), p.kind,
          json.dumps([{"role": t.role, "content": t.content} for t in p.history], ensure_ascii=False)
          if p.history else None,
          json.dumps(p.case, ensure_ascii=False) if p.case else None) for p in prompts],
    )


def prompt_from_row(row: sqlite3.Row) -> Prompt:
    """A stored prompt row back as a :class:`Prompt`."""
    history = tuple(Turn(t["role"], t["content"]) for t in json.loads(row["history"])) if row["history"] else ()
    return Prompt(row["id"], row["text"], row["reference"], tuple(json.loads(row["tags"])), bool(row["crisis"]),
                  row["position"], row["kind"], history, json.loads(row["case_json"]) if row["case_json"] else {})


def get_prompt_set(workspace: Workspace, set_id: str) -> PromptSet:
    with registry(workspace) as connection:
        row = find_row(connection, "prompt_sets", set_id, noun="prompt set", listing="`mhbench session list --json` (each session's prompt_set)")
        rows = connection.execute("SELECT * FROM prompts WHERE set_id = ? ORDER BY position", (row["id"],)).fetchall()
    prompts = tuple(prompt_from_row(r) for r in rows)
    return PromptSet(row["id"], row["name"], row["source"], prompts)
