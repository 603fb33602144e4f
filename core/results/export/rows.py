"""Reading the exported ratings: one query per kind, and the sessions, prompts, responses and models they show.

See :mod:`core.results.export` for which ratings are read and what each row holds.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from typing import Any, NamedTuple

from core.arena.judge.prompt import is_judge
from core.arena.rubric import RUBRICS
from core.base.db import find_row
from core.base.errors import MhbenchError, did_you_mean
from core.base.text import strip_special_tokens
from core.results.current import PROMPT_JOIN, current_ratings
from core.results.export.cells import CellRun, Cells, Row, clean_text, language, unix_seconds
from core.results.export.columns import BATTLE_WINNERS, PREFERENCE_TEXT, SCORE_COLUMNS, WON, ExportKind


class ExportQuery:
    """The exported ratings: the current ones (:func:`current_ratings`), narrowed to a session and a rater if asked."""

    def __init__(self, session_id: str | None, rater: str | None, include_judges: bool = False) -> None:
        clauses, parameters = [], []
        if session_id is not None:
            clauses.append("r.session_id = ?")
            parameters.append(session_id)
        if rater is not None:
            clauses.append("r.rater = ?")
            parameters.append(rater)
        # Naming a judge as the rater is asking for its ratings.
        self.source = current_ratings(joins=PROMPT_JOIN, where=" AND ".join(clauses),
                                      include_judges=include_judges or is_judge(rater))
        """``FROM … WHERE …`` over ``ratings r``, ``sessions s``, ``items i`` and their prompts ``p``."""
        self.parameters: tuple[str, ...] = tuple(parameters)


class _Rating(NamedTuple):
    """One exported rating as :data:`_RATING_COLUMNS` reads it: what every kind of export needs."""

    id: int
    session_id: str
    item: Any
    turn: Any
    rater: str
    version: Any
    rubric: str
    left_model: str
    right_model: str
    left_response: int | None
    right_response: int | None
    left_scores: str
    right_scores: str
    preference: str
    comment: str
    shown_at: Any
    submitted_at: Any
    seconds: Any
    set_id: str
    prompt_id: str | None
    item_kind: str | None
    """The prompt row's kind (``opening``, ``turn``, ``dialogue``); none when the item was removed by hand."""
    source: str


_RATING_COLUMNS = """r.id, r.session_id, r.item_position, r.turn, r.rater, r.version, r.rubric, r.left_model,
    r.right_model, r.left_response_id, r.right_response_id, r.left_scores, r.right_scores, r.preference, r.comment,
    r.shown_at, r.submitted_at, r.seconds_spent, s.prompt_set_id, i.prompt_id, p.kind, r.source"""


def _ratings(connection: sqlite3.Connection, query: ExportQuery) -> Iterator[_Rating]:
    """The exported ratings, oldest first: the one query every kind of export reads its rows from."""
    cursor = connection.execute(f"SELECT {_RATING_COLUMNS} {query.source} ORDER BY r.id", query.parameters)
    return map(_Rating._make, cursor)


def resolve_filters(connection: sqlite3.Connection, session: str | None, rater: str | None,
                    include_judges: bool = False) -> ExportQuery:
    """The export's filters checked against the database: a session by id, prefix or name, a known rater."""
    session_id: str | None = None
    if session is not None:
        connection.row_factory = sqlite3.Row
        try:
            session_id = str(find_row(connection, "sessions", session, noun="session",
                                      listing="`mhbench session list`", alternates=(("name", session),))["id"])
        finally:
            connection.row_factory = None
    if rater is not None:
        known = [row[0] for row in connection.execute("SELECT DISTINCT rater FROM ratings ORDER BY rater")]
        if rater not in known:
            raise MhbenchError(f"no ratings by rater '{rater}'.{did_you_mean(rater, known)}",
                               fix=f"use one of: {', '.join(known) or 'none yet: rate in the Arena mode'}.")
    return ExportQuery(session_id, rater, include_judges)


class _Session:
    __slots__ = ("blind", "head", "system", "tail")

    def __init__(self, head: CellRun, tail: CellRun, blind: bool, system: str | None) -> None:
        self.head = head
        """session_id, session_name"""
        self.tail = tail
        """temperature … blind"""
        self.blind = blind
        self.system = system


def _sessions(connection: sqlite3.Connection, cells: Cells) -> dict[str, _Session]:
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
        found[session_id] = _Session(CellRun((cells.text(session_id), cells.text(name))), CellRun(tail), bool(blind),
                                     clean_text(system) if system else None)
    return found


class _Prompt:
    __slots__ = ("language", "messages", "run", "text")

    def __init__(self, run: CellRun, text: str, messages: list[dict[str, str]] | None = None) -> None:
        self.run = run
        """prompt_id, prompt, prompt_tags, crisis"""
        self.text = text
        self.language = language(text)
        self.messages = messages or [{"role": "user", "content": text}]
        """What a candidate was asked first: a turn item's history, else the prompt."""


