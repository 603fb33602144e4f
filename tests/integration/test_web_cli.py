"""``mhbench web`` for real: loopback unless ``--public``, and a loud warning when it serves plain HTTP beyond it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.base.workspace import Workspace
from tests.helpers.browser import free_port
from tui.cli import main

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


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
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                continue
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert "WARNING" in err and "plain HTTP" in err and "TLS" in err
