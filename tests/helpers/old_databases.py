"""Workspace databases as an older mhbench left them: migrated up to just before a given change."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from core.base import db


def database_before(path: Path, marker: str) -> sqlite3.Connection:
    """A database at ``path`` migrated up to (not including) the migration whose script holds ``marker``.

    Found by its content, not as the last one: later features append migrations after it."""
    connection = sqlite3.connect(path, isolation_level=None)
    mine = next(i for i, script in enumerate(db.MIGRATIONS) if marker in script)
    for version in range(mine):
        for statement in db.statements_of(db.MIGRATIONS[version]):
            connection.execute(statement)
    connection.execute(f"PRAGMA user_version={mine}")
    return connection
