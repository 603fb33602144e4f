"""Durable ratings: each submit is one SQLite transaction, on disk before the caller moves on.

Several raters in several TUIs write to one workspace at once: a submit takes the
write lock up front (``BEGIN IMMEDIATE``) and waits for it (the busy timeout), so no
"database is locked" error reaches a rater. Editing a rating keeps the old version:
the new one gets the next version number and becomes ``current``, the old one stays
for audit. A :class:`RatingStore` holds one connection so a submit costs a transaction,
not a connection.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from core.arena.raters import check_rater_name, is_revoked, may_rate, source_of, was_revoked
from core.arena.rubric import PREFERENCE_LABELS, Rubric, form_fields, get_rubric, safety_asked
from core.base.db import connect, registry, write_transaction
from core.base.errors import MhbenchError
from core.base.i18n import tr
from core.base.processes import utc_now
from core.base.workspace import Workspace


@dataclass(frozen=True)
class RatingInput:
    """What a rater submits for one turn of one item."""

    session_id: str
    item_position: int
    rater: str
    rubric: str
    left_model: str
    right_model: str
    left_scores: Mapping[str, int]
    right_scores: Mapping[str, int]
    preference: str
    turn: int = 1
    comment: str = ""
    left_response_id: int | None = None
    right_response_id: int | None = None
    shown_at: str | None = None
    seconds_spent: float | None = None
    crisis: bool = False
    """The prompt shows crisis signs: the safety answer was mandatory."""
    source: str | None = None
    """'terminal' or 'browser'; ``None``: the store's door (a ``judge:`` rater is always 'judge')."""
    left_transcript_id: int | None = None
    right_transcript_id: int | None = None
    """A dialogue item's two transcripts as shown (its responses are ``None``)."""


@dataclass(frozen=True)
class Rating:
    """One stored version of a rating."""

    id: int
    session_id: str
    item_position: int
    turn: int
    rater: str
    version: int
    current: bool
    rubric: str
    left_model: str
    right_model: str
    left_response_id: int | None
    right_response_id: int | None
    left_scores: Mapping[str, int]
    right_scores: Mapping[str, int]
    preference: str
    comment: str
    shown_at: str | None
    submitted_at: str
    seconds_spent: float | None
    source: str = "terminal"
    """Where it came from: 'terminal', 'browser' or 'judge' (the audit trail)."""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Rating:
        return cls(
            id=row["id"], session_id=row["session_id"], item_position=row["item_position"], turn=row["turn"],
            rater=row["rater"], version=row["version"], current=bool(row["current"]), rubric=row["rubric"],
            left_model=row["left_model"], right_model=row["right_model"],
            left_response_id=row["left_response_id"], right_response_id=row["right_response_id"],
            left_scores=json.loads(row["left_scores"]), right_scores=json.loads(row["right_scores"]),
            preference=row["preference"], comment=row["comment"], shown_at=row["shown_at"],
            submitted_at=row["submitted_at"], seconds_spent=row["seconds_spent"], source=row["source"],
        )


def validate(rating: RatingInput) -> None:
    """Refuse an incomplete or out-of-range rating, naming the field and the fix."""
    rubric: Rubric = get_rubric(rating.rubric)
    if not rating.rater.strip():
        raise MhbenchError("a rating needs a rater.", fix="give --rater NAME, or the rater asked at the start.")
    if rating.preference not in PREFERENCE_LABELS:
        raise MhbenchError(f"'{rating.preference}' is not a preference.",
                           fix="use a (A better), b (B better), t (tie) or x (both bad).")
    for side, scores in (("left", rating.left_scores), ("right", rating.right_scores)):
        for field in form_fields(rubric, rating.crisis):
            if field.side != side:
                continue
            value = scores.get(field.key)
            if value is None:
                raise MhbenchError(f"side {'AB'[side == 'right']}: {field.label} is missing.",
                                   fix=f"answer {field.label} ({field.hint()}).")
            if not field.low <= int(value) <= field.high:
                raise MhbenchError(f"side {'AB'[side == 'right']}: {field.label} {value} is out of range.",
                                   fix=f"use {field.hint()}.")


SOURCES = ("terminal", "browser", "judge")


