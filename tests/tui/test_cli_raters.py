"""``mhbench raters`` and ``mhbench web`` from the command line: a token once, then only its state; loopback first."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.arena.raters import authenticate
from core.base.workspace import Workspace
from tests.tui.browser import free_port
from tests.tui.rater_world import make_session
from tui.cli import main

ROOT = Path(__file__).resolve().parents[2]


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


def test_web_binds_loopback_and_needs_public_for_any_other_address(workspace: Workspace,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--workspace", str(workspace.root), "web", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "not a loopback address" in err and "--public" in err and "ssh -L" in err
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "tui.cli", "--workspace", str(workspace.root), "web",
                                "--host", "0.0.0.0", "--port", str(port), "--public"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.5)
            try:
                import socket

                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                continue
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert "WARNING" in err and "plain HTTP" in err and "TLS" in err


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
