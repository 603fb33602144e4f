"""Raters and the door in core: hashed tokens, constant-time checks, revoke, who may see and save what.

Everything here is enforced by the queries and the store, not by which widgets show.
"""

from __future__ import annotations

import hmac
import sqlite3
from pathlib import Path

import pytest

from core.arena import raters
from core.arena.controller import ArenaController
from core.arena.door import NO_ANSWER_SOURCE, RaterDoor, live_targets
from core.arena.ratings import RatingStore, current_ratings
from core.base import db
from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from core.results.export import export
from tests.helpers.rater_world import make_session


def _fill_and_rate(controller: ArenaController, keys: str = "43s54sa", comment: str = "") -> None:
    for pending in controller.start_turn():
        stored = controller.answers.stored_answer(pending)
        assert stored is not None
        assert controller.answers.accept(pending, stored)
    for key in keys:
        assert controller.press(key)
    controller.set_comment(comment)
    controller.submit()


def test_a_token_is_shown_once_and_stored_only_as_a_salted_hash(workspace: Workspace) -> None:
    first, second = raters.add_rater(workspace, "r1"), raters.add_rater(workspace, "r2")
    assert first.token.startswith(raters.TOKEN_PREFIX) and len(first.token) > 40 and first.token != second.token
    with sqlite3.connect(workspace.db_path) as connection:
        rows = connection.execute("SELECT name, token_hash, token_salt FROM raters ORDER BY name").fetchall()
        dump = "\n".join(connection.iterdump())
    assert first.token not in dump and second.token not in dump
    (_, hash1, salt1), (_, hash2, salt2) = rows
    assert hash1 != hash2
    assert salt1 != salt2 and len(bytes.fromhex(salt1)) == 16
    assert hash1 == raters.hash_token(first.token, bytes.fromhex(salt1)) != first.token
    # Nothing the operator lists shows it either.
    assert all(first.token not in repr(record) for record in raters.list_raters(workspace))


