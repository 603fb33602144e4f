"""Reading the exported ratings: one query per kind, and the sessions, prompts, responses and models they show.

See :mod:`core.results.export` for which ratings are read and what each row holds.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from core.arena.rubric import RUBRICS
from core.base.errors import MhbenchError, did_you_mean
from core.results.export.cells import Row, _Cells, _Run, _verbatim, language, unix_seconds
from core.results.export.columns import _LABELS, BATTLE_WINNERS, SCORE_COLUMNS, WON, ExportKind


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
    from core.base.db import find_row

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
