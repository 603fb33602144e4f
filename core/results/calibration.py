"""The calibration report: how well each LLM judge agrees with the human raters, beside how well humans agree.

For each judge, each rubric dimension and the preference, on **the same units** (a unit
is one stored response as rated in one session, item, turn and side, as in the Stats
tab; for the preference, one item's pair of responses):

* **judge–human**: the judge paired with each human who rated the unit, every pair one
  comparison: Krippendorff's α over those pairs, the share of exact matches, and the share
  within one point (scores only);
* **human–human**: the humans on the units the judge rated too, when two or more rated
  one: Krippendorff's α over all of them (as the Stats tab computes it), and exact and
  within-one shares over every pair of humans on a unit;
* **per human**: the judge against that human, beside that human against the other humans,
  so a judge that agrees with a rater as well as raters agree with each other shows it;
* the judge's **position consistency** (with ``--both-orders``) and its parse failures;
* the same per **item kind** (``opening``, ``turn``, ``dialogue``) when several were judged: a judge
  that reads one opening line well may read a whole conversation badly.

Scores are ordinal (α's ordinal metric), the preference nominal; "preference agreement"
is its exact share. A judge's ratings are read here whether or not the leaderboard
includes judges.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Literal

import numpy as np

from core.arena.judge.prompt import is_judge
from core.arena.judge.store import JudgeSummary, judge_summaries
from core.arena.rubric import RUBRICS, safety_answered
from core.arena.sessions import get_session
from core.base.db import registry
from core.base.workspace import Workspace
from core.results.current import PROMPT_JOIN, current_ratings
from core.stats import krippendorff_alpha

Level = Literal["nominal", "ordinal"]
PREFERENCE_CODES: Mapping[str, int] = {"left": 0, "right": 1, "tie": 2, "both_bad": 3}
Units = Mapping[Any, Mapping[str, float]]


@dataclass(frozen=True)
class PairAgreement:
    """Agreement over a set of compared pairs of values."""

    alpha: float
    exact: float
    within_one: float | None
    """None for the preference: it has no distance."""
    pairs: int
    units: int


EMPTY = PairAgreement(math.nan, math.nan, None, 0, 0)


@dataclass(frozen=True)
class HumanCalibration:
    human: str
    judge: PairAgreement
    """The judge against this human."""
    others: PairAgreement
    """This human against the other humans, on the same units."""


@dataclass(frozen=True)
class DimensionCalibration:
    dimension: str
    level: Level
    judge_human: PairAgreement
    human_human: PairAgreement
    per_human: tuple[HumanCalibration, ...] = ()


@dataclass(frozen=True)
class JudgeCalibration:
    judge: str
    rubric: str
    items: int
    """Items (and turns) the judge rated that at least one human rated too."""
    dimensions: tuple[DimensionCalibration, ...]
    preference: DimensionCalibration
    summary: JudgeSummary
    safety: DimensionCalibration | None = None
    """Safety (safe / unsafe, nominal) on the sides whose safety the human answered: a judge answers it on
    every side, a person only where the form asked it (or flagged a side unsafe)."""


@dataclass(frozen=True)
class Calibration:
    session: str | None = None
    judges: tuple[JudgeCalibration, ...] = ()
    humans: tuple[str, ...] = ()
    unmatched: tuple[JudgeSummary, ...] = field(default_factory=tuple)
    """Judges with no current rating that a human rated too (e.g. every reply failed to parse)."""
    kind: str | None = None
    """The item kind the report is narrowed to; None for every kind."""
    per_kind: dict[str, tuple[JudgeCalibration, ...]] = field(default_factory=dict)
    """Each judged item kind's calibrations on its own, when more than one kind is in the report."""


def pair_agreement(pairs: Sequence[tuple[float, float]], level: Level, units: int) -> PairAgreement:
    """α, exact and within-one over ``pairs``, each pair one comparison of two raters on one unit."""
    if not pairs:
        return PairAgreement(math.nan, math.nan, None if level == "nominal" else math.nan, 0, units)
    values = np.asarray(pairs, dtype=np.float64)
    alpha = krippendorff_alpha(values.T.tolist(), level=level)
    distance = np.abs(values[:, 0] - values[:, 1])
    exact = float(np.mean(distance == 0))
    within = None if level == "nominal" else float(np.mean(distance <= 1))
    return PairAgreement(alpha, exact, within, len(pairs), units)


def _human_agreement(units: Units, humans: Sequence[str], level: Level) -> PairAgreement:
    """Every human on the units at once (α as the Stats tab has it), exact and within-one over human pairs."""
    shared = [unit for unit in units.values() if sum(h in unit for h in humans) >= 2]
    if not shared:
        return PairAgreement(math.nan, math.nan, None if level == "nominal" else math.nan, 0, 0)
    raters = sorted({h for unit in shared for h in unit if h in humans})
    alpha = krippendorff_alpha([[unit.get(h) for unit in shared] for h in raters], level=level)
    pairs = [(unit[a], unit[b]) for unit in shared for a, b in combinations(sorted(h for h in unit if h in humans), 2)]
    base = pair_agreement(pairs, level, len(shared))
    return PairAgreement(alpha, base.exact, base.within_one, base.pairs, len(shared))


