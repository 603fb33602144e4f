"""Operator-assigned raters: a token each (shown once, stored hashed), the sessions they are assigned.

A token is 256 bits from :mod:`secrets`. Such a token cannot be guessed or brute-forced,
so it needs no slow hash (scrypt and PBKDF2 exist to stretch low-entropy passwords): the
database keeps HMAC-SHA-256 of it under a per-token random salt, and a check costs
microseconds however many browser tabs connect. Every stored hash is compared with
:func:`hmac.compare_digest`, all of them every time, so the time taken says nothing
about which rater, or how much of a hash, matched. Revoking a rater stops every new
connection at once (and every later submit through the door, see
:class:`~core.arena.ratings.RatingStore`).

A session is open to every rater unless the operator restricts it; a restricted session
is seen and rated only by its assigned raters.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.base.db import find_row, registry, write_transaction
from core.base.errors import MhbenchError, did_you_mean
from core.base.i18n import LANGUAGES, tr
from core.base.processes import utc_now
from core.base.workspace import Workspace

TOKEN_PREFIX = "mhb_"
"""Marks a string as an mhbench rater token (so a pasted password or URL is recognisably not one)."""
JUDGE_PREFIX = "judge:"
"""Raters named ``judge:<model>:<version>`` are LLM judges; their ratings' source is 'judge'."""


@dataclass(frozen=True)
class RaterRecord:
    """One rater as the operator sees them: never the token, only whether one is live."""

    name: str
    created_at: str
    has_token: bool
    token_created_at: str | None
    revoked_at: str | None
    sessions: tuple[str, ...]
    """The ids of the sessions assigned to this rater."""

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        return "active" if self.has_token else "no token"


@dataclass(frozen=True)
class IssuedToken:
    """A rater's new token: the only time it exists in clear."""

    rater: str
    token: str


def hash_token(token: str, salt: bytes) -> str:
    """HMAC-SHA-256 of ``token`` under ``salt``, hex: what the database keeps."""
    return hmac.new(salt, token.encode("utf-8"), hashlib.sha256).hexdigest()


def check_rater_name(name: str) -> str:
    """A person's rater id, stripped; refused when it could not be shown as typed or is a judge's.

    Rater ids are shown in tables, exports and other raters' screens, so a control or invisible
    character (a terminal escape, a right-to-left override) is refused, and the refusal shows
    the id escaped rather than replaying it on the terminal.
    """
    name = name.strip()
    if not name.isprintable():
        raise MhbenchError(f"{name!a} cannot be a rater id: it holds control or invisible characters.",
                           fix="use printable text only, e.g. r1.")
    if not name or len(name) > 64 or any(ch.isspace() for ch in name):
        raise MhbenchError(f"'{name}' cannot be a rater id.", fix="use a short name without spaces, e.g. r1.")
    if name.startswith(JUDGE_PREFIX):  # the LLM judges' names, kept apart from the people's
        raise MhbenchError(f"'{name}' is an LLM judge's name.",
                           fix=f"a person's rater id must not start with {JUDGE_PREFIX}")
    return name


def _session_ids(connection: sqlite3.Connection, refs: Iterable[str]) -> list[str]:
    return [str(find_row(connection, "sessions", ref.strip(), noun="session", listing="`mhbench session list`",
                         alternates=(("name", ref.strip()),))["id"]) for ref in refs if ref.strip()]


def _rater_row(connection: sqlite3.Connection, name: str) -> sqlite3.Row:
    row: sqlite3.Row | None = connection.execute("SELECT * FROM raters WHERE name = ?", (name,)).fetchone()
    if row is None:
        known = [r["name"] for r in connection.execute("SELECT name FROM raters")]
        raise MhbenchError(f"no rater '{name}'.{did_you_mean(name, known)}", fix="see `mhbench raters list`.")
    return row


