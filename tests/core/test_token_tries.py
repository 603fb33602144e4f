"""The global try limit: wrong tokens counted in the database across tabs and doors, with backoff; time injected."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.arena.door import RaterDoor
from core.arena.raters import add_rater, rater_language, refuse_revoked, revoke_rater, set_rater_language
from core.arena.token_tries import (
    FIRST_WAIT_S,
    FREE_TRIES,
    MAX_WAIT_S,
    WINDOW_S,
    clear_failures,
    tries_state,
    try_token,
    wait_after,
)
from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from tests.helpers.rater_world import make_session

T0 = 1_800_000_000.0


def test_wrong_tokens_from_many_tabs_close_the_door_for_everyone_with_backoff(workspace: Workspace) -> None:
    token = add_rater(workspace, "alice").token
    for n in range(FREE_TRIES - 1):  # tabs and doors alike: one count
        check = try_token(workspace, f"mhb_wrong{n}", "browser" if n % 2 else "terminal", T0 + n)
        assert check.checked and check.rater is None and not check.state.closed
    last = T0 + FREE_TRIES - 1
    check = try_token(workspace, "mhb_wrong-last", "browser", last)
    assert check.state.failures == FREE_TRIES and check.state.retry_after_s == FIRST_WAIT_S
    # Closed: not even the right token is looked at, and nothing more is counted.
    held = try_token(workspace, token, "browser", last + FIRST_WAIT_S - 1)
    assert (held.rater, held.checked, held.state.failures) == (None, False, FREE_TRIES)
    assert held.state.retry_after_s == pytest.approx(1)
    # Open again after the wait; each further wrong token doubles it.
    again = try_token(workspace, "mhb_wrong-again", "browser", last + FIRST_WAIT_S)
    assert again.checked and again.state.retry_after_s == 2 * FIRST_WAIT_S
    opened = try_token(workspace, token, "browser", last + 3 * FIRST_WAIT_S)
    assert opened.rater == "alice" and opened.checked


def test_the_wait_is_capped_and_old_failures_are_forgotten(workspace: Workspace) -> None:
    assert [wait_after(n) for n in range(FREE_TRIES)] == [0.0] * FREE_TRIES
    assert wait_after(FREE_TRIES + 1) == 2 * FIRST_WAIT_S and wait_after(FREE_TRIES + 50) == MAX_WAIT_S
    now = T0
    for _ in range(FREE_TRIES + 2):
        now += wait_after(tries_state(workspace, now).failures) + 1
        try_token(workspace, "mhb_wrong", "browser", now)
    assert tries_state(workspace, now).closed
    later = now + WINDOW_S + 1
    assert tries_state(workspace, later) == tries_state(workspace, later).__class__(0, None, 0.0)
    assert clear_failures(workspace) == FREE_TRIES + 2 and not tries_state(workspace, now).closed


def test_a_revoked_rater_is_refused_at_every_door_and_a_language_is_remembered(workspace: Workspace) -> None:
    add_rater(workspace, "bob")
    refuse_revoked(workspace, "bob")
    refuse_revoked(workspace, "someone-new")  # a terminal rater needs no token: unknown is not revoked
    revoke_rater(workspace, "bob")
    with pytest.raises(MhbenchError, match="revoked"):
        refuse_revoked(workspace, "bob")
    assert rater_language(workspace, "bob") is None
    set_rater_language(workspace, "bob", "en")
    assert rater_language(workspace, "bob") == "en"
    with pytest.raises(MhbenchError, match="zh, en"):
        set_rater_language(workspace, "bob", "fr")


def test_a_rater_revoked_mid_session_saves_nothing_more_in_the_terminal(workspace: Workspace, tmp_path: Path) -> None:
    session = make_session(workspace, tmp_path)
    add_rater(workspace, "dora")
    door = RaterDoor(workspace, "dora", "terminal")
    controller = door.open(session.id)
    for pending in controller.start_turn():
        stored = controller.answers.stored_answer(pending)
        assert stored is not None and controller.answers.accept(pending, stored)
    for key in "43s54sa":
        controller.press(key)
    rating = controller.rating_input()
    revoke_rater(workspace, "dora")
    with pytest.raises(MhbenchError, match="revoked"):
        controller.save(rating)
    door.close()