def _prompts(connection: sqlite3.Connection, cells: Cells, query: ExportQuery) -> dict[tuple[str, str | None], _Prompt]:
    """The prompts of the sets the exported sessions use."""
    found: dict[tuple[str, str | None], _Prompt] = {}
    for set_id, prompt_id, text, tags, crisis, history in connection.execute(
            f"SELECT set_id, id, text, tags, crisis, history FROM prompts WHERE set_id IN "
            f"(SELECT s.prompt_set_id {query.source})", query.parameters):
        try:
            tag_list = [str(tag) for tag in json.loads(tags)]
        except (ValueError, TypeError):
            tag_list = []
        run = CellRun((cells.text(prompt_id), cells.text(text), cells.items(tag_list), cells.flag(bool(crisis))))
        found[set_id, prompt_id] = _Prompt(run, clean_text(text), _history(history))
    return found


def _history(stored: str | None) -> list[dict[str, str]] | None:
    """A turn item's stored history, cleaned like every text cell; a broken one (edited by hand) as none."""
    try:
        return [{"role": clean_text(str(m["role"])), "content": clean_text(str(m["content"]))}
                for m in json.loads(stored)] if stored else None
    except (ValueError, KeyError, TypeError):
        return None


def _missing_prompt(cells: Cells, prompt_id: str | None) -> _Prompt:
    """An item whose prompt is gone (a database edited by hand): its id, nothing else."""
    return _Prompt(CellRun((cells.opt(prompt_id), None, cells.items([]), None)), "")


class _Response:
    __slots__ = ("messages", "run", "text")

    def __init__(self, run: CellRun, text: str, messages: list[dict[str, str]]) -> None:
        self.run = run
        """response_id, response, response_generation, vendor_flags, defects, finish_reason, ttft_s, tokens,
        tokens_per_s"""
        self.text = text
        self.messages = messages


def _responses(connection: sqlite3.Connection, cells: Cells, query: ExportQuery, *,
               messages: bool) -> dict[int, _Response]:
    """The responses the exported ratings show, each read once."""
    found: dict[int, _Response] = {}
    columns = "id, generation, text, finish_reason, ttft_s, tokens, tokens_per_s, flags, defects"
    columns += ", messages" if messages else ", NULL"
    for (response_id, generation, raw, finish, ttft, tokens, speed, flags, defects, history) in connection.execute(
            f"""SELECT {columns} FROM responses WHERE id IN
                (SELECT r.left_response_id {query.source} UNION SELECT r.right_response_id {query.source})""",
            query.parameters * 2):
        # The answer as the rater saw it: a chat template's special tokens are a generation defect, not text.
        text = strip_special_tokens(raw)
        flag_list, defect_list = _string_list(flags), _string_list(defects)
        conversation: list[dict[str, str]] = []
        if history is not None:
            try:
                conversation = [{"role": clean_text(str(m["role"])),
                                 "content": clean_text(strip_special_tokens(str(m["content"])))}
                                for m in json.loads(history)]
            except (ValueError, KeyError, TypeError):
                conversation = []
        run = CellRun((response_id, cells.text(text), generation, cells.items(flag_list), cells.items(defect_list),
                       cells.opt(finish),
                    cells.number(ttft), cells.number(tokens), cells.number(speed)))
        found[response_id] = _Response(run, clean_text(text), conversation)
    return found


def _string_list(stored: str | None) -> list[str]:
    """A JSON list column as strings; a broken one (a database edited by hand) as none."""
    try:
        return [str(value) for value in json.loads(stored or "[]")]
    except (ValueError, TypeError):
        return []


def _models(connection: sqlite3.Connection, cells: Cells) -> dict[str, CellRun]:
    """Every catalog model's cells (model_id … profile). Never reads ``endpoint_keys`` nor URLs."""
    return {row[0]: CellRun(tuple(cells.opt(value) for value in row)) for row in connection.execute(
        "SELECT id, kind, base_id, run_id, checkpoint, adapter_sha256, quant, converter_version, profile FROM models")}


def _score_runs(cells: Cells) -> Callable[[str, str], CellRun]:
    """A cached parser of a side's stored scores into the :data:`SCORE_COLUMNS` cells."""
    index = {column: i for i, column in enumerate(SCORE_COLUMNS)}

    @cache
    def parse(rubric: str, raw: str) -> CellRun:
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
        return CellRun(tuple(values))

    return parse


class _Shown:
    """The sessions, prompts and responses the exported ratings show, each read once."""

    __slots__ = ("cells", "prompts", "responses", "sessions")

    def __init__(self, connection: sqlite3.Connection, cells: Cells, query: ExportQuery, *, messages: bool) -> None:
        self.cells = cells
        self.sessions = _sessions(connection, cells)
        self.prompts = _prompts(connection, cells, query)
        self.responses = _responses(connection, cells, query, messages=messages)

    def session(self, rating: _Rating) -> _Session:
        return self.sessions[rating.session_id]  # the query's JOIN: every exported rating's session exists

    def prompt(self, rating: _Rating) -> _Prompt:
        found = self.prompts.get((rating.set_id, rating.prompt_id))
        return found if found is not None else _missing_prompt(self.cells, rating.prompt_id)


