"""A rater's report of a broken answer: told to the operator, and the item set aside for that rater.

Raters do not regenerate: a new version would change what every other rater of the same
answer sees, and spend the operator's GPU time. Instead a rater reports the answer (which
side, and a short reason) and the item is *set aside* for them: their place skips it, it
does not count as rated and does not keep their session from being finished. The report
records the exact response versions on screen, so the operator can look at what was seen
and regenerate it from the Arena (a new version, used for items not yet rated).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from core.base.db import registry, write_transaction
from core.base.errors import MhbenchError
from core.base.i18n import N_
from core.base.processes import utc_now
from core.base.workspace import Workspace

ReportedSide = Literal["left", "right", "both"]
REPORT_REASONS: Mapping[str, str] = {
    "empty": N_("empty"),
    "cut_off": N_("cut off"),
    "not_chinese": N_("not Chinese"),
    "garbled": N_("garbled"),
    "other": N_("other"),
}
"""The reasons a rater picks from (key: the stored reason, value: as shown); ``other`` needs a note."""
REPORTED_SIDES: tuple[ReportedSide, ...] = ("left", "right", "both")


@dataclass(frozen=True)
class AnswerReport:
    id: int
    session_id: str
    item_position: int
    turn: int
    rater: str
    side: ReportedSide
    reason: str
    note: str
    left_response_id: int | None
    right_response_id: int | None
    created_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AnswerReport:
        return cls(row["id"], row["session_id"], row["item_position"], row["turn"], row["rater"], row["side"],
                   row["reason"], row["note"], row["left_response_id"], row["right_response_id"],
                   row["created_at"])

    def describe(self) -> str:
        """One line for the operator: which side, why, and who said so (sides as the rater saw them)."""
        side = {"left": "A", "right": "B", "both": "A and B"}[self.side]
        reason = REPORT_REASONS.get(self.reason, self.reason) + (f": {self.note}" if self.note else "")
        return f"{side} {reason} (rater {self.rater}, turn {self.turn})"


def report_answer(workspace: Workspace, *, session_id: str, item_position: int, turn: int, rater: str,
                  side: str, reason: str, note: str = "", left_response_id: int | None = None,
                  right_response_id: int | None = None) -> AnswerReport:
    """Record that ``rater`` found a broken answer on this item; from now on the item is set aside for them."""

    if side not in REPORTED_SIDES:
        raise MhbenchError(f"'{side}' is not a side to report.", fix="use left, right or both.")
    if reason not in REPORT_REASONS:
        raise MhbenchError(f"'{reason}' is not a report reason.", fix=f"use one of: {', '.join(REPORT_REASONS)}.")
    note = note.strip()
    if reason == "other" and not note:
        raise MhbenchError("a report for another reason needs a few words.", fix="say what is wrong with it.")
    if not rater.strip():
        raise MhbenchError("a report needs a rater.", fix="give --rater NAME, or your token.")
    with write_transaction(workspace) as connection:
        cursor = connection.execute(
            """INSERT INTO answer_reports (session_id, item_position, turn, rater, side, reason, note,
                   left_response_id, right_response_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (session_id, item_position, turn, rater, side, reason, note, left_response_id, right_response_id,
             utc_now()))
        row = connection.execute("SELECT * FROM answer_reports WHERE id = ?", (cursor.lastrowid,)).fetchone()
    return AnswerReport.from_row(row)


def session_reports(workspace: Workspace, session_id: str, item_position: int | None = None) -> list[AnswerReport]:
    """The session's reports (of one item, when given), oldest first: what the operator has to look at."""

    where = "session_id = ?"
    parameters: list[str | int] = [session_id]
    if item_position is not None:
        where = where + " AND item_position = ?"
        parameters.append(item_position)
    with registry(workspace) as connection:
        rows = connection.execute(f"SELECT * FROM answer_reports WHERE {where} ORDER BY id", parameters).fetchall()
    return [AnswerReport.from_row(row) for row in rows]
