"""``mhbench raters`` and ``mhbench web`` from the command line: a token once, then only its state; loopback first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.arena.raters import authenticate
from core.base.workspace import Workspace
from tests.helpers.rater_world import make_session
from tui.cli import main


def test_raters_add_list_assign_restrict_and_revoke(workspace: Workspace, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    session = make_session(workspace, tmp_path, "pilot")
    w = ["--workspace", str(workspace.root)]
    assert main([*w, "raters", "add", "r1", "--sessions", "pilot"]) == 0
    token = capsys.readouterr().out.strip()
    assert authenticate(workspace, token) == "r1"
    assert main([*w, "raters", "add", "r1"]) == 2
    assert "already has a live token" in capsys.readouterr().err
    assert main([*w, "raters", "restrict", "pilot"]) == 0
    assert "only its assigned raters" in capsys.readouterr().out
    assert main([*w, "raters", "list", "--json"]) == 0
    listed = capsys.readouterr().out
    assert token not in listed
    (record,) = json.loads(listed)
    assert (record["name"], record["state"], record["revoked_at"], record["sessions"]) == (
        "r1", "active", None, [session.id])
    assert record["created_at"] and record["token_created_at"]
    assert main([*w, "raters", "assign", "r1", "--sessions", session.id, "--remove"]) == 0
    assert main([*w, "raters", "revoke", "r1"]) == 0
    assert authenticate(workspace, token) is None
    capsys.readouterr()
    assert main([*w, "raters", "list"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main([*w, "raters", "revoke", "r9"]) == 2
    assert "no rater 'r9'" in capsys.readouterr().err


def test_web_names_a_port_in_use_without_a_traceback(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--workspace", str(workspace.root), "web", "--port", str(port)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (f"mhbench: error: port {port} on 127.0.0.1 is already in use. Fix: choose another with --port N, "
                    f"or stop what listens there (`ss -ltnp 'sport = :{port}'` names it).")


def test_assigning_says_that_a_session_stays_open_and_the_try_limit_is_shown(
        workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import time

    from core.arena.token_tries import FREE_TRIES, try_token

    session = make_session(workspace, tmp_path, "pilot")
    w = ["--workspace", str(workspace.root)]
    assert main([*w, "raters", "add", "r1", "--sessions", "pilot"]) == 0
    assert f"session {session.id} is open to every rater" in capsys.readouterr().err
    assert main([*w, "raters", "restrict", "pilot"]) == 0
    assert main([*w, "raters", "assign", "r1", "--sessions", "pilot"]) == 0
    out, err = capsys.readouterr()
    assert "r1 assigned" in out and "open to every rater" not in err
    assert main([*w, "raters", "attempts"]) == 0
    assert "login is open" in capsys.readouterr().out
    for n in range(FREE_TRIES):
        try_token(workspace, f"mhb_wrong{n}", "browser", time.time())
    assert main([*w, "raters", "list"]) == 0
    assert f"{FREE_TRIES} wrong token(s) in the last hour" in capsys.readouterr().out
    assert main([*w, "raters", "attempts"]) == 0
    assert "login paused for everyone until" in capsys.readouterr().out
    assert main([*w, "raters", "attempts", "--clear"]) == 0
    assert f"forgot {FREE_TRIES} wrong token(s)" in capsys.readouterr().out


def test_raters_list_prints_no_control_character_that_got_into_the_database(
        workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    from core.base.db import write_transaction

    with write_transaction(workspace) as connection:  # an older mhbench let any id in
        connection.execute("INSERT INTO raters (name) VALUES (?)", ("evil\x1b]0;owned\x07\u202eid",))
    assert main(["--workspace", str(workspace.root), "raters", "list"]) == 0
    out = capsys.readouterr().out
    assert "evil" in out and "\x1b" not in out and "\u202e" not in out and "\x07" not in out


def test_rate_refuses_a_revoked_rater_in_the_terminal(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    from core.arena.raters import add_rater, revoke_rater

    add_rater(workspace, "r2")
    revoke_rater(workspace, "r2")
    assert main(["--workspace", str(workspace.root), "rate", "--rater", "r2"]) == 2
    assert "revoked" in capsys.readouterr().err
