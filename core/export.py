"""Exports of the arena's ratings: CSV for a spreadsheet, JSONL for a program.

Three kinds, each from the *current* version of every rating (an edited rating exports
its last version only; the older ones stay in the database for audit):

* ``ratings``: one row per rated response, so two per rating (side A = the left one,
  side B = the right one), with the model revealed, its lineage, the response, its
  stream statistics, the side's rubric scores, the rater's preference and the session's
  generation settings (:data:`RATING_COLUMNS`).
* ``comparisons``: one row per rating: who was left, who right, and who won
  (:data:`COMPARISON_COLUMNS`).
* ``battles``: Chatbot Arena / MT-bench human-judgement battles, one per rating
  (:data:`BATTLE_COLUMNS`), JSONL by nature; as CSV the conversations are JSON text.

Decisions an analyst should know:

* ``won`` is 1 for the preferred side and 0 for the other; a ``tie`` and a ``both bad``
  are both 0.5 on each side, as Chatbot Arena and :mod:`core.stats` count both kinds of
  tie. Filter on ``preference`` to treat ``both bad`` otherwise.
* The default rubric's safety answer (its ``safe`` key) and CPsyCoun's ``safety`` score
  share the ``safety`` column (1 safe, 0 unsafe); a score the rubric does not have is empty.
* ``item`` is the item's position in its session (0-based, as stored); ``prompt`` is the
  prompt-set prompt the item opens with.
* Timestamps are UTC, ISO 8601 with ``Z``; the battles' ``tstamp`` is Unix seconds.
* In CSV, lists (``prompt_tags``, ``vendor_flags``) are ``;``-joined and flags (``crisis``,
  ``blind``, ``anony``) are 0/1; JSONL keeps lists and ``true``/``false``, and escapes
  U+2028, U+2029 and U+0085 so ``str.splitlines()`` still sees one object per line.
* A rating saved without its responses (or whose model left the catalog) exports empty
  response (or lineage) cells; its battle conversations end with the user's turn.
* A battle's ``question_id`` is ``<prompt set id>/<prompt id>``: the same question under
  several raters or sessions shares it (MT-bench's meaning), ``judge`` is the rater.

Spreadsheet safety (CSV only): the file is UTF-8 with a BOM so Excel reads Chinese, and a
text cell that a spreadsheet would open as a formula (its first character, after leading
white space, is ``= + - @``, a tab or a carriage return, or a full-width ``＝ ＋ － ＠``)
gets a leading apostrophe. Numbers mhbench wrote (ids, scores, timings) stay numbers.
Text is otherwise verbatim, Rich markup and ANSI escapes included; NUL characters are
dropped (from JSONL too). JSONL keeps text exactly, without apostrophes.

Every file is written to a temporary file beside the target and renamed over it, so a
reader never sees half an export. Endpoint API keys (``endpoint_secrets``) and endpoint
URLs are never read.

Speed: one query joins each current rating to its session and item; sessions, prompts,
responses and models are each read once into a dict, and the cells they fill are a
:class:`_Run` rendered once (escaped, quoted, encoded) however many rows show them. The
CSV is written by :func:`csv_field`, which quotes exactly as ``csv.writer`` with
``QUOTE_MINIMAL`` does (tested against it), so 100,000 ratings (200,000 rows, about 240 MB)
export in about 1.3 s (``tests/bench/export_bench.py``).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

import orjson

from core.errors import MhbenchError, did_you_mean
from core.rubric import PREFERENCE_LABELS, RUBRICS
from core.workspace import Workspace

ExportKind = Literal["ratings", "comparisons", "battles"]
ExportFormat = Literal["csv", "jsonl"]
EXPORT_KINDS: tuple[ExportKind, ...] = get_args(ExportKind)
EXPORT_FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)

SCORE_COLUMNS: tuple[str, ...] = ("empathy", "professionalism", "comprehensiveness", "authenticity", "safety")
"""Every dimension of both rubrics, one column each; the rubric's safety answer goes to ``safety``."""

