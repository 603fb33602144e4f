"""Prompt sets for the arena: the demo set or a user's JSONL/CSV, validated line by line.

A row has an ``id``, a ``prompt``, and optionally a ``reference`` answer and ``tags``. A *turn* row
carries a ``history`` instead (or as well): the messages of a real conversation up to the client's
turn, which every candidate answers with the counsellor's next turn; its ``reference`` is the real
counsellor's. Roles are ``user`` (the client) and ``assistant`` (the counsellor); ShareGPT's
``from``/``value`` (``human``/``gpt``) reads the same.
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

from core.arena.crisis import CrisisSignal, crisis_signal
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


def first_messages(text: str, history: tuple[Turn, ...]) -> list[dict[str, str]]:
    """What a candidate is asked first (without the system prompt): a turn's history, else the opening line."""
    if history:
        return [{"role": turn.role, "content": turn.content} for turn in history]
    return [{"role": "user", "content": text}]


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
        return first_messages(self.text, self.history)


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


SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "user": "user", "assistant": "assistant"}
"""A history message's role, as written in a messages row (``role``) or a ShareGPT row (``from``)."""

HISTORY_EXAMPLE = '"history": [{"role": "user", "content": "…"}, {"role": "assistant", "content": "…"}, ' \
                  '{"role": "user", "content": "…"}]'


def read_history(value: object, path: Path, line: int) -> tuple[Turn, ...]:
    """A turn row's ``history``: alternating client and counsellor turns that end with the client's.

    A system message is refused rather than dropped: the session's system prompt is the one every
    candidate gets, and a row's own would silently differ from it.
    """
    if not isinstance(value, list) or not value:
        raise MhbenchError("'history' must be a non-empty list of messages.", path=path, line=line,
                           fix=f"write {HISTORY_EXAMPLE}.")
    turns: list[Turn] = []
    for number, message in enumerate(value, 1):
        where = f"history message {number}"
        if not isinstance(message, dict):
            raise MhbenchError(f"{where} is not an object.", path=path, line=line, fix=f"write {HISTORY_EXAMPLE}.")
        raw_role = message.get("role", message.get("from"))
        content = message.get("content", message.get("value"))
        if raw_role == "system":
            raise MhbenchError(f"{where} is a system message.", path=path, line=line,
                               fix="remove it: the session's system prompt is what every candidate gets "
                                   "(set it with `mhbench session new --system`).")
        role = SHAREGPT_ROLES.get(str(raw_role))
        if role is None:
            raise MhbenchError(f"{where} has role {raw_role!r}.", path=path, line=line,
                               fix="use 'user' for the client and 'assistant' for the counsellor "
                                   "(ShareGPT's 'human' and 'gpt' work too).")
        if not isinstance(content, str) or not content.strip():
            raise MhbenchError(f"{where} ({role}) is an empty turn.", path=path, line=line,
                               fix="give every turn its text, or cut the conversation before it.")
        if len(content) > MAX_PROMPT_CHARS:
            raise MhbenchError(f"{where} is {len(content)} characters long.", path=path, line=line,
                               fix=f"keep each turn under {MAX_PROMPT_CHARS} characters.")
        if turns and turns[-1].role == role:
            raise MhbenchError(f"{where} is a second {role} turn in a row; client and counsellor must alternate.",
                               path=path, line=line, fix="merge the two turns into one.")
        turns.append(Turn("user" if role == "user" else "assistant", content.strip()))
    if turns[-1].role != "user":
        raise MhbenchError("the history ends with the counsellor (assistant), so there is no client turn to answer.",
                           path=path, line=line,
                           fix="end the history with the client's turn; the counsellor's next turn goes in "
                               "'reference'.")
    return tuple(turns)


def client_crisis(text: str, history: tuple[Turn, ...], tags: tuple[str, ...]) -> CrisisSignal | None:
    """The first crisis sign in the client's words: every client turn of a history, since risk often surfaces
    before the last one, else the opening line."""
    turns = [turn.content for turn in history if turn.role == "user"] or [text]
    return next((signal for turn in turns if (signal := crisis_signal(turn, tags)) is not None), None)


def read_prompt_file(path: Path) -> list[Prompt]:
    """Every prompt of a JSONL or CSV file; the first bad row is an error naming its line."""
    prompts: list[Prompt] = []
    seen: dict[str, int] = {}
    for position, (line, row) in enumerate(_rows(path)):
        history = read_history(row["history"], path, line) if row.get("history") not in (None, "") else ()
        if history:
            if row.get("prompt") not in (None, "", history[-1].content):
                raise MhbenchError("the row has both a 'prompt' and a 'history' that ends with another client turn.",
                                   path=path, line=line,
                                   fix="leave 'prompt' out of a turn row: its client turn is the history's last.")
            row = {**row, "prompt": history[-1].content}
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
        crisis = client_crisis(text, history, tags) is not None
        prompts.append(Prompt(prompt_id, text.strip(), (reference or "").strip() or None, tags, crisis, position,
                              "turn" if history else "opening", history))
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


def history_from_json(stored: str | None) -> tuple[Turn, ...]:
    """A stored ``history`` column back as turns (none for an opening or dialogue row)."""
    return tuple(Turn(t["role"], t["content"]) for t in json.loads(stored)) if stored else ()


def prompt_from_row(row: sqlite3.Row) -> Prompt:
    """A stored prompt row back as a :class:`Prompt`."""
    history = history_from_json(row["history"])
    return Prompt(row["id"], row["text"], row["reference"], tuple(json.loads(row["tags"])), bool(row["crisis"]),
                  row["position"], row["kind"], history, json.loads(row["case_json"]) if row["case_json"] else {})


def get_prompt_set(workspace: Workspace, set_id: str) -> PromptSet:
    with registry(workspace) as connection:
        row = find_row(connection, "prompt_sets", set_id, noun="prompt set", listing="`mhbench session list --json` (each session's prompt_set)")
        rows = connection.execute("SELECT * FROM prompts WHERE set_id = ? ORDER BY position", (row["id"],)).fetchall()
    prompts = tuple(prompt_from_row(r) for r in rows)
    return PromptSet(row["id"], row["name"], row["source"], prompts)