def test_tokens_are_checked_in_constant_time_against_every_stored_hash(workspace: Workspace,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = {name: raters.add_rater(workspace, name).token for name in ("r1", "r2", "r3")}
    compared: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(raters.hmac, "compare_digest", spy)
    assert raters.authenticate(workspace, tokens["r1"]) == "r1"
    assert len(compared) == 3, "every live hash is compared, with no early exit on a match"
    compared.clear()
    assert raters.authenticate(workspace, tokens["r2"][:-1] + "x") is None
    assert raters.authenticate(workspace, "") is None
    assert len(compared) == 6
    assert all(len(a) == len(b) == 64 for a, b in compared), "hashes of equal length are compared, never tokens"


def test_revoke_takes_effect_for_the_next_connection_and_a_new_token_replaces_it(workspace: Workspace) -> None:
    token = raters.add_rater(workspace, "r1").token
    with pytest.raises(MhbenchError, match="already has a live token"):
        raters.add_rater(workspace, "r1")
    assert raters.authenticate(workspace, token) == "r1"
    record = raters.revoke_rater(workspace, "r1")
    assert record.state == "revoked" and record.revoked_at
    assert raters.authenticate(workspace, token) is None
    new = raters.add_rater(workspace, "r1").token
    assert raters.authenticate(workspace, token) is None and raters.authenticate(workspace, new) == "r1"
    with pytest.raises(MhbenchError, match="no rater 'r9'"):
        raters.revoke_rater(workspace, "r9")
    with pytest.raises(MhbenchError, match="judge"):
        raters.add_rater(workspace, "judge:qwen:v1")


def test_a_restricted_session_is_seen_and_rated_only_by_its_assigned_raters(workspace: Workspace,
                                                                            tmp_path: Path) -> None:
    open_session = make_session(workspace, tmp_path, "open")
    closed = make_session(workspace, tmp_path, "closed")
    raters.add_rater(workspace, "r1", [closed.name])
    raters.add_rater(workspace, "r2")
    raters.restrict_session(workspace, closed.id)
    assert [e.id for e in RaterDoor(workspace, "r1").sessions()] == [closed.id, open_session.id]
    outsider = RaterDoor(workspace, "r2")
    assert [e.id for e in outsider.sessions()] == [open_session.id]
    # Not assigned and missing read the same: the door does not tell that a session exists.
    with pytest.raises(MhbenchError) as not_assigned:
        outsider.open(closed.id)
    with pytest.raises(MhbenchError) as missing:
        outsider.open("no-such-session")
    assert str(not_assigned.value).replace(closed.id, "X") == str(missing.value).replace("no-such-session", "X")
    # The store refuses too, whatever the caller built.
    insider = RaterDoor(workspace, "r1").open(closed.id)
    rating = _prepared(insider)
    with pytest.raises(MhbenchError, match="no session"):
        outsider.store.submit(rating.__class__(**{**rating.__dict__, "rater": "r2"}))
    raters.restrict_session(workspace, closed.id, restricted=False)
    assert closed.id in [e.id for e in outsider.sessions()]
    outsider.close()


def _prepared(controller: ArenaController):  # type: ignore[no-untyped-def]
    for pending in controller.start_turn():
        stored = controller.answers.stored_answer(pending)
        assert stored is not None and controller.answers.accept(pending, stored)
    for key in "43s54sa":
        controller.press(key)
    return controller.rating_input()


def test_a_rating_in_another_raters_name_through_the_door_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    session = make_session(workspace, tmp_path)
    raters.add_rater(workspace, "r1")
    door = RaterDoor(workspace, "r1", source="browser")
    rating = _prepared(door.open(session.id))
    forged = rating.__class__(**{**rating.__dict__, "rater": "r2"})
    with pytest.raises(MhbenchError, match="another rater's name is refused"):
        door.store.submit(forged)
    assert current_ratings(workspace, session_id=session.id) == []
    saved = door.store.submit(rating)
    assert (saved.rater, saved.source) == ("r1", "browser")
    # Revoked mid-session: the open tab's next submit is refused as well.
    raters.revoke_rater(workspace, "r1")
    with pytest.raises(MhbenchError, match="revoked"):
        door.store.submit(rating)
    door.close()


def test_the_door_answers_only_for_its_own_rater(workspace: Workspace, tmp_path: Path) -> None:
    session = make_session(workspace, tmp_path)
    other = ArenaController.open(workspace, session.id, "r2")
    _fill_and_rate(other, "11s11sx", comment="SECRET-COMMENT-r2")
    other.close()
    door = RaterDoor(workspace, "r1")
    entry, = door.sessions()
    assert (entry.rated, entry.items) == (0, 3), "another rater's progress is not this rater's"
    controller = door.open(session.id)
    assert controller.index == 0 and controller.saved_rating() is None
    assert all(side.model_id is None for side in controller.view().sides.values())
    assert door.own_ratings(session.id) == []
    _fill_and_rate(controller)
    mine = door.own_ratings(session.id)
    assert [(r.rater, r.source) for r in mine] == [("r1", "terminal")]
    assert "SECRET-COMMENT-r2" not in repr(mine) + repr(door.sessions()) + repr(controller.view())
    door.close()


def test_sources_are_recorded_and_exported_and_judges_are_derived(workspace: Workspace, tmp_path: Path) -> None:
    session = make_session(workspace, tmp_path)
    for rater, source in (("r1", "terminal"), ("r2", "browser"), ("judge:qwen:v1", "terminal")):
        store = RatingStore(workspace, source=source)
        controller = ArenaController.open(workspace, session.id, rater, store=store)
        _fill_and_rate(controller)
        store.close()
    assert {r.rater: r.source for r in current_ratings(workspace)} == {
        "r1": "terminal", "r2": "browser", "judge:qwen:v1": "judge"}
    out = tmp_path / "c.csv"
    export(workspace, "comparisons", out=out, include_judges=True)  # judges are exported when asked (issue 10B)
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].endswith(",source")
    assert sorted(line.rsplit(",", 1)[1] for line in lines[1:]) == ["browser", "judge", "terminal"]