def add_rater(workspace: Workspace, name: str, sessions: Sequence[str] = ()) -> IssuedToken:
    """Give ``name`` a new token (registering the rater if new) and assign ``sessions``.

    A rater who already holds a live token is refused: revoke it first, so that a token is
    never replaced behind the back of the person who holds it.
    """

    name = check_rater_name(name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    now = utc_now()
    with write_transaction(workspace) as connection:
        row = connection.execute("SELECT token_hash, revoked_at FROM raters WHERE name = ?", (name,)).fetchone()
        if row is not None and row["token_hash"] and not row["revoked_at"]:
            raise MhbenchError(f"rater '{name}' already has a live token.",
                               fix=f"`mhbench raters revoke {name}` first, then add them again for a new one.")
        connection.execute("INSERT OR IGNORE INTO raters (name) VALUES (?)", (name,))
        connection.execute("UPDATE raters SET token_hash = ?, token_salt = ?, token_created_at = ?, revoked_at = NULL "
                           "WHERE name = ?", (hash_token(token, salt), salt.hex(), now, name))
        _assign(connection, name, _session_ids(connection, sessions), now)
    return IssuedToken(name, token)


def _assign(connection: sqlite3.Connection, name: str, session_ids: Iterable[str], now: str) -> None:
    for session_id in session_ids:
        connection.execute("INSERT OR IGNORE INTO session_raters (session_id, rater, assigned_at) VALUES (?, ?, ?)",
                           (session_id, name, now))


def assign_sessions(workspace: Workspace, name: str, sessions: Sequence[str], *, remove: bool = False) -> RaterRecord:
    """Assign (or with ``remove``, unassign) ``sessions`` to an existing rater."""

    with write_transaction(workspace) as connection:
        _rater_row(connection, name)
        ids = _session_ids(connection, sessions)
        if remove:
            connection.executemany("DELETE FROM session_raters WHERE session_id = ? AND rater = ?",
                                   [(session_id, name) for session_id in ids])
        else:
            _assign(connection, name, ids, utc_now())
    return get_rater(workspace, name)


def revoke_rater(workspace: Workspace, name: str) -> RaterRecord:
    """Revoke ``name``'s token: no new connection gets in with it, and no later submit through the door."""

    with write_transaction(workspace) as connection:
        row = _rater_row(connection, name)
        if not row["token_hash"]:
            raise MhbenchError(f"rater '{name}' has no token to revoke.", fix="see `mhbench raters list`.")
        if row["revoked_at"]:
            raise MhbenchError(f"rater '{name}' is revoked already (at {row['revoked_at']}).",
                               fix=f"`mhbench raters add {name}` gives them a new token.")
        connection.execute("UPDATE raters SET revoked_at = ? WHERE name = ?", (utc_now(), name))
    return get_rater(workspace, name)


def _record(connection: sqlite3.Connection, row: sqlite3.Row) -> RaterRecord:
    sessions = tuple(r[0] for r in connection.execute(
        "SELECT session_id FROM session_raters WHERE rater = ? ORDER BY assigned_at, session_id", (row["name"],)))
    return RaterRecord(name=row["name"], created_at=row["created_at"], has_token=bool(row["token_hash"]),
                       token_created_at=row["token_created_at"], revoked_at=row["revoked_at"], sessions=sessions)


def get_rater(workspace: Workspace, name: str) -> RaterRecord:
    with registry(workspace) as connection:
        return _record(connection, _rater_row(connection, name))


def list_raters(workspace: Workspace) -> list[RaterRecord]:
    """Every rater known to the workspace (judges left out), by name."""

    with registry(workspace) as connection:
        rows = connection.execute("SELECT * FROM raters WHERE name NOT LIKE 'judge:%' ORDER BY name").fetchall()
        return [_record(connection, row) for row in rows]


def authenticate(workspace: Workspace, token: str) -> str | None:
    """The rater whose live token ``token`` is, else ``None``; every stored hash is compared, in constant time."""

    token = token.strip()
    with registry(workspace) as connection:
        rows = connection.execute(
            "SELECT name, token_hash, token_salt FROM raters WHERE token_hash IS NOT NULL AND revoked_at IS NULL"
        ).fetchall()
    found: str | None = None
    for row in rows:
        # No early exit: the time taken does not depend on which row matched.
        if hmac.compare_digest(hash_token(token, bytes.fromhex(row["token_salt"])), row["token_hash"]):
            found = row["name"]
    return found


def is_revoked(connection: sqlite3.Connection, name: str) -> bool:
    """No live rater by that name: revoked, or unknown (the browser door knows only raters with a token)."""
    row = connection.execute("SELECT revoked_at FROM raters WHERE name = ?", (name,)).fetchone()
    return row is None or bool(row["revoked_at"])


def was_revoked(connection: sqlite3.Connection, name: str) -> bool:
    """The operator revoked ``name``: refused at every door, the terminal's too (where a rater needs no token)."""
    row = connection.execute("SELECT revoked_at FROM raters WHERE name = ?", (name,)).fetchone()
    return row is not None and bool(row["revoked_at"])


def refuse_revoked(workspace: Workspace, name: str) -> None:
    """Raise when ``name`` was revoked: the terminal's rater mode does not let them in either."""
    with registry(workspace) as connection:
        if was_revoked(connection, name):
            raise MhbenchError(tr("rater '{rater}' was revoked.").format(rater=name),
                               fix=tr("ask the operator for a new token."))


def rater_language(workspace: Workspace, name: str) -> str | None:
    """The language ``name`` chose for the rater mode, if they ever chose one."""
    with registry(workspace) as connection:
        row = connection.execute("SELECT language FROM raters WHERE name = ?", (name,)).fetchone()
    return str(row["language"]) if row is not None and row["language"] in LANGUAGES else None


def set_rater_language(workspace: Workspace, name: str, language: str) -> None:
    """Remember ``name``'s language for the next time they open the rater mode, at any door."""
    if language not in LANGUAGES:
        raise MhbenchError(f"no language '{language}'.", fix=f"use one of: {', '.join(LANGUAGES)}.")
    with write_transaction(workspace) as connection:
        connection.execute("INSERT OR IGNORE INTO raters (name) VALUES (?)", (name,))
        connection.execute("UPDATE raters SET language = ? WHERE name = ?", (language, name))


# --- who may rate which session ------------------------------------------------------------------


def restrict_session(workspace: Workspace, session: str, restricted: bool = True) -> str:
    """Open ``session`` only to its assigned raters (or, with ``restricted=False``, to every rater again)."""

    with write_transaction(workspace) as connection:
        (session_id,) = _session_ids(connection, [session])
        connection.execute("UPDATE sessions SET restricted = ? WHERE id = ?", (int(restricted), session_id))
    return session_id


def open_to_all(workspace: Workspace, session_ids: Iterable[str]) -> list[str]:
    """Those of ``session_ids`` that are not restricted: every rater sees them, assigned or not."""
    with registry(workspace) as connection:
        return [session_id for session_id in session_ids if not connection.execute(
            "SELECT restricted FROM sessions WHERE id = ?", (session_id,)).fetchone()[0]]


def may_rate(connection: sqlite3.Connection, session_id: str, rater: str) -> bool:
    """An open session, or a restricted one that ``rater`` is assigned to."""
    row = connection.execute(
        """SELECT s.restricted, EXISTS (SELECT 1 FROM session_raters a WHERE a.session_id = s.id AND a.rater = ?)
           FROM sessions s WHERE s.id = ?""", (rater, session_id)).fetchone()
    return row is not None and (not row[0] or bool(row[1]))


def rater_session_ids(workspace: Workspace, rater: str) -> list[str]:
    """The sessions ``rater`` may see, newest first: the open ones and the restricted ones assigned to them."""

    with registry(workspace) as connection:
        rows = connection.execute(
            """SELECT s.id FROM sessions s WHERE s.restricted = 0 OR EXISTS
                   (SELECT 1 FROM session_raters a WHERE a.session_id = s.id AND a.rater = ?)
               ORDER BY s.created_at DESC""", (rater,)).fetchall()
    return [row[0] for row in rows]


def source_of(rater: str, door: str) -> str:
    """Where a rating came from: a judge by its name, else the door it came through."""
    return "judge" if rater.startswith(JUDGE_PREFIX) else door
