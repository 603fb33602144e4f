"""The workspace folder and its SQLite database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core.base import db
from core.base.db import open_workspace
from core.base.errors import MhbenchError
from core.base.workspace import Workspace, default_root, resolve


def _pragma(path: Path, name: str) -> object:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        connection.close()


def test_ensure_creates_the_layout(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    workspace = open_workspace(Workspace(root))
    assert workspace.root == root
    for name in ("runs", "models", "exports", "profiles", "data"):
        assert (root / name).is_dir(), name
    assert workspace.db_path == root / "mhbench.db"
    assert workspace.db_path.is_file()
    assert workspace.runs_dir == root / "runs"
    assert workspace.models_dir == root / "models"
    assert workspace.exports_dir == root / "exports"
    assert workspace.profiles_dir == root / "profiles"
    assert workspace.data_dir == root / "data"


def test_database_is_wal_and_migrated(tmp_path: Path) -> None:
    workspace = open_workspace(Workspace(tmp_path / "ws"))
    assert str(_pragma(workspace.db_path, "journal_mode")).lower() == "wal"
    assert _pragma(workspace.db_path, "user_version") == db.SCHEMA_VERSION
    assert db.SCHEMA_VERSION == len(db.MIGRATIONS) >= 1
    connection = sqlite3.connect(workspace.db_path)
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        connection.close()
    assert {"meta", "raters"} <= tables


def test_connect_sets_pragmas(tmp_path: Path) -> None:
    connection = db.connect(tmp_path / "x.db")
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert connection.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
        assert db.schema_version(connection) == db.SCHEMA_VERSION
    finally:
        connection.close()


def test_ensure_twice_is_fine(tmp_path: Path) -> None:
    workspace = open_workspace(Workspace(tmp_path / "ws"))
    connection = sqlite3.connect(workspace.db_path)
    connection.execute("INSERT INTO raters (name) VALUES ('alice')")
    connection.commit()
    connection.close()
    again = open_workspace(Workspace(tmp_path / "ws"))
    assert again == workspace
    assert _pragma(workspace.db_path, "user_version") == db.SCHEMA_VERSION
    connection = sqlite3.connect(workspace.db_path)
    try:
        assert connection.execute("SELECT name FROM raters").fetchall() == [("alice",)]
    finally:
        connection.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    path = root / "mhbench.db"
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {db.SCHEMA_VERSION + 5}")
    connection.close()
    with pytest.raises(MhbenchError) as info:
        open_workspace(Workspace(root))
    message = str(info.value)
    assert str(path) in message
    assert info.value.path == path
    assert str(db.SCHEMA_VERSION + 5) in message
    assert "\n" not in message
    assert info.value.fix


def test_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mhbench.db"
    path.write_bytes(b"this is not an sqlite file, just some text long enough to fill a header" * 4)
    with pytest.raises(MhbenchError) as info:
        db.connect(path)
    assert str(path) in str(info.value)


def test_workspace_under_a_file_is_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(MhbenchError, match="cannot create the workspace"):
        open_workspace(Workspace(blocker / "ws"))


def test_resolve_explicit_beats_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MHBENCH_HOME", str(tmp_path / "from-env"))
    assert resolve(tmp_path / "explicit").root == (tmp_path / "explicit").resolve()
    assert resolve(str(tmp_path / "explicit")).root == (tmp_path / "explicit").resolve()


def test_resolve_environment_beats_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MHBENCH_HOME", str(tmp_path / "from-env"))
    assert resolve().root == (tmp_path / "from-env").resolve()
    assert resolve(None).root != default_root()


def test_resolve_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MHBENCH_HOME", raising=False)
    assert resolve().root == default_root()
    assert default_root().name == "mhbench"


def test_resolve_expands_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve("~/ws").root == (tmp_path / "ws").resolve()


def test_an_existing_empty_folder_is_a_workspace(tmp_path: Path) -> None:
    """`mkdir DIR` is one of the two fixes a missing workspace offers, so it must be enough."""
    root = tmp_path / "empty"
    root.mkdir()
    workspace = resolve(root, must_exist=True)
    assert workspace.root == root and list(root.iterdir()) == []
    open_workspace(workspace)
    assert workspace.db_path.is_file()


def test_the_platform_default_is_made_on_first_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No one types the default, so it cannot be a typo: it is created, not refused."""
    from core.base import workspace as workspace_module

    monkeypatch.delenv("MHBENCH_HOME", raising=False)
    monkeypatch.setattr(workspace_module, "default_root", lambda: tmp_path / "data" / "mhbench")
    workspace = resolve(must_exist=True)
    assert workspace.root == tmp_path / "data" / "mhbench" and not workspace.root.exists()
    open_workspace(workspace)
    assert workspace.db_path.is_file()
    assert resolve(must_exist=True) == workspace
