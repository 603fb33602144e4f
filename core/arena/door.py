"""The rater's door: everything the rater mode may ask of the workspace, always as one rater.

The rater mode (``mhbench rate`` and each browser tab of ``mhbench web``) holds one
:class:`RaterDoor` and calls nothing else that reads ratings. Every query here takes the
door's rater and filters by it, so what a rater can reach is decided here, not by which
widgets happen to be on screen: their own sessions (open, or restricted and assigned to
them), their own progress, their own ratings, and a store that refuses a rating in any
other name. Other raters' scores and comments and the leaderboard are not among the
questions a door answers. The names of the models stay hidden until the rater's own
submit (:class:`~core.arena.controller.ArenaController`).

Answers come from the store (pre-generated, or another rater's) or from a shared server
the operator already runs: the door never starts or stops a server
(:class:`LiveServersOnly`).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.arena.answers import ModelServers
from core.arena.controller import ArenaController
from core.arena.raters import may_rate, rater_session_ids
from core.arena.ratings import RatingStore, current_ratings
from core.arena.sessions import get_session, vendor_flags
from core.base.db import registry
from core.base.errors import MhbenchError
from core.base.i18n import N_, tr
from core.models import endpoint_api_key, get_model
from core.models.targets import ChatTarget, request_name, servers_of, stop_strings

if TYPE_CHECKING:
    from core.arena.ratings import Rating
    from core.arena.sessions import Session
    from core.base.workspace import Workspace

NO_ANSWER_SOURCE = N_("no stored answer and no server running for this session: "
                       "ask the operator to pre-generate the answers (or to start the servers).")


@dataclass(frozen=True)
class SessionEntry:
    """One line of a rater's session list: the session and this rater's own progress only."""

    id: str
    name: str
    created_at: str
    items: int
    """Items this rater is to rate: those they set aside by a report do not count."""
    rated: int
    """Items this rater has rated (their opening turn), of those not set aside."""

    @property
    def done(self) -> bool:
        return self.items > 0 and self.rated >= self.items


class RaterDoor:
    """One rater's view of one workspace; ``source`` is 'terminal' or 'browser'."""

    def __init__(self, workspace: Workspace, rater: str, source: str = "terminal") -> None:
        if not rater.strip():
            raise MhbenchError("the rater's door needs a rater.", fix="give --rater NAME, or your token.")
        self.workspace, self.rater, self.source = workspace, rater, source
        self._store: RatingStore | None = None

    @property
    def store(self) -> RatingStore:
        """The door's one store, bound to this rater: a rating in another name is refused."""
        if self._store is None:
            self._store = RatingStore(self.workspace, rater=self.rater, source=self.source)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def sessions(self) -> list[SessionEntry]:
        """Blocking: the sessions this rater may rate, newest first, with their own progress."""

        ids = rater_session_ids(self.workspace, self.rater)
        entries: list[SessionEntry] = []
        with registry(self.workspace) as connection:
            for session_id in ids:
                row = connection.execute(
                    """SELECT s.id, s.name, s.created_at, s.blind, s.model_a, s.model_b, p.name AS prompt_set,
                              (SELECT COUNT(*) FROM items i WHERE i.session_id = s.id AND i.position NOT IN
                                   (SELECT a.item_position FROM answer_reports a WHERE a.session_id = s.id
                                        AND a.rater = ?)) AS items,
                              (SELECT COUNT(DISTINCT r.item_position) FROM ratings r WHERE r.session_id = s.id
                                   AND r.rater = ? AND r.current = 1 AND r.turn = 1 AND r.item_position NOT IN
                                   (SELECT a.item_position FROM answer_reports a WHERE a.session_id = s.id
                                        AND a.rater = ?)) AS rated
                       FROM sessions s LEFT JOIN prompt_sets p ON p.id = s.prompt_set_id
                       WHERE s.id = ?""", (self.rater, self.rater, self.rater, session_id)).fetchone()
                entries.append(SessionEntry(session_id, blind_name(row), row["created_at"], row["items"],
                                            row["rated"]))
        return entries

    def session(self, ref: str) -> Session:
        """Blocking: the session ``ref`` if this rater may rate it; the same error as for no session if not."""

        try:
            session = get_session(self.workspace, ref)
        except MhbenchError:
            session = None
        if session is not None:
            with registry(self.workspace) as connection:
                if may_rate(connection, session.id, self.rater):
                    return session
        # One message whether the session is missing or not this rater's: its existence is not told.
        raise MhbenchError(tr("no session '{session}' for rater '{rater}'.").format(session=ref, rater=self.rater),
                           fix=tr("pick one from your session list."))

    def open(self, ref: str) -> ArenaController:
        """Blocking: this rater's place in session ``ref``: the first item they have not rated.

        A rater does not regenerate (:meth:`~core.arena.controller.ArenaController.regenerate`): they report.
        """

        session = self.session(ref)
        return ArenaController.open(self.workspace, session.id, self.rater, store=self.store, may_regenerate=False)

    def own_ratings(self, session_id: str) -> list[Rating]:
        """Blocking: this rater's current ratings of one of their sessions; never anyone else's."""

        return current_ratings(self.workspace, session_id=self.session(session_id).id, rater=self.rater)


def blind_name(row: sqlite3.Row) -> str:
    """A session's name as a rater may see it.

    A blind session named after its models (the default name is ``<model A> vs <model B>``)
    or a vendor is listed by its id and prompt set instead: the list must not unblind it.
    """

    name = str(row["name"])
    lowered = name.lower()
    if row["blind"] and (any(str(row[key]).lower() in lowered for key in ("model_a", "model_b"))
                         or vendor_flags(name)):
        return f"session {row['id']} · {row['prompt_set'] or 'prompts'}"
    return name


def live_targets(workspace: Workspace, model_ids: list[str]) -> list[ChatTarget]:
    """Blocking: a chat target for each model from what is already running; never starts a server.

    An endpoint model is its URL; a local one needs a ready shared server. The error names no
    model: the sides are blind.
    """

    targets: list[ChatTarget] = []
    for model_id in model_ids:
        entry = get_model(workspace, model_id)
        if entry.kind == "endpoint" and entry.url:
            targets.append(ChatTarget(entry.id, entry.url, entry.served_name or entry.name,
                                      endpoint_api_key(workspace, entry.id), stop=stop_strings(workspace, entry)))
            continue
        ready = [server for server in servers_of(workspace, entry.id) if server.ready]
        if not ready:
            raise MhbenchError(tr(NO_ANSWER_SOURCE))
        targets.append(ChatTarget(entry.id, ready[0].base_url, request_name(ready[0], entry), None, ready[0].id,
                                  stop_strings(workspace, entry)))
    return targets


class LiveServersOnly(ModelServers):
    """The session's servers as the operator runs them: reused when running, never started or stopped."""

    async def connect(self, workspace: Workspace, session: Session,
                      progress: Callable[[str], None] | None = None) -> None:
        try:
            targets = await asyncio.to_thread(live_targets, workspace, [session.model_a, session.model_b])
            self.targets = {target.model_id: target for target in targets}
        except MhbenchError as error:
            self.error = str(error)
        except Exception:  # a catalog fault must not reach the rater as a traceback
            self.error = NO_ANSWER_SOURCE
        finally:
            self._connected.set()