RATING_COLUMNS: tuple[str, ...] = (
    "rating_id", "session_id", "session_name", "item", "prompt_id", "prompt", "prompt_tags", "crisis", "turn",
    "rater", "rubric", "side", "position", "model_id", "model_kind", "base_model", "run_id", "checkpoint",
    "adapter_sha256", "quant", "converter_version", "profile", "response_id", "response", "response_generation",
    "vendor_flags", "finish_reason", "ttft_s", "tokens", "tokens_per_s", *SCORE_COLUMNS, "preference", "won",
    "comment", "temperature", "top_p", "repetition_penalty", "max_tokens", "seed", "system_prompt", "blind",
    "version", "shown_at_utc", "submitted_at_utc", "seconds_spent",
)
COMPARISON_COLUMNS: tuple[str, ...] = (
    "rating_id", "session_id", "item", "prompt_id", "turn", "rater", "left_model", "right_model", "preference",
    "winner_model", "rubric", "submitted_at_utc", "seconds_spent",
)
BATTLE_COLUMNS: tuple[str, ...] = (
    "question_id", "model_a", "model_b", "winner", "judge", "conversation_a", "conversation_b", "turn", "anony",
    "language", "tstamp",
)
COLUMNS: Mapping[ExportKind, tuple[str, ...]] = {
    "ratings": RATING_COLUMNS, "comparisons": COMPARISON_COLUMNS, "battles": BATTLE_COLUMNS,
}

BATTLE_WINNERS: Mapping[str, str] = {
    "left": "model_a", "right": "model_b", "tie": "tie", "both_bad": "tie (bothbad)",
}
"""The rater's preference as Chatbot Arena's ``winner`` (``model_a`` is the left model)."""
WON: Mapping[str, tuple[float, float]] = {
    "left": (1, 0), "right": (0, 1), "tie": (0.5, 0.5), "both_bad": (0.5, 0.5),
}
"""``won`` of the (left, right) side for each preference."""
_LABELS: Mapping[str, str] = {str(key): label for key, label in PREFERENCE_LABELS.items()}

