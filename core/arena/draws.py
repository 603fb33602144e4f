"""The adaptive schedule's side in the database: a rater's next item, drawn from the session's ratings so far.

:func:`draw_item` reads, in one write transaction (so two raters drawing at once get
distinct positions and see each other's draws), the session's current human ratings,
the (prompt, pair) this rater was already drawn, the sides every pair has shown and
the comparisons drawn but not rated yet,
asks :func:`core.arena.schedule.next_draw` for the next comparison, and records it as an
item: pair, sides, the draw's seed and the rater it was drawn for. The stored answers
are per (prompt, model), so raters drawn the same comparison read the same text.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import TYPE_CHECKING

from core.arena.raters import JUDGE_PREFIX
from core.arena.schedule import next_draw, pair_key
from core.arena.sessions import ITEM_QUERY, item_from_row
from core.base.db import write_transaction
from core.base.errors import MhbenchError
from core.base.processes import utc_now
from core.stats import Battle

if TYPE_CHECKING:
    from core.arena.sessions import Item, Session
    from core.base.workspace import Workspace

WINNERS = {"left": "model_a", "right": "model_b", "tie": "tie", "both_bad": "tie (bothbad)"}


def human_battles(connection: sqlite3.Connection, session_id: str) -> list[Battle]:
    """The session's current opening-turn human ratings as battles (the left model is ``model_a``)."""

    rows = connection.execute(
        "SELECT left_model, right_model, preference FROM ratings WHERE session_id = ? AND current = 1 AND turn = 1 "
        "AND substr(rater, 1, ?) != ?", (session_id, len(JUDGE_PREFIX), JUDGE_PREFIX)).fetchall()
    return [Battle(left, right, WINNERS[preference]) for left, right, preference in rows]  # type: ignore[arg-type]


def draw_seed(session: Session, rater: str, position: int) -> int:
    """The seed of one draw: fixed by the session's side seed, the rater and the item's position."""
    digest = hashlib.sha256(f"{session.side_seed}:{rater}:{position}".encode()).hexdigest()
    return int(digest[:8], 16)


def draw_item(workspace: Workspace, session: Session, rater: str) -> Item | None:
    """Draw and record ``rater``'s next item of an adaptive session; ``None`` when they have seen every comparison."""

    if not session.adaptive:
        raise MhbenchError(f"session {session.id} is {session.schedule}: its items were all drawn when it was made.")
    models = list(session.models)
    with write_transaction(workspace) as connection:
        prompts = [row[0] for row in connection.execute(
            "SELECT id FROM prompts WHERE set_id = ? ORDER BY position", (session.prompt_set_id,))]
        items = connection.execute(
            """SELECT position, prompt_id, left_model, right_model, drawn_for,
                      EXISTS (SELECT 1 FROM ratings r WHERE r.session_id = items.session_id
                              AND r.item_position = items.position AND r.rater = items.drawn_for) AS rated
               FROM items WHERE session_id = ?""", (session.id,)).fetchall()
        left_counts: dict[tuple[str, str], int] = {}
        seen = set()
        pending = []
        for _, prompt, left, right, drawn_for, rated in items:
            left_counts[left, right] = left_counts.get((left, right), 0) + 1
            if not rated:
                pending.append((left, right))
            if drawn_for == rater and left in models and right in models:
                seen.add((prompt, pair_key(models, left, right)))
        position = 1 + max((row[0] for row in items), default=-1)
        seed = draw_seed(session, rater, position)
        draw = next_draw(models, prompts, human_battles(connection, session.id), seen=seen, left_counts=left_counts,
                         seed=seed, pending=pending)
        if draw is None:
            return None
        connection.execute(
            """INSERT INTO items (session_id, position, prompt_id, left_model, right_model, draw_seed, drawn_for,
                   drawn_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            (session.id, position, draw.prompt_id, draw.left, draw.right, seed, rater, utc_now()))
        connection.row_factory = sqlite3.Row
        row = connection.execute(f"{ITEM_QUERY} WHERE i.session_id = ? AND i.position = ?",
                                 (session.id, position)).fetchone()
    return item_from_row(row)