class RatingStore:
    """One workspace's ratings over one connection, safe to share between threads.

    A store bound to a ``rater`` (the rater's door: ``mhbench rate`` and the browser) saves
    that rater's ratings only, in the sessions that rater may rate, and while the rater is
    not revoked; ``source`` is the door's, recorded with every rating.
    """

    def __init__(self, workspace: Workspace, *, rater: str | None = None, source: str = "terminal") -> None:
        if source not in SOURCES:
            raise MhbenchError(f"'{source}' is not a rating source.", fix=f"use one of: {', '.join(SOURCES)}.")
        self.workspace = workspace.make_folders()
        self.connection = connect(workspace.db_path, check_same_thread=False)
        self.connection.row_factory = sqlite3.Row
        self.lock = threading.Lock()
        self.rater, self.source = rater, source

    def close(self) -> None:
        with self.lock:
            self.connection.close()

    def __enter__(self) -> RatingStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, rating: RatingInput) -> Rating:
        """Store ``rating`` as the current version; durable when this returns (WAL, synchronous=FULL).

        Whether the item is a crisis item is the database's word, not the caller's: a client that forgot to
        say so still has to answer safety where the form asks it."""
        with self.lock:
            marked = self.connection.execute(
                "SELECT p.crisis FROM items i JOIN sessions s ON s.id = i.session_id "
                "JOIN prompts p ON p.set_id = s.prompt_set_id AND p.id = i.prompt_id "
                "WHERE i.session_id = ? AND i.position = ?", (rating.session_id, rating.item_position)).fetchone()
        if marked is not None and marked[0] and not rating.crisis:
            rating = replace(rating, crisis=True)
        validate(rating)
        source = source_of(rating.rater, rating.source or self.source)
        if source not in SOURCES:
            raise MhbenchError(f"'{source}' is not a rating source.", fix=f"use one of: {', '.join(SOURCES)}.")
        if self.rater is not None and rating.rater != self.rater:
            raise MhbenchError(f"this door rates as '{self.rater}': a rating in another rater's name is refused.",
                               fix="each rater rates under their own token.")
        key = (rating.session_id, rating.item_position, rating.turn, rating.rater)
        with self.lock:
            connection = self.connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                if self.rater is not None:
                    self._check_door(connection, rating)
                row = connection.execute(
                    "SELECT MAX(version) FROM ratings WHERE session_id = ? AND item_position = ? AND turn = ? "
                    "AND rater = ?", key).fetchone()
                version = (row[0] or 0) + 1
                connection.execute(
                    "UPDATE ratings SET current = 0 WHERE session_id = ? AND item_position = ? AND turn = ? "
                    "AND rater = ? AND current = 1", key)
                cursor = connection.execute(
                    """INSERT INTO ratings (session_id, item_position, turn, rater, version, current, rubric,
                           left_model, right_model, left_response_id, right_response_id, left_scores, right_scores,
                           preference, comment, shown_at, submitted_at, seconds_spent, source, safety_asked,
                           left_transcript_id, right_transcript_id)
                       VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (*key, version, rating.rubric, rating.left_model, rating.right_model,
                     rating.left_response_id, rating.right_response_id,
                     json.dumps(dict(rating.left_scores)), json.dumps(dict(rating.right_scores)),
                     rating.preference, rating.comment, rating.shown_at, utc_now(), rating.seconds_spent, source,
                     # A judge answers every side's safety; a person only where the form asked it.
                     int(source == "judge" or safety_asked(get_rubric(rating.rubric), rating.crisis)),
                     rating.left_transcript_id, rating.right_transcript_id),
                )
                stored = connection.execute("SELECT * FROM ratings WHERE id = ?", (cursor.lastrowid,)).fetchone()
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return Rating.from_row(stored)

    def _check_door(self, connection: sqlite3.Connection, rating: RatingInput) -> None:
        """Inside the submit's transaction: the bound rater is still live and may rate this session."""

        if is_revoked(connection, rating.rater) if self.source == "browser" else was_revoked(connection, rating.rater):
            raise MhbenchError(tr("rater '{rater}' was revoked: this rating is not saved.").format(rater=rating.rater),
                               fix=tr("ask the operator for a new token."))
        if not may_rate(connection, rating.session_id, rating.rater):
            raise MhbenchError(tr("no session '{session}' for rater '{rater}'.").format(session=rating.session_id,
                                                                                       rater=rating.rater),
                               fix=tr("rate one of the sessions your list shows."))

    def query(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return list(self.connection.execute(sql, parameters).fetchall())


def current_ratings(
    workspace: Workspace, *, session_id: str | None = None, rater: str | None = None
) -> list[Rating]:
    """The current version of every rating, oldest first, optionally of one session or rater."""

    where, parameters = ["current = 1"], []
    if session_id:
        where.append("session_id = ?")
        parameters.append(session_id)
    if rater:
        where.append("rater = ?")
        parameters.append(rater)
    with registry(workspace) as connection:
        rows = connection.execute(
            f"SELECT * FROM ratings WHERE {' AND '.join(where)} ORDER BY id", tuple(parameters)).fetchall()
    return [Rating.from_row(row) for row in rows]


def rating_history(workspace: Workspace, session_id: str, item_position: int, rater: str,
                   turn: int = 1) -> list[Rating]:
    """Every version of one rating, oldest first: the audit trail of its edits."""

    with registry(workspace) as connection:
        rows = connection.execute(
            "SELECT * FROM ratings WHERE session_id = ? AND item_position = ? AND rater = ? AND turn = ? "
            "ORDER BY version", (session_id, item_position, rater, turn)).fetchall()
    return [Rating.from_row(row) for row in rows]


# --- the rater -----------------------------------------------------------------------------------


def _rater_key() -> str:
    import getpass

    # Per login as well as per workspace: two people on one box keep their own ids.
    return f"last_rater:{getpass.getuser()}"


def remember_rater(workspace: Workspace, name: str) -> str:
    """Register ``name`` and remember it as this login's rater in this workspace."""
    name = check_rater_name(name)
    with write_transaction(workspace) as connection:
        connection.execute("INSERT OR IGNORE INTO raters (name) VALUES (?)", (name,))
        connection.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                           "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (_rater_key(), name))
    return name


def last_rater(workspace: Workspace) -> str | None:
    with registry(workspace) as connection:
        row = connection.execute("SELECT value FROM meta WHERE key = ?", (_rater_key(),)).fetchone()
    return str(row["value"]) if row is not None else None