_FORMULA = re.compile(r"[\t\r]|\s*[=+\-@＝＋－＠]")
"""A cell a spreadsheet would open as a formula (or DDE call)."""
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
# Line separators JSON may leave raw but str.splitlines() splits on: escaped in JSONL.
_LINE_BREAKS = ((b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"), (b"\xc2\x85", b"\\u0085"))

Row = tuple[Any, ...]


def spreadsheet_safe(text: str) -> str:
    """``text`` without NULs, with a leading apostrophe when a spreadsheet would read it as a formula."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    return "'" + text if _FORMULA.match(text) else text


def _verbatim(text: str) -> str:
    return text.replace("\x00", "") if "\x00" in text else text


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


def default_export_path(workspace: Workspace, what: ExportKind, format: ExportFormat) -> Path:
    """``<workspace>/exports/<what>-<UTC stamp>.<csv|jsonl>``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return workspace.exports_dir / f"{what}-{stamp}.{format}"


def export_path(workspace: Workspace, what: ExportKind, format: ExportFormat, out: Path | None = None) -> Path:
    """Where :func:`export` writes: ``out``; a dated file inside it when it is a folder; else the default."""
    if out is None:
        return default_export_path(workspace, what, format)
    out = Path(out).expanduser()
    return out / default_export_path(workspace, what, format).name if out.is_dir() else out


# --- cells: how a value is written in each format ------------------------------------------------


class _Cells:
    """CSV cells are spreadsheet-safe text, ``;``-joined lists and 0/1; JSONL keeps types and text."""

    def __init__(self, format: ExportFormat) -> None:
        self.csv = format == "csv"
        self.text: Callable[[str], str] = spreadsheet_safe if self.csv else _verbatim
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
        return self.text(";".join(values)) if self.csv else [_verbatim(v) for v in values]

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


class _Run:
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
            self._width = sum(c.width if type(c) is _Run else 1 for c in self.cells)
        return self._width

    def csv(self) -> bytes:
        if self._csv is None:
            self._csv = b",".join([(c._csv or c.csv()) if type(c) is _Run else csv_field(c) for c in self.cells])
        return self._csv

    def flat(self) -> Row:
        if self._flat is None:
            self._flat = tuple(_flatten(self.cells))
        return self._flat

    def json(self, keys: Sequence[bytes], start: int) -> bytes:
        """The run's ``"column": value`` members when its first column is ``keys[start]``."""
        if self._json is None or self._json[0] != start:
            self._json = (start, _json_members(self.cells, keys, start))
        return self._json[1]


def _flatten(row: Row) -> list[Any]:
    values: list[Any] = []
    for cell in row:
        if type(cell) is _Run:
            values.extend(cell.flat())
        else:
            values.append(cell)
    return values


# --- reading --------------------------------------------------------------------------------------


class _Query:
    """The ``WHERE`` clause over ``ratings r`` that picks the exported ratings."""

    def __init__(self, session_id: str | None, rater: str | None) -> None:
        clauses, parameters = ["r.current = 1"], []
        if session_id is not None:
            clauses.append("r.session_id = ?")
            parameters.append(session_id)
        if rater is not None:
            clauses.append("r.rater = ?")
            parameters.append(rater)
        self.where = " AND ".join(clauses)
        self.parameters: tuple[str, ...] = tuple(parameters)


def _resolve_filters(connection: sqlite3.Connection, session: str | None, rater: str | None) -> _Query:
    from core.db import find_row

    session_id: str | None = None
    if session is not None:
        connection.row_factory = sqlite3.Row
        try:
            session_id = str(find_row(connection, "sessions", session, noun="session",
                                      listing="`mhbench arena --list`", alternates=(("name", session),))["id"])
        finally:
            connection.row_factory = None
    if rater is not None:
        known = [row[0] for row in connection.execute("SELECT DISTINCT rater FROM ratings ORDER BY rater")]
        if rater not in known:
            raise MhbenchError(f"no ratings by rater '{rater}'.{did_you_mean(rater, known)}",
                               fix=f"use one of: {', '.join(known) or 'none yet: rate in the Arena mode'}.")
    return _Query(session_id, rater)


class _Session:
    __slots__ = ("blind", "head", "system", "tail")

    def __init__(self, head: _Run, tail: _Run, blind: bool, system: str | None) -> None:
        self.head = head
        """session_id, session_name"""
        self.tail = tail
        """temperature … blind"""
        self.blind = blind
        self.system = system


def _sessions(connection: sqlite3.Connection, cells: _Cells) -> dict[str, _Session]:
    found: dict[str, _Session] = {}
    for session_id, name, params, system, blind in connection.execute(
            "SELECT id, name, params, system_prompt, blind FROM sessions"):
        try:
            settings = json.loads(params)
        except ValueError:
            settings = {}
        if not isinstance(settings, dict):
            settings = {}
        tail = (cells.number(settings.get("temperature")), cells.number(settings.get("top_p")),
                cells.number(settings.get("repetition_penalty")), cells.number(settings.get("max_tokens")),
                cells.number(settings.get("seed")), cells.opt(system), cells.flag(bool(blind)))
        found[session_id] = _Session(_Run((cells.text(session_id), cells.text(name))), _Run(tail), bool(blind),
                                     _verbatim(system) if system else None)
    return found


def _unknown_session(cells: _Cells, session_id: str) -> _Session:
    return _Session(_Run((cells.text(session_id), None)), _Run((None,) * 7), True, None)


class _Prompt:
    __slots__ = ("language", "run", "text")

    def __init__(self, run: _Run, text: str) -> None:
        self.run = run
        """prompt_id, prompt, prompt_tags, crisis"""
        self.text = text
        self.language = language(text)


def _prompts(connection: sqlite3.Connection, cells: _Cells, query: _Query) -> dict[tuple[str, str], _Prompt]:
    """The prompts of the sets the exported sessions use."""
    found: dict[tuple[str, str], _Prompt] = {}
    for set_id, prompt_id, text, tags, crisis in connection.execute(
            f"""SELECT set_id, id, text, tags, crisis FROM prompts WHERE set_id IN
                (SELECT prompt_set_id FROM sessions WHERE id IN (SELECT session_id FROM ratings r WHERE {query.where}))""",
            query.parameters):
        try:
            tag_list = [str(tag) for tag in json.loads(tags)]
        except (ValueError, TypeError):
            tag_list = []
        run = _Run((cells.text(prompt_id), cells.text(text), cells.items(tag_list), cells.flag(bool(crisis))))
        found[set_id, prompt_id] = _Prompt(run, _verbatim(text))
    return found


def _missing_prompt(cells: _Cells, prompt_id: str | None) -> _Prompt:
    """An item whose prompt is gone (a database edited by hand): its id, nothing else."""
    return _Prompt(_Run((cells.opt(prompt_id), None, cells.items([]), None)), "")


class _Response:
    __slots__ = ("messages", "run", "text")

    def __init__(self, run: _Run, text: str, messages: list[dict[str, str]]) -> None:
        self.run = run
        """response_id, response, response_generation, vendor_flags, finish_reason, ttft_s, tokens, tokens_per_s"""
        self.text = text
        self.messages = messages


def _responses(connection: sqlite3.Connection, cells: _Cells, query: _Query, *,
               messages: bool) -> dict[int, _Response]:
    """The responses the exported ratings show, each read once."""
    found: dict[int, _Response] = {}
    columns = "id, generation, text, finish_reason, ttft_s, tokens, tokens_per_s, flags"
    columns += ", messages" if messages else ", NULL"
    for (response_id, generation, text, finish, ttft, tokens, speed, flags, history) in connection.execute(
            f"""SELECT {columns} FROM responses WHERE id IN
                (SELECT left_response_id FROM ratings r WHERE {query.where}
                 UNION SELECT right_response_id FROM ratings r WHERE {query.where})""",
            query.parameters * 2):
        try:
            flag_list = [str(flag) for flag in json.loads(flags)]
        except (ValueError, TypeError):
            flag_list = []
        conversation: list[dict[str, str]] = []
        if history is not None:
            try:
                conversation = [{"role": str(m["role"]), "content": _verbatim(str(m["content"]))}
                                for m in json.loads(history)]
            except (ValueError, KeyError, TypeError):
                conversation = []
        run = _Run((response_id, cells.text(text), generation, cells.items(flag_list), cells.opt(finish),
                    cells.number(ttft), cells.number(tokens), cells.number(speed)))
        found[response_id] = _Response(run, _verbatim(text), conversation)
    return found


def _models(connection: sqlite3.Connection, cells: _Cells) -> dict[str, _Run]:
    """Every catalog model's cells (model_id … profile). Never reads ``endpoint_secrets`` nor URLs."""
    return {row[0]: _Run(tuple(cells.opt(value) for value in row)) for row in connection.execute(
        "SELECT id, kind, base_id, run_id, checkpoint, adapter_sha256, quant, converter_version, profile FROM models")}


def _score_runs(cells: _Cells) -> Callable[[str, str], _Run]:
    """A cached parser of a side's stored scores into the :data:`SCORE_COLUMNS` cells."""
    index = {column: i for i, column in enumerate(SCORE_COLUMNS)}
    cache: dict[tuple[str, str], _Run] = {}

    def parse(rubric: str, raw: str) -> _Run:
        done = cache.get((rubric, raw))
        if done is not None:
            return done
        places = dict(index, safe=index["safety"])
        known = RUBRICS.get(rubric)
        if known is not None:
            places[known.safety_key] = index["safety"]
        values: list[Any] = [None] * len(SCORE_COLUMNS)
        try:
            scores = json.loads(raw)
        except (ValueError, TypeError):
            scores = {}
        if isinstance(scores, dict):
            for key, value in scores.items():
                if key in places:
                    values[places[key]] = cells.number(value)
        done = cache[rubric, raw] = _Run(tuple(values))
        return done

    return parse


_RATINGS_SQL = """
    SELECT r.id, r.session_id, r.item_position, r.turn, r.rater, r.version, r.rubric, r.left_model, r.right_model,
           r.left_response_id, r.right_response_id, r.left_scores, r.right_scores, r.preference, r.comment,
           r.shown_at, r.submitted_at, r.seconds_spent, s.prompt_set_id, i.prompt_id
    FROM ratings r
    JOIN sessions s ON s.id = r.session_id
    LEFT JOIN items i ON i.session_id = r.session_id AND i.position = r.item_position
    WHERE {where}
    ORDER BY r.id
"""


def _rating_rows(connection: sqlite3.Connection, cells: _Cells, query: _Query) -> Iterator[Row]:
    """Two rows per rating: (rating, side, model, response, scores, preference and won, the rest)."""
    sessions = _sessions(connection, cells)
    prompts = _prompts(connection, cells, query)
    responses = _responses(connection, cells, query, messages=False)
    models = _models(connection, cells)
    scores = _score_runs(cells)
    sides = (_Run(("A", "left")), _Run(("B", "right")))
    no_response = _Run((None,) * 8)
    verdicts: dict[str, tuple[_Run, _Run]] = {}
    raters: dict[tuple[str, str], _Run] = {}

    def model(model_id: str) -> _Run:
        found = models.get(model_id)
        if found is None:  # removed from the catalog since: the id is all we know
            found = models[model_id] = _Run((cells.text(model_id), *(None,) * 8))
        return found

    number, text, stamp = cells.number, cells.text, cells.stamp
    for (rating_id, session_id, item, turn, rater, version, rubric, left_model, right_model, left_response,
         right_response, left_scores, right_scores, preference, comment, shown_at, submitted_at, seconds,
         set_id, prompt_id) in connection.execute(_RATINGS_SQL.format(where=query.where), query.parameters):
        session = sessions.get(session_id) or _unknown_session(cells, session_id)
        prompt = prompts.get((set_id, prompt_id)) or _missing_prompt(cells, prompt_id)
        judge = raters.get((rater, rubric))
        if judge is None:
            judge = raters[rater, rubric] = _Run((cells.text(rater), cells.text(rubric)))
        verdict = verdicts.get(preference)
        if verdict is None:
            label = cells.text(_LABELS.get(preference, preference))
            left_won, right_won = WON.get(preference, (None, None))
            verdict = verdicts[preference] = (_Run((label, left_won)), _Run((label, right_won)))
        head = _Run((rating_id, session.head, number(item), prompt.run, number(turn), judge))
        tail = _Run((text(comment) if comment else comment, session.tail, number(version), stamp(shown_at),
                     stamp(submitted_at), number(seconds)))
        left, right = responses.get(left_response), responses.get(right_response)
        yield (head, sides[0], models.get(left_model) or model(left_model), left.run if left else no_response,
               scores(rubric, left_scores), verdict[0], tail)
        yield (head, sides[1], models.get(right_model) or model(right_model), right.run if right else no_response,
               scores(rubric, right_scores), verdict[1], tail)


_COMPARISONS_SQL = """
    SELECT r.id, r.session_id, r.item_position, r.turn, r.rater, r.left_model, r.right_model, r.preference,
           r.rubric, r.submitted_at, r.seconds_spent, i.prompt_id
    FROM ratings r
    LEFT JOIN items i ON i.session_id = r.session_id AND i.position = r.item_position
    WHERE {where}
    ORDER BY r.id
"""


def _comparison_rows(connection: sqlite3.Connection, cells: _Cells, query: _Query) -> Iterator[Row]:
    for (rating_id, session_id, item, turn, rater, left_model, right_model, preference, rubric, submitted_at,
         seconds, prompt_id) in connection.execute(_COMPARISONS_SQL.format(where=query.where), query.parameters):
        left, right = cells.cached(left_model), cells.cached(right_model)
        label = _LABELS.get(preference, preference)
        winner = left if preference == "left" else right if preference == "right" else label
        yield (rating_id, cells.cached(session_id), cells.number(item), cells.opt(prompt_id), cells.number(turn),
               cells.cached(rater), left, right, cells.cached(label), winner, cells.cached(rubric),
               cells.stamp(submitted_at), cells.number(seconds))


_BATTLES_SQL = """
    SELECT r.session_id, r.turn, r.rater, r.left_model, r.right_model, r.left_response_id, r.right_response_id,
           r.preference, r.submitted_at, s.prompt_set_id, i.prompt_id
    FROM ratings r
    JOIN sessions s ON s.id = r.session_id
    LEFT JOIN items i ON i.session_id = r.session_id AND i.position = r.item_position
    WHERE {where}
    ORDER BY r.id
"""


def _battle_rows(connection: sqlite3.Connection, cells: _Cells, query: _Query) -> Iterator[Row]:
    sessions = _sessions(connection, cells)
    prompts = _prompts(connection, cells, query)
    responses = _responses(connection, cells, query, messages=True)

    def conversation(session: _Session, prompt: _Prompt, response_id: int | None) -> list[dict[str, str]]:
        found = responses.get(response_id) if response_id is not None else None
        history = [dict(m) for m in found.messages] if found is not None and found.messages else [
            {"role": "user", "content": prompt.text}]
        if session.system and history[0]["role"] != "system":
            history.insert(0, {"role": "system", "content": session.system})
        if found is not None:
            history.append({"role": "assistant", "content": found.text})
        return history

    for (session_id, turn, rater, left_model, right_model, left_response, right_response, preference,
         submitted_at, set_id, prompt_id) in connection.execute(_BATTLES_SQL.format(where=query.where),
                                                                query.parameters):
        session = sessions.get(session_id) or _unknown_session(cells, session_id)
        prompt = prompts.get((set_id, prompt_id)) or _missing_prompt(cells, prompt_id)
        yield (cells.text(f"{set_id}/{prompt_id}"), cells.cached(left_model), cells.cached(right_model),
               cells.cached(BATTLE_WINNERS.get(preference, preference)), cells.cached(rater),
               cells.structure(conversation(session, prompt, left_response)),
               cells.structure(conversation(session, prompt, right_response)),
               cells.number(turn), cells.flag(session.blind), prompt.language, unix_seconds(submitted_at))


_ROWS: Mapping[ExportKind, Callable[[sqlite3.Connection, _Cells, _Query], Iterator[Row]]] = {
    "ratings": _rating_rows, "comparisons": _comparison_rows, "battles": _battle_rows,
}


# --- writing --------------------------------------------------------------------------------------


def _checked(columns: Sequence[str], rows: Iterable[Row]) -> Iterator[Row]:
    """``rows``, the first one checked against the header (a programming error otherwise)."""
    iterator = iter(rows)
    for row in iterator:
        width = sum(c.width if type(c) is _Run else 1 for c in row)
        if width != len(columns):
            raise AssertionError(f"an export row has {width} cells for {len(columns)} columns")
        yield row
        break
    yield from iterator


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[Row]) -> int:
    """UTF-8 with a BOM, ``\\r\\n`` line ends, fields quoted only when they must be (like ``csv.QUOTE_MINIMAL``)."""
    count = 0
    field = csv_field
    run = _Run
    with path.open("xb", buffering=1 << 20) as handle:
        write = handle.write
        write(b"\xef\xbb\xbf" + b",".join([field(name) for name in columns]) + b"\r\n")
        lines: list[bytes] = []
        for row in rows:
            lines.append(b",".join([(c._csv or c.csv()) if type(c) is run else field(c) for c in row]))
            if len(lines) == 256:
                lines.append(b"")  # the last line's end
                write(b"\r\n".join(lines))
                count += 256
                lines.clear()
        if lines:
            lines.append(b"")
            write(b"\r\n".join(lines))
            count += len(lines) - 1
        handle.flush()
        os.fsync(handle.fileno())
    return count


def _json_value(value: Any) -> bytes:
    """``value`` as JSON, UTF-8 (``ensure_ascii=False``), the line separators Python splits on escaped."""
    text = orjson.dumps(value)
    for raw, escaped in _LINE_BREAKS:
        if raw in text:
            text = text.replace(raw, escaped)
    return text


def _json_members(row: Row, keys: Sequence[bytes], start: int = 0) -> bytes:
    parts: list[bytes] = []
    column = start
    for cell in row:
        if type(cell) is _Run:
            parts.append(cell.json(keys, column))
            column += cell.width
        else:
            parts.append(keys[column] + _json_value(cell))
            column += 1
    return b",".join(parts)


def _write_jsonl(path: Path, columns: Sequence[str], rows: Iterable[Row]) -> int:
    """One object per line with the columns as keys; runs contribute their members once rendered."""
    keys = [_json_value(name) + b":" for name in columns]
    count = 0
    with path.open("xb", buffering=1 << 20) as handle:
        write = handle.write
        for row in rows:
            write(b"{" + _json_members(row, keys) + b"}\n")
            count += 1
        handle.flush()
        os.fsync(handle.fileno())
    return count


def export(
    workspace: Workspace,
    what: ExportKind,
    out: Path,
    *,
    format: ExportFormat = "csv",
    session: str | None = None,
    rater: str | None = None,
) -> int:
    """Write the current ratings of ``workspace`` as ``what`` to ``out``; the number of rows written.

    ``session`` (an id, name or unique id prefix) and ``rater`` narrow the export. ``out``
    is replaced atomically, its folders created; an existing folder gets a dated file inside.
    """
    if what not in EXPORT_KINDS:
        raise MhbenchError(f"cannot export '{what}'.{did_you_mean(what, EXPORT_KINDS)}",
                           fix=f"use one of: {', '.join(EXPORT_KINDS)}.")
    if format not in EXPORT_FORMATS:
        raise MhbenchError(f"no export format '{format}'.", fix=f"use one of: {', '.join(EXPORT_FORMATS)}.")
    out = export_path(workspace, what, format, out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MhbenchError(f"cannot create the export folder: {error.strerror}.", path=out.parent,
                           fix="choose a writable place with --out FILE.") from None
    temporary = out.with_name(f".{out.name}.{uuid.uuid4().hex[:12]}.tmp")
    write = _write_csv if format == "csv" else _write_jsonl
    try:
        if workspace.db_path.is_file():
            count = _export_from_db(workspace, what, temporary, _Cells(format), write, session, rater)
        elif session is not None or rater is not None:
            noun = f"session '{session}'" if session is not None else f"ratings by rater '{rater}'"
            raise MhbenchError(f"no {noun}: the workspace has no database yet.", path=workspace.root,
                               fix="check --workspace, or rate in the Arena mode first.")
        else:
            count = write(temporary, COLUMNS[what], ())
        os.replace(temporary, out)
    except OSError as error:
        raise MhbenchError(f"cannot write the export: {error.strerror}.", path=error.filename or out,
                           fix="check the folder is writable and the disk has room.") from None
    finally:
        temporary.unlink(missing_ok=True)
    return count


def _export_from_db(workspace: Workspace, what: ExportKind, path: Path, cells: _Cells,
                    write: Callable[[Path, Sequence[str], Iterable[Row]], int],
                    session: str | None, rater: str | None) -> int:
    from core.db import connect

    connection = connect(workspace.db_path)
    try:
        # One read transaction: the ratings and the texts they show are one snapshot while raters go on writing.
        connection.execute("BEGIN")
        try:
            query = _resolve_filters(connection, session, rater)
            return write(path, COLUMNS[what], _checked(COLUMNS[what], _ROWS[what](connection, cells, query)))
        finally:
            connection.execute("COMMIT")
    finally:
        connection.close()