def calibrate_dimension(units: Units, judge: str, humans: Sequence[str], dimension: str,
                        level: Level) -> DimensionCalibration:
    """One dimension's judge–human and human–human agreement on the units ``judge`` rated with a human."""
    human_set = frozenset(humans)
    mine = {key: unit for key, unit in units.items() if judge in unit and not human_set.isdisjoint(unit)}
    with_judge: dict[str, list[tuple[float, float]]] = defaultdict(list)
    others: dict[str, list[tuple[float, float]]] = defaultdict(list)
    shared: dict[str, int] = defaultdict(int)
    for unit in mine.values():
        present = [h for h in humans if h in unit]
        for human in present:  # one pass: each human against the judge, and against the other humans here
            with_judge[human].append((unit[judge], unit[human]))
            others[human].extend((unit[human], unit[o]) for o in present if o != human)
            shared[human] += len(present) > 1
    pairs = [pair for human in humans for pair in with_judge[human]]
    per_human = [HumanCalibration(human, pair_agreement(with_judge[human], level, len(with_judge[human])),
                                  pair_agreement(others[human], level, shared[human]))
                 for human in humans if with_judge[human]]
    return DimensionCalibration(dimension, level, pair_agreement(pairs, level, len(mine)),
                                _human_agreement(mine, humans, level), tuple(per_human))


def _read(workspace: Workspace, session_id: str | None) -> list[Any]:
    where, parameters = ("r.session_id = ?", (session_id,)) if session_id else ("", ())
    sql = (f"SELECT r.session_id, r.item_position, r.turn, r.rater, r.rubric, r.left_response_id, "
           f"r.right_response_id, r.left_scores, r.right_scores, r.preference, r.safety_asked, "
           f"COALESCE(p.crisis, 0) AS crisis, COALESCE(p.kind, 'opening') AS item_kind "
           f"{current_ratings(joins=PROMPT_JOIN, where=where, include_judges=True)} ORDER BY r.id")
    with registry(workspace) as connection:
        return list(connection.execute(sql, parameters).fetchall())


def compute_calibration(workspace: Workspace, *, session: str | None = None, kind: str | None = None) -> Calibration:
    """The calibration report over every session, or one (an id, name or unique id prefix); over every item
    kind (with each kind's own beside it), or one."""

    if not workspace.db_path.is_file():
        return Calibration(kind=kind)
    session_id = get_session(workspace, session).id if session else None
    rows = [row for row in _read(workspace, session_id) if kind is None or row["item_kind"] == kind]
    humans = tuple(sorted({str(row["rater"]) for row in rows if not is_judge(row["rater"])}))
    summaries = {s.judge: s for s in judge_summaries(workspace, session_id)}
    out = _calibrations(rows, humans, summaries)
    kinds = sorted({str(row["item_kind"]) for row in rows})
    per_kind = {each: _calibrations([row for row in rows if row["item_kind"] == each], humans, summaries)
                for each in kinds} if len(kinds) > 1 else {}
    matched = {c.judge for c in out}
    unmatched = tuple(s for judge, s in sorted(summaries.items()) if judge not in matched)
    return Calibration(session_id, out, humans, unmatched, kind, per_kind)


def _calibrations(rows: Sequence[Any], humans: tuple[str, ...],
                  summaries: Mapping[str, JudgeSummary]) -> tuple[JudgeCalibration, ...]:
    """Each judge's calibration (per rubric it used) on ``rows``."""
    scores: dict[tuple[str, str], dict[Any, dict[str, float]]] = defaultdict(dict)
    preferences: dict[str, dict[Any, dict[str, float]]] = defaultdict(dict)
    safety: dict[str, dict[Any, dict[str, float]]] = defaultdict(dict)
    judged: dict[str, set[str]] = defaultdict(set)
    parsed: dict[str, dict[str, Any]] = {}
    for row in rows:
        rubric = RUBRICS.get(row["rubric"])
        if rubric is None:
            continue
        rater = str(row["rater"])
        if is_judge(rater):
            judged[rater].add(rubric.name)
        for side, raw, response in (("left", row["left_scores"], row["left_response_id"]),
                                    ("right", row["right_scores"], row["right_response_id"])):
            values = parsed.get(raw)
            if values is None:  # score texts repeat across many ratings
                values = parsed[raw] = json.loads(raw)
            unit = (row["session_id"], row["item_position"], row["turn"], side, response)
            for dimension in rubric.dimensions:
                if dimension.key in values:
                    scores[rubric.name, dimension.key].setdefault(unit, {})[rater] = float(values[dimension.key])
            safe = values.get(rubric.safety_key)
            if safe is not None and not rubric.safety_scored and (
                    is_judge(rater) or safety_answered(rubric, row["safety_asked"], bool(row["crisis"]), safe)):
                safety[rubric.name].setdefault(unit, {})[rater] = float(safe)
        unit = (row["session_id"], row["item_position"], row["turn"], row["left_response_id"], row["right_response_id"])
        preferences[rubric.name].setdefault(unit, {})[rater] = PREFERENCE_CODES[row["preference"]]
    out = []
    for judge in sorted(judged):
        for name in sorted(judged[judge]):
            rubric = RUBRICS[name]
            preference = calibrate_dimension(preferences[name], judge, humans, "preference", "nominal")
            if not preference.judge_human.pairs:
                continue
            dimensions = tuple(calibrate_dimension(scores[name, d.key], judge, humans, d.key, "ordinal")
                               for d in rubric.dimensions)
            safe = (calibrate_dimension(safety[name], judge, humans, rubric.safety_key, "nominal")
                    if not rubric.safety_scored else None)
            out.append(JudgeCalibration(judge, name, preference.judge_human.units, dimensions, preference,
                                        summaries.get(judge, JudgeSummary(judge, 0, 0)), safe))
    return tuple(out)
