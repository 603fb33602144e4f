"""The global limit on wrong tokens: counted in the database, across every tab and door, with backoff.

A limit per browser tab stops nobody: eight tabs try eight times as fast. Every wrong token
is recorded (``token_failures``: when, and at which door), and the door closes for everyone
once :data:`FREE_TRIES` wrong tokens fall within :data:`WINDOW_S`: for :data:`FIRST_WAIT_S`
after the last one, doubling with each further wrong token, at most :data:`MAX_WAIT_S`. While
it is closed no token is even checked, the right one included, so the wait holds whatever is
tried; a rater is told why and until when, and the operator sees the count and the wait
(``mhbench raters attempts``) and can open the door again (``--clear``). Time is passed in
(``now``, seconds since the epoch), so the tests need no sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.arena.raters import authenticate
from core.base.db import registry, write_transaction
from core.base.workspace import Workspace

FREE_TRIES = 5
"""Wrong tokens within the window before the door closes at all: a few typos never lock a rater out."""
WINDOW_S = 3600.0
"""Wrong tokens older than this are forgotten."""
FIRST_WAIT_S = 30.0
MAX_WAIT_S = 900.0


@dataclass(frozen=True)
class TriesState:
    """The wrong tokens of the last :data:`WINDOW_S` and how long the door stays closed because of them."""

    failures: int
    last_at: float | None
    retry_after_s: float
    """Seconds from ``now`` until a token is checked again (0: the door is open)."""

    @property
    def closed(self) -> bool:
        return self.retry_after_s > 0


@dataclass(frozen=True)
class TokenCheck:
    """One try at the door: the rater let in, or why not."""

    rater: str | None
    state: TriesState
    checked: bool
    """False when the door was closed and the token was not looked at."""


def clock_time(at: float) -> str:
    """A moment as the server's clock shows it, to the second: what a rater and the operator are told."""
    return datetime.fromtimestamp(at).strftime("%H:%M:%S")


def wait_after(failures: int) -> float:
    """How long the door stays closed after the last of ``failures`` wrong tokens in the window."""
    if failures < FREE_TRIES:
        return 0.0
    return min(FIRST_WAIT_S * 2.0 ** (failures - FREE_TRIES), MAX_WAIT_S)


def tries_state(workspace: Workspace, now: float) -> TriesState:
    with registry(workspace) as connection:
        row = connection.execute("SELECT COUNT(*), MAX(at) FROM token_failures WHERE at > ?",
                                 (now - WINDOW_S,)).fetchone()
    failures, last_at = int(row[0]), row[1]
    if last_at is None:
        return TriesState(0, None, 0.0)
    return TriesState(failures, float(last_at), max(0.0, float(last_at) + wait_after(failures) - now))


def try_token(workspace: Workspace, token: str, door: str, now: float) -> TokenCheck:
    """Check ``token`` at ``door`` ('terminal' or 'browser') unless the door is closed; a wrong one is recorded."""
    state = tries_state(workspace, now)
    if state.closed:
        return TokenCheck(None, state, checked=False)
    rater = authenticate(workspace, token)
    if rater is not None:
        return TokenCheck(rater, state, checked=True)
    with write_transaction(workspace) as connection:
        connection.execute("INSERT INTO token_failures (at, door) VALUES (?, ?)", (now, door))
        # Forgotten rows go, so the table stays as small as the window.
        connection.execute("DELETE FROM token_failures WHERE at <= ?", (now - WINDOW_S,))
    return TokenCheck(None, tries_state(workspace, now), checked=True)


def clear_failures(workspace: Workspace) -> int:
    """Forget every recorded wrong token (the operator opens the door again); how many there were."""
    with write_transaction(workspace) as connection:
        return connection.execute("DELETE FROM token_failures").rowcount
