"""The workspace's database and secrets are its owner's alone, and no endpoint key is in the database.

File modes are read back from disk; the key probe reads the raw bytes of ``mhbench.db`` and its
``-wal`` and ``-shm``, as anyone who copied them would.
"""

from __future__ import annotations

import fcntl
import io
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from core.base.db import open_workspace, registry
from core.base.endpoint_keys import keys_path
from core.base.errors import MhbenchError
from core.base.owner_only import create_owner_file
from core.base.workspace import Workspace
from core.models import endpoint_api_key, register_endpoint, remove_model
from tests.helpers.old_databases import database_before
from tui.cli import main

KEY = "sk-probe-7f3a9c2e5b1d4a8f"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def raw_database(workspace: Workspace) -> bytes:
    """Every byte of the database as it lies on disk, WAL and shared memory included."""
    db = workspace.db_path
    return b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"))
                    if p.exists())


def test_a_new_workspace_is_owner_only(tmp_path: Path) -> None:
    workspace = open_workspace(Workspace(tmp_path / "ws"))
    register_endpoint(workspace, "remote", "https://api.example.com/v1", api_key=KEY)
    with registry(workspace) as connection:  # held open, so the WAL and shared memory exist
        connection.execute("SELECT COUNT(*) FROM models").fetchone()
        db = workspace.db_path
        for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"), keys_path(workspace.root)):
            assert mode(path) == 0o600, f"{path.name} is {mode(path):04o}"
        assert mode(keys_path(workspace.root).parent) == 0o700


def test_loose_modes_left_by_an_older_mhbench_are_tightened_with_a_note(tmp_path: Path) -> None:
    workspace = open_workspace(Workspace(tmp_path / "ws"))
    register_endpoint(workspace, "remote", "https://api.example.com/v1", api_key=KEY)
    loose = [workspace.db_path, keys_path(workspace.root), keys_path(workspace.root).parent]
    for path in loose:
        path.chmod(0o755 if path.is_dir() else 0o644)
    notes: list[str] = []
    open_workspace(workspace, notes.append)
    assert [mode(path) for path in loose] == [0o600, 0o600, 0o700]
    assert len(notes) == 3 and all("readable by others" in note and "owner-only" in note for note in notes)
    assert "mhbench.db" in notes[0] and "(0644)" in notes[0]
    again: list[str] = []
    open_workspace(workspace, again.append)
    assert again == [], "a private workspace gets no note"


def test_an_endpoint_key_is_nowhere_in_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = open_workspace(Workspace(tmp_path / "ws"))
    stored = register_endpoint(workspace, "remote", "https://api.example.com/v1", api_key=KEY)
    assert endpoint_api_key(workspace, stored.id) == KEY
    monkeypatch.setenv("PROBE_API_KEY", KEY + "-env")
    by_name = register_endpoint(workspace, "other", "https://api.example.org/v1", api_key_env="PROBE_API_KEY")
    assert endpoint_api_key(workspace, by_name.id) == KEY + "-env"
    with registry(workspace) as connection:
        raw = raw_database(workspace)
        assert KEY.encode() not in raw and b"sk-probe" not in raw
        rows = {row["model_id"]: row["env"] for row in connection.execute("SELECT * FROM endpoint_keys")}
    assert rows == {stored.id: None, by_name.id: "PROBE_API_KEY"}, "only where each key is"
    monkeypatch.delenv("PROBE_API_KEY")
    with pytest.raises(MhbenchError, match=r"\$PROBE_API_KEY, which is not set"):
        endpoint_api_key(workspace, by_name.id)
    with pytest.raises(MhbenchError, match="by value or by variable"):
        register_endpoint(workspace, "both", "https://x.example/v1", api_key=KEY, api_key_env="PROBE_API_KEY")
    with pytest.raises(MhbenchError, match="not an environment variable's name"):
        register_endpoint(workspace, "pasted", "https://x.example/v1", api_key_env=KEY + "=1")
    remove_model(workspace, stored.id)
    assert KEY not in keys_path(workspace.root).read_text(encoding="utf-8")


def test_the_cli_stores_a_variable_name_or_a_key_from_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    workspace = open_workspace(Workspace(tmp_path / "ws"))
    base = ["--workspace", str(workspace.root), "models", "--endpoint"]
    monkeypatch.setenv("PROBE_API_KEY", KEY)
    assert main([*base, "a", "https://a.example/v1", "--api-key-env", "PROBE_API_KEY"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(KEY + "-stdin\n"))
    assert main([*base, "b", "https://b.example/v1", "--api-key-stdin"]) == 0
    ids = capsys.readouterr().out.split()
    assert [endpoint_api_key(workspace, model) for model in ids] == [KEY, KEY + "-stdin"]
    assert b"sk-probe" not in raw_database(workspace)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main([*base, "c", "https://c.example/v1", "--api-key-stdin"]) == 2
    assert "no API key on stdin" in capsys.readouterr().err


def test_clear_keys_an_older_mhbench_stored_move_out_and_leave_no_trace(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Workspace(root).make_folders()
    old = database_before(root / "mhbench.db", "CREATE TABLE endpoint_keys")
    old.execute("PRAGMA journal_mode=WAL")
    old.execute("INSERT INTO models (id, kind, name, url, served_name, lineage, created_at) "
                "VALUES ('remote', 'endpoint', 'remote', 'https://api.example.com/v1', 'remote', '{}', 'then')")
    old.execute("INSERT INTO endpoint_secrets (model_id, api_key) VALUES ('remote', ?)", (KEY,))
    old.close()
    os.chmod(root / "mhbench.db", 0o644)
    workspace = open_workspace(Workspace(root), lambda note: None)
    assert endpoint_api_key(workspace, "remote") == KEY
    assert KEY.encode() not in raw_database(workspace), "the clear key's bytes are wiped, WAL included"
    connection = sqlite3.connect(workspace.db_path)
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        connection.close()
    assert "endpoint_secrets" not in tables and "endpoint_keys" in tables


def test_making_the_database_private_never_drops_this_process_locks(tmp_path: Path) -> None:
    """Closing any descriptor of a file drops every POSIX lock the process holds on it (SQLite's own
    connections included): an existing database must not be opened to be made owner-only."""
    path = tmp_path / "mhbench.db"
    path.write_bytes(b"")
    probe = ("import fcntl, sys\nwith open(sys.argv[1], 'r+b') as f:\n"
             "    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n")
    with path.open("r+b") as held:
        fcntl.lockf(held, fcntl.LOCK_EX)
        create_owner_file(path)
        other = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True)
        assert other.returncode != 0, "the lock this process held was dropped"
