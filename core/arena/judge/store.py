"""The ``judgements`` table: every judgement asked, its exact prompt and raw reply, parsed or failed.

A judgement's scores are stored in the **item's** orientation (``left`` is the item's left
model) whichever order the judge was shown, so the two orders of one item compare
directly. Position consistency is the share of items, parsed in both orders, whose
preference is the same once the swap is undone.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from core.arena.judge.parse import ParseFailure, Verdict
from core.arena.rubric import Preference
from core.base.db import registry, write_transaction
from core.base.processes import utc_now
from core.base.workspace import Workspace

Orientation = Literal["shown", "swapped"]
_UNSWAP: Mapping[str, Preference] = {"left": "right", "right": "left", "tie": "tie", "both_bad": "both_bad"}


@dataclass(frozen=True)
class Judgement:
    """What one ask of the judge gave, ready to store (scores in the item's orientation)."""

    session_id: str
    item_position: int
    judge: str
    judge_model: str
    prompt_version: str
    rubric: str
    orientation: Orientation
    left_response_id: int | None
    right_response_id: int | None
    """The responses shown as A and B, in the order shown (``None`` for a dialogue item's transcripts)."""
    prompt: Sequence[Mapping[str, str]]
    reply: str
    outcome: Verdict | ParseFailure
    seconds: float | None = None
    finish_reason: str | None = None
    """Why the reply ended, as the server said: ``stop``, ``length`` (cut at the token limit), or None."""
    left_transcript_id: int | None = None
    right_transcript_id: int | None = None
    """A dialogue item's transcripts shown as A and B, in the order shown."""


def in_item_order(verdict: Verdict, orientation: Orientation) -> tuple[Mapping[str, int], Mapping[str, int], str]:
    """(left scores, right scores, preference) of the item, undoing the swap of a swapped judgement."""
    if orientation == "shown":
        return verdict.left, verdict.right, verdict.preference
    return verdict.right, verdict.left, _UNSWAP[verdict.preference]


def record(workspace: Workspace, judgement: Judgement) -> int:
    """Store one judgement in its own transaction; returns its id."""

    outcome = judgement.outcome
    left = right = preference = failure = None
    if isinstance(outcome, Verdict):
        scores_left, scores_right, preference = in_item_order(outcome, judgement.orientation)
        left, right = json.dumps(dict(scores_left)), json.dumps(dict(scores_right))
    else:
        failure = outcome.reason
    with write_transaction(workspace) as connection:
        cursor = connection.execute(
            """INSERT INTO judgements (session_id, item_position, judge, judge_model, prompt_version, rubric,
                   orientation, left_response_id, right_response_id, prompt, reply, parsed, failure, left_scores,
                   right_scores, preference, seconds, created_at, finish_reason, left_transcript_id,
                   right_transcript_id)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (judgement.session_id, judgement.item_position, judgement.judge, judgement.judge_model,
             judgement.prompt_version, judgement.rubric, judgement.orientation, judgement.left_response_id,
             judgement.right_response_id, json.dumps([dict(m) for m in judgement.prompt], ensure_ascii=False),
             judgement.reply, int(isinstance(outcome, Verdict)), failure, left, right, preference,
             judgement.seconds, utc_now(), judgement.finish_reason, judgement.left_transcript_id,
             judgement.right_transcript_id))
        return int(cursor.lastrowid or 0)


def link_rating(workspace: Workspace, judgement_id: int, rating_id: int) -> None:
    with write_transaction(workspace) as connection:
        connection.execute("UPDATE judgements SET rating_id = ? WHERE id = ?", (rating_id, judgement_id))


def judged(workspace: Workspace, session_id: str, judge: str, rubric: str) -> set[tuple[int, str]]:
    """The (item, orientation) pairs this judge has already been asked, parsed or not: a resume skips them."""

    with registry(workspace) as connection:
        rows = connection.execute(
            "SELECT item_position, orientation FROM judgements WHERE session_id = ? AND judge = ? AND rubric = ?",
            (session_id, judge, rubric)).fetchall()
    return {(int(row[0]), str(row[1])) for row in rows}


def unlinked(workspace: Workspace, session_id: str, judge: str, rubric: str) -> list[Any]:
    """Parsed shown-order judgements whose rating was not stored yet (the job was killed in between)."""

    with registry(workspace) as connection:
        return list(connection.execute(
            "SELECT * FROM judgements WHERE session_id = ? AND judge = ? AND rubric = ? AND orientation = 'shown' "
            "AND parsed = 1 AND rating_id IS NULL ORDER BY item_position", (session_id, judge, rubric)).fetchall())


# --- summaries -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Consistency:
    """How often the judge keeps its preference when the two answers swap places."""

    agree: int
    pairs: int
    """Items parsed in both orders: the only ones that can show it."""

    @property
    def rate(self) -> float:
        return self.agree / self.pairs if self.pairs else math.nan


@dataclass(frozen=True)
class JudgeSummary:
    """One judge's record: what it was asked, what parsed, why the rest failed, and its position consistency."""

    judge: str
    asked: int
    parsed: int
    failures: Mapping[str, int] = field(default_factory=dict)
    """Reason → how many replies failed for it, most frequent first."""
    consistency: Consistency = Consistency(0, 0)

    @property
    def failed(self) -> int:
        return self.asked - self.parsed


def position_consistency(rows: Iterable[tuple[Any, str, str | None]]) -> Consistency:
    """``rows``: (item key, orientation, preference in the item's order, None when it failed to parse)."""
    by_item: dict[Any, dict[str, str]] = {}
    for key, orientation, preference in rows:
        if preference is not None:
            by_item.setdefault(key, {})[orientation] = preference
    pairs = [both for both in by_item.values() if len(both) == 2]
    return Consistency(sum(both["shown"] == both["swapped"] for both in pairs), len(pairs))


def judge_summaries(workspace: Workspace, session_id: str | None = None) -> list[JudgeSummary]:
    """Every judge's summary (of one session, or all), by judge name."""

    if not workspace.db_path.is_file():
        return []
    where, parameters = ("WHERE session_id = ?", (session_id,)) if session_id else ("", ())
    with registry(workspace) as connection:
        rows = connection.execute(
            f"SELECT session_id, item_position, judge, rubric, orientation, parsed, failure, preference "
            f"FROM judgements {where} ORDER BY judge, id", parameters).fetchall()
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(str(row["judge"]), []).append(row)
    out = []
    for judge, mine in grouped.items():
        failures = Counter(str(row["failure"]) for row in mine if not row["parsed"])
        consistency = position_consistency(
            ((row["session_id"], row["item_position"], row["rubric"]), row["orientation"], row["preference"])
            for row in mine)
        out.append(JudgeSummary(judge, len(mine), sum(1 for row in mine if row["parsed"]),
                                dict(failures.most_common()), consistency))
    return out