def _rating_rows(connection: sqlite3.Connection, cells: Cells, query: ExportQuery) -> Iterator[Row]:
    """Two rows per rating: (rating, side, model, response, scores, preference and won, the rest)."""
    shown = _Shown(connection, cells, query, messages=False)
    models = _models(connection, cells)
    scores = _score_runs(cells)
    sides = (CellRun(("A", "left")), CellRun(("B", "right")))
    no_response = CellRun((None,) * 9)

    @cache
    def model(model_id: str) -> CellRun:
        found = models.get(model_id)  # None: removed from the catalog since, and the id is all we know
        return found if found is not None else CellRun((cells.text(model_id), *(None,) * 8))

    def response(response_id: int | None) -> CellRun:
        found = shown.responses.get(response_id) if response_id is not None else None
        return found.run if found is not None else no_response

    @cache
    def judge(rater: str, rubric: str) -> CellRun:
        return CellRun((cells.text(rater), cells.text(rubric)))

    @cache
    def verdict(preference: str) -> tuple[CellRun, CellRun]:
        label = cells.text(PREFERENCE_TEXT.get(preference, preference))
        left_won, right_won = WON.get(preference, (None, None))
        return CellRun((label, left_won)), CellRun((label, right_won))

    number, text, stamp = cells.number, cells.text, cells.stamp
    for rating in _ratings(connection, query):
        session = shown.session(rating)
        head = CellRun((rating.id, session.head, number(rating.item), cells.opt(rating.item_kind),
                        shown.prompt(rating).run, number(rating.turn),
                     judge(rating.rater, rating.rubric)))
        tail = CellRun((text(rating.comment) if rating.comment else rating.comment, session.tail,
                     number(rating.version), stamp(rating.shown_at), stamp(rating.submitted_at),
                     number(rating.seconds), cells.cached(rating.source)))
        left, right = verdict(rating.preference)
        yield (head, sides[0], model(rating.left_model), response(rating.left_response),
               scores(rating.rubric, rating.left_scores), left, tail)
        yield (head, sides[1], model(rating.right_model), response(rating.right_response),
               scores(rating.rubric, rating.right_scores), right, tail)


def _comparison_rows(connection: sqlite3.Connection, cells: Cells, query: ExportQuery) -> Iterator[Row]:
    cached, number = cells.cached, cells.number
    for rating in _ratings(connection, query):
        left, right = cached(rating.left_model), cached(rating.right_model)
        label = cached(PREFERENCE_TEXT.get(rating.preference, rating.preference))
        winner = left if rating.preference == "left" else right if rating.preference == "right" else label
        yield (rating.id, cached(rating.session_id), number(rating.item), cells.opt(rating.item_kind),
               cells.opt(rating.prompt_id),
               number(rating.turn), cached(rating.rater), left, right, label, winner, cached(rating.rubric),
               cells.stamp(rating.submitted_at), number(rating.seconds), cached(rating.source))


def _battle_rows(connection: sqlite3.Connection, cells: Cells, query: ExportQuery) -> Iterator[Row]:
    shown = _Shown(connection, cells, query, messages=True)

    def conversation(session: _Session, prompt: _Prompt, response_id: int | None) -> list[dict[str, str]]:
        found = shown.responses.get(response_id) if response_id is not None else None
        history = [dict(m) for m in found.messages] if found is not None and found.messages else [
            dict(m) for m in prompt.messages]
        if session.system and history[0]["role"] != "system":
            history.insert(0, {"role": "system", "content": session.system})
        if found is not None:
            history.append({"role": "assistant", "content": found.text})
        return history

    cached = cells.cached
    for rating in _ratings(connection, query):
        session, prompt = shown.session(rating), shown.prompt(rating)
        yield (cells.text(f"{rating.set_id}/{rating.prompt_id}"), cached(rating.left_model),
               cached(rating.right_model), cached(BATTLE_WINNERS.get(rating.preference, rating.preference)),
               cached(rating.rater), cells.structure(conversation(session, prompt, rating.left_response)),
               cells.structure(conversation(session, prompt, rating.right_response)),
               cells.number(rating.turn), cells.flag(session.blind), prompt.language,
               unix_seconds(rating.submitted_at), cells.opt(rating.item_kind), cached(rating.source))


ROW_READERS: Mapping[ExportKind, Callable[[sqlite3.Connection, Cells, ExportQuery], Iterator[Row]]] = {
    "ratings": _rating_rows, "comparisons": _comparison_rows, "battles": _battle_rows,
}
"""Each kind of export's rows, read with the filters :func:`resolve_filters` gives."""
