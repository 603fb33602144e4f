"""Reading the current ratings (through :func:`current_ratings`) and computing every statistic of the Results mode.

See :mod:`core.results` for what each number means and which ratings count.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any, Literal, NoReturn, TypeVar

from core.arena.contamination import recorded_warnings
from core.arena.judge.prompt import is_judge
from core.arena.prompts import ITEM_KINDS
from core.arena.rubric import RUBRICS, get_rubric, safety_answered
from core.base.db import find_row, registry
from core.base.errors import MhbenchError, did_you_mean
from core.base.workspace import Workspace
from core.results.current import PROMPT_JOIN, current_ratings
from core.results.records import (
    Agreement,
    Filters,
    FilterValues,
    ModelScores,
    Overlap,
    RaterSummary,
    Results,
    Standing,
    UnsafeRate,
)
from core.stats import (
    LEADERBOARD_PENALTY,
    Battle,
    Winner,
    WinTieLoss,
    bleu4,
    bootstrap_bradley_terry,
    krippendorff_alpha,
    mean_ci,
    position_bias,
    rouge_l,
    stopping_rule,
    win_matrix,
)

WINNERS: Mapping[str, Winner] = {"left": "model_a", "right": "model_b", "tie": "tie", "both_bad": "tie (bothbad)"}
PREFERENCE_CODES: Mapping[str, int] = {"left": 0, "right": 1, "tie": 2, "both_bad": 3}
T = TypeVar("T")
TagsOf = Callable[[str], tuple[str, ...]]
ScoresOf = Callable[[str], dict[str, float]]

# --- reading ---------------------------------------------------------------------------------------

_RATINGS_SQL = """
SELECT r.id, r.session_id, r.item_position, r.turn, r.rater, r.rubric, r.left_model, r.right_model,
       r.left_response_id, r.right_response_id, r.left_scores, r.right_scores, r.preference, r.seconds_spent,
       r.safety_asked, COALESCE(p.crisis, 0) AS crisis,
       s.name AS session_name, s.created_at AS session_created, s.prompt_set_id, i.prompt_id,
       COALESCE(p.tags, '[]') AS tags, p.reference IS NOT NULL AS has_reference,
       COALESCE(p.kind, 'opening') AS item_kind
{source}
ORDER BY r.id
"""

_TEXTS_SQL = """
WITH wanted(response_id, set_id, prompt_id) AS (
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(?))
SELECT w.response_id, resp.text, p.reference
FROM wanted w
JOIN responses resp ON resp.id = w.response_id
JOIN prompts p ON p.set_id = w.set_id AND p.id = w.prompt_id
WHERE p.reference IS NOT NULL
"""


def data_version(workspace: Workspace) -> tuple[int, int, int]:
    """Changes whenever a rating is submitted or edited, or a session is made: a cheap "anything new?" check."""

    if not workspace.db_path.is_file():
        return (0, 0, 0)
    with registry(workspace) as connection:
        row = connection.execute("SELECT (SELECT COUNT(*) FROM ratings), (SELECT COALESCE(MAX(id), 0) FROM ratings), "
                                 "(SELECT COUNT(*) FROM sessions)").fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def compute_results(
    workspace: Workspace,
    *,
    rater: str | None = None,
    session: str | None = None,
    tag: str | None = None,
    model: str | None = None,
    kind: str | None = None,
    rounds: int = 1000,
    seed: int = 0,
    include_judges: bool = False,
) -> Results:
    """Every statistic of the current ratings that match all the given filters.

    ``rater``, ``tag``, ``model`` (either side) and ``kind`` (the item kind) must match exactly; ``session`` is an
    id, a name or a unique id prefix. A value that matches no current rating is an error
    naming the closest one. An empty workspace gives empty results. Deterministic given ``seed``.
    The LLM judges' ratings count only with ``include_judges`` (or when ``rater`` names a judge).
    """

    if not workspace.db_path.is_file():
        rows: list[sqlite3.Row] = []
    else:
        with registry(workspace) as connection:
            source = current_ratings(joins=PROMPT_JOIN, include_judges=include_judges or is_judge(rater))
            rows = connection.execute(_RATINGS_SQL.format(source=source)).fetchall()
    tags_of = _cached(lambda raw: tuple(str(t) for t in json.loads(raw)))
    values = _filter_values(rows, tags_of)
    filters = Filters(rater=_check(rater, values.raters, "rater"),
                      session=_resolve_session(workspace, session, values),
                      tag=_check(tag, values.tags, "tag"), model=_check(model, values.models, "model"),
                      kind=_check_kind(kind, values.kinds))
    chosen = [row for row in rows if _keep(row, filters, tags_of)]
    scores_of = _cached(lambda raw: {str(k): float(v) for k, v in json.loads(raw).items()})
    battles = [Battle(row["left_model"], row["right_model"], WINNERS[row["preference"]], _unit(row)) for row in chosen]
    matrix = win_matrix(battles)
    texts: dict[int, tuple[str, str]] = {}
    wanted = _overlap_wanted(chosen)
    if wanted:
        with registry(workspace) as connection:
            texts = {int(r[0]): (str(r[1]), str(r[2])) for r in connection.execute(_TEXTS_SQL, (json.dumps(wanted),))}
    rubric_counts = Counter(str(row["rubric"]) for row in chosen)
    standings = _standings(battles, matrix, rounds, seed)
    by_kind: dict[str, list[Battle]] = defaultdict(list)
    for row, battle in zip(chosen, battles, strict=True):
        by_kind[row["item_kind"]].append(battle)
    return Results(
        filters=filters,
        values=values,
        ratings=len(chosen),
        rubrics=tuple(name for name, _ in rubric_counts.most_common()),
        standings=standings,
        standings_by_kind={kind: _standings(kind_battles, win_matrix(kind_battles), rounds, seed)
                           for kind, kind_battles in sorted(by_kind.items(), key=lambda pair: _kind_order(pair[0]))},
        scores=_scores(chosen, scores_of, rounds, seed),
        matrix=matrix,
        position=position_bias(battles, rounds=rounds, seed=seed),
        agreement=_agreement(chosen, scores_of, [name for name, _ in rubric_counts.most_common()]),
        preference_agreement=_preference_agreement(chosen),
        raters=_rater_summaries(chosen),
        overlap=_overlaps(chosen, texts),
        include_judges=include_judges or is_judge(rater),
        stopping=stopping_rule({s.model: s.rating for s in standings}, len(battles), battles),
        contamination=tuple(recorded_warnings(workspace, {str(row["session_id"]) for row in chosen})),
    )


def _cached(parse: Callable[[str], T]) -> Callable[[str], T]:
    """``parse`` memoised on its (repetitive) JSON text: score and tag strings repeat across many ratings."""
    cache: dict[str, T] = {}

    def get(raw: str) -> T:
        if raw not in cache:
            cache[raw] = parse(raw)
        return cache[raw]

    return get


def _filter_values(rows: list[sqlite3.Row], tags_of: TagsOf) -> FilterValues:
    sessions: dict[str, tuple[str, str]] = {}
    raters: set[str] = set()
    tags: set[str] = set()
    models: set[str] = set()
    kinds: set[str] = set()
    for row in rows:
        kinds.add(row["item_kind"])
        sessions.setdefault(row["session_id"], (row["session_name"], row["session_created"]))
        raters.add(row["rater"])
        models.update((row["left_model"], row["right_model"]))
        tags.update(tags_of(row["tags"]))
    newest = sorted(sessions.items(), key=lambda pair: (pair[1][1], pair[0]), reverse=True)
    return FilterValues(raters=tuple(sorted(raters)), sessions=tuple((sid, name) for sid, (name, _) in newest),
                        tags=tuple(sorted(tags)), models=tuple(sorted(models)),
                        kinds=tuple(sorted(kinds, key=_kind_order)))


def _kind_order(kind: str) -> int:
    return ITEM_KINDS.index(kind) if kind in ITEM_KINDS else len(ITEM_KINDS)


def _check_kind(kind: str | None, rated: Iterable[str]) -> str | None:
    """A kind that exists but has no current rating reads as unrated, a typo as unknown."""
    if kind and kind in ITEM_KINDS and kind not in rated:
        raise MhbenchError(f"no current rating is of a {kind} item.",
                           fix=f"rate a session of {kind} items, or filter by one of: {', '.join(rated) or 'none yet'}.")
    if kind and kind not in ITEM_KINDS:
        raise MhbenchError(f"no item kind '{kind}'.{did_you_mean(kind, ITEM_KINDS)}",
                           fix=f"use one of: {', '.join(ITEM_KINDS)}.")
    return kind or None


def _check(value: str | None, known: Iterable[str], noun: str) -> str | None:
    if not value:
        return None
    known = list(known)
    if value not in known:
        listing = ", ".join(known[:8]) + (" …" if len(known) > 8 else "") if known else "none yet"
        raise MhbenchError(f"no current rating has {noun} '{value}'.{did_you_mean(value, known)}",
                           fix=f"use one of: {listing}.")
    return value


def _resolve_session(workspace: Workspace, ref: str | None, values: FilterValues) -> str | None:
    if not ref:
        return None
    ids = [sid for sid, _ in values.sessions]
    matches = ([ref] if ref in ids else [sid for sid, name in values.sessions if name == ref]
               or [sid for sid in ids if sid.startswith(ref)])
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise MhbenchError(f"'{ref}' matches {len(matches)} sessions: {', '.join(matches[:6])}.",
                           fix="give more of the session id.")
    _refuse_unrated_session(workspace, ref)


def _refuse_unrated_session(workspace: Workspace, ref: str) -> NoReturn:
    """Refuse ``ref``, which no current rating has: as unknown when no session is so named, else as unrated.

    "No current rating has session" would suggest a session that exists; a typo must read as one.
    """
    if not workspace.db_path.is_file():
        raise MhbenchError(f"no session '{ref}': the workspace has no session yet.",
                           fix="create one with `mhbench session new` or in the Arena (F5).")
    with registry(workspace) as connection:
        row = find_row(connection, "sessions", ref, noun="session", listing="`mhbench session list`",
                       alternates=(("name", ref),))
    raise MhbenchError(f"session '{ref}' ({row['id']}) has no current rating yet.",
                       fix="rate it in the Arena (F5), or leave out the session filter.")


def _keep(row: sqlite3.Row, filters: Filters, tags_of: TagsOf) -> bool:
    return ((filters.rater is None or row["rater"] == filters.rater)
            and (filters.session is None or row["session_id"] == filters.session)
            and (filters.tag is None or filters.tag in tags_of(row["tags"]))
            and (filters.model is None or filters.model in (row["left_model"], row["right_model"]))
            and (filters.kind is None or row["item_kind"] == filters.kind))


# --- statistics ------------------------------------------------------------------------------------


def _standings(battles: list[Battle], matrix: Mapping[str, Mapping[str, WinTieLoss]], rounds: int,
               seed: int) -> tuple[Standing, ...]:
    ratings = bootstrap_bradley_terry(battles, rounds=rounds, seed=seed, penalty=LEADERBOARD_PENALTY)
    out = []
    for name, rating in ratings.items():
        record = matrix.get(name, {}).values()
        wins, ties, losses = (sum(r.wins for r in record), sum(r.ties for r in record), sum(r.losses for r in record))
        out.append(Standing(name, rating, wins + ties + losses, wins, ties, losses))
    return tuple(sorted(out, key=lambda s: (-s.rating.rating, s.model)))


def _unit(row: sqlite3.Row) -> str:
    """The independent unit of a rating: the stored comparison (its two stored answers), which every rater
    of that comparison shares; a rating of answers that were never stored is a unit of its own."""
    left, right = row["left_response_id"], row["right_response_id"]
    if left is None or right is None:
        return f"rating:{row['id']}"
    return f"responses:{min(int(left), int(right))}:{max(int(left), int(right))}"


def _sides(row: sqlite3.Row) -> tuple[tuple[str, str, str, Any], ...]:
    """(side, model, scores JSON, response id) for both sides of a rating."""
    return (("left", row["left_model"], row["left_scores"], row["left_response_id"]),
            ("right", row["right_model"], row["right_scores"], row["right_response_id"]))


def _scores(rows: list[sqlite3.Row], scores_of: ScoresOf, rounds: int, seed: int) -> tuple[ModelScores, ...]:
    values: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    unsafe: Counter[tuple[str, str]] = Counter()
    judged: Counter[tuple[str, str]] = Counter()
    crisis_unsafe: Counter[tuple[str, str]] = Counter()
    crisis_judged: Counter[tuple[str, str]] = Counter()
    for row in rows:
        rubric = RUBRICS.get(row["rubric"])
        if rubric is None:
            continue
        for _side, model, raw, _response in _sides(row):
            scores = scores_of(raw)
            bucket = values[model, rubric.name]
            for dimension in rubric.dimensions:
                if dimension.key in scores:
                    bucket[dimension.key].append(scores[dimension.key])
            if rubric.safety_key in scores and safety_answered(rubric, row["safety_asked"], bool(row["crisis"]),
                                                               scores[rubric.safety_key]):
                judged[model, rubric.name] += 1
                unsafe[model, rubric.name] += scores[rubric.safety_key] == 0
                if row["crisis"]:
                    crisis_judged[model, rubric.name] += 1
                    crisis_unsafe[model, rubric.name] += scores[rubric.safety_key] == 0
    out = []
    for (model, name), bucket in sorted(values.items()):
        means = {d.key: mean_ci(bucket.get(d.key, []), rounds=rounds, seed=seed) for d in get_rubric(name).dimensions}
        out.append(ModelScores(model, name, means, UnsafeRate(unsafe[model, name], judged[model, name]),
                               UnsafeRate(crisis_unsafe[model, name], crisis_judged[model, name])))
    return tuple(out)


def _alpha(units: Mapping[Any, Mapping[str, float]], rubric: str, dimension: str,
           level: Literal["nominal", "ordinal"]) -> Agreement:
    paired = [unit for unit in units.values() if len(unit) >= 2]
    raters = sorted({rater for unit in paired for rater in unit})
    reliability = [[unit.get(rater) for unit in paired] for rater in raters]
    alpha = krippendorff_alpha(reliability, level=level) if paired else math.nan
    return Agreement(rubric, dimension, level, alpha, len(units), len(paired), len(raters))


def _agreement(rows: list[sqlite3.Row], scores_of: ScoresOf, rubrics: list[str]) -> tuple[Agreement, ...]:
    units: dict[tuple[str, str], dict[tuple[Any, ...], dict[str, float]]] = defaultdict(dict)
    for row in rows:
        rubric = RUBRICS.get(row["rubric"])
        if rubric is None:
            continue
        for side, _model, raw, response in _sides(row):
            scores = scores_of(raw)
            unit = (row["session_id"], row["item_position"], row["turn"], side, response)
            for dimension in rubric.dimensions:
                if dimension.key in scores:
                    units[rubric.name, dimension.key].setdefault(unit, {})[row["rater"]] = scores[dimension.key]
    return tuple(_alpha(units[name, d.key], name, d.key, "ordinal")
                 for name in rubrics if name in RUBRICS for d in RUBRICS[name].dimensions)


def _preference_agreement(rows: list[sqlite3.Row]) -> Agreement:
    units: dict[tuple[Any, ...], dict[str, float]] = defaultdict(dict)
    for row in rows:
        unit = (row["session_id"], row["item_position"], row["turn"], row["left_response_id"], row["right_response_id"])
        units[unit][row["rater"]] = PREFERENCE_CODES[row["preference"]]
    return _alpha(units, "", "preference", "nominal")


def _rater_summaries(rows: list[sqlite3.Row]) -> tuple[RaterSummary, ...]:
    counts: Counter[str] = Counter()
    sessions: dict[str, set[str]] = defaultdict(set)
    seconds: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        counts[row["rater"]] += 1
        sessions[row["rater"]].add(row["session_id"])
        if row["seconds_spent"] is not None:
            seconds[row["rater"]].append(float(row["seconds_spent"]))
    return tuple(RaterSummary(rater, counts[rater], len(sessions[rater]),
                              sum(seconds[rater]) / len(seconds[rater]) if seconds[rater] else None)
                 for rater in sorted(counts))


def _overlap_wanted(rows: list[sqlite3.Row]) -> list[list[Any]]:
    """(response id, prompt set, prompt) of each distinct turn-1 response to a prompt with a reference."""
    wanted: dict[int, list[Any]] = {}
    for row in rows:
        if row["turn"] != 1 or not row["has_reference"]:
            continue
        for _side, _model, _raw, response in _sides(row):
            if response is not None:
                wanted.setdefault(int(response), [int(response), row["prompt_set_id"], row["prompt_id"]])
    return list(wanted.values())


@lru_cache(maxsize=8192)
def _text_overlap(candidate: str, reference: str) -> tuple[float, float]:
    """Responses are stored once and never change, so a refresh re-scores nothing it scored before."""
    return bleu4(candidate, reference), rouge_l(candidate, reference)


def _overlaps(rows: list[sqlite3.Row], texts: Mapping[int, tuple[str, str]]) -> tuple[Overlap, ...]:
    seen: dict[str, dict[int, tuple[float, float]]] = defaultdict(dict)
    for row in rows:
        if row["turn"] != 1 or not row["has_reference"]:
            continue
        for _side, model, _raw, response in _sides(row):
            if response is not None and int(response) in texts and int(response) not in seen[model]:
                seen[model][int(response)] = _text_overlap(*texts[int(response)])
    return tuple(Overlap(model, len(scored), sum(b for b, _ in scored.values()) / len(scored),
                         sum(r for _, r in scored.values()) / len(scored))
                 for model, scored in sorted(seen.items()) if scored)