def test_the_migration_keeps_old_ratings_and_gives_them_a_source(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "old")
    workspace.make_folders()
    connection = sqlite3.connect(workspace.db_path, isolation_level=None)
    door_migration = next(i for i, m in enumerate(db.MIGRATIONS) if "session_raters" in m)
    for script in db.MIGRATIONS[:door_migration]:
        for statement in db.statements_of(script):
            connection.execute(statement)
    connection.execute(f"PRAGMA user_version = {door_migration}")
    connection.execute("INSERT INTO raters (name) VALUES ('r1')")
    connection.execute("INSERT INTO prompt_sets VALUES ('p', 'p', 'f', 'x', 'now')")
    connection.execute("INSERT INTO sessions (id, name, prompt_set_id, model_a, model_b, params, params_key, seed, "
                       "side_seed, rubric, created_at) VALUES ('s', 's', 'p', 'a', 'b', '{}', 'k', 1, 1, 'default', "
                       "'now')")
    for rater in ("r1", "judge:m:v1"):
        connection.execute("INSERT INTO ratings (session_id, item_position, rater, rubric, left_model, right_model, "
                           "left_scores, right_scores, preference, submitted_at) VALUES ('s', 0, ?, 'default', 'a', "
                           "'b', '{}', '{}', 'left', 'now')", (rater,))
    connection.close()
    assert {r.rater: r.source for r in current_ratings(workspace)} == {"r1": "terminal", "judge:m:v1": "judge"}
    record = raters.get_rater(workspace, "r1")
    assert (record.state, record.sessions) == ("no token", ())
    assert RaterDoor(workspace, "r1").sessions()[0].id == "s", "an old session is open to every rater"


def test_the_door_never_starts_a_server_and_says_to_pre_generate(workspace: Workspace, tmp_path: Path) -> None:
    import asyncio

    from core.arena.door import LiveServersOnly
    from core.models import register_gguf
    from core.models.serving import list_servers

    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")  # never loaded: nothing may start a server for it
    local = register_gguf(workspace, gguf, quant="F16").id
    with pytest.raises(MhbenchError) as caught:
        live_targets(workspace, [local])
    assert str(caught.value).startswith(NO_ANSWER_SOURCE.rstrip(".")) and "tiny" not in str(caught.value)
    session = make_session(workspace, tmp_path)
    servers = LiveServersOnly()
    asyncio.run(servers.connect(workspace, session.__class__(**{**session.__dict__, "model_b": local})))
    assert servers.error is not None and "pre-generate" in servers.error
    assert list_servers(workspace) == [], "the rater's door started a server"


def test_a_blind_session_named_after_its_models_is_listed_without_the_names(workspace: Workspace,
                                                                          tmp_path: Path) -> None:
    from core.arena.prompts import register_prompt_set
    from core.arena.sessions import create_session, get_session

    named = make_session(workspace, tmp_path, "pilot")
    default = create_session(workspace, register_prompt_set(workspace, tmp_path / "pilot-prompts.jsonl").id,
                             named.model_a, named.model_b)  # named "<model A> vs <model B>"
    vendor = create_session(workspace, default.prompt_set_id, named.model_a, named.model_b, name="Qwen 对比 Llama")
    assert named.model_a in get_session(workspace, default.id).name
    listed = {entry.id: entry.name for entry in RaterDoor(workspace, "r1").sessions()}
    assert listed[named.id] == "pilot"
    for session in (default, vendor):
        assert listed[session.id].startswith(f"session {session.id} · ")
        assert named.model_a not in listed[session.id] and "Qwen" not in listed[session.id]


@pytest.mark.parametrize("name", ["r1\x1b[31m", "r\u202e1", "r\u200b1", "r\x001", "r1\x07"])
def test_a_rater_id_is_printable_text_only(workspace: Workspace, name: str) -> None:
    """An id is shown on other people's screens and in exports: no escape or invisible character gets in."""
    from core.arena.ratings import last_rater, remember_rater

    for register in (lambda: raters.add_rater(workspace, name), lambda: remember_rater(workspace, name)):
        with pytest.raises(MhbenchError, match="cannot be a rater id: it holds control or invisible characters") as caught:
            register()
        message = str(caught.value)
        assert message.isprintable() and ("\\x" in message or "\\u" in message), message
    assert raters.list_raters(workspace) == [] and last_rater(workspace) is None
    assert raters.add_rater(workspace, "咨询师一号").rater == "咨询师一号"  # printable is not ASCII-only
