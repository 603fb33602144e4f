"""Files and folders only their owner may read: the workspace's database and its secrets.

The database holds token hashes, prompts and answers; the secrets file holds endpoint keys.
New ones are created owner-only (a file's mode is set when it is created, never widened by the
umask), and ones an older mhbench left readable by others are tightened, with a note saying so.
SQLite gives its ``-wal`` and ``-shm`` files the database's own mode, so a private database
keeps them private too.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

OWNER_FILE = 0o600
OWNER_DIR = 0o700


def create_owner_file(path: Path) -> None:
    """Create ``path`` empty and owner-only if it does not exist; an existing file is never opened.

    ``O_EXCL`` matters for SQLite: closing any descriptor of a database file drops every POSIX
    lock this process holds on it, so opening an existing one here would pull the locks from
    under the process's other connections.
    """
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_FILE))


def owner_dir(path: Path) -> Path:
    """``path`` as an owner-only folder, created if needed."""
    path.mkdir(mode=OWNER_DIR, parents=True, exist_ok=True)
    path.chmod(OWNER_DIR)
    return path


def tighten(paths: Iterable[Path]) -> list[str]:
    """Take group and other access away from each existing path; a note for each one that had any."""
    notes: list[str] = []
    for path in paths:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            wanted = OWNER_DIR if path.is_dir() else OWNER_FILE
            path.chmod(wanted)
            notes.append(f"{path} was readable by others ({mode:04o}); it is now owner-only ({wanted:04o}).")
    return notes


def write_owner_file(path: Path, text: str) -> None:
    """Write, fsync, then rename an owner-only file: a reader sees the old text or the whole new one."""
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, OWNER_FILE)
    os.fchmod(descriptor, OWNER_FILE)  # a temporary left by a crash may have had another mode
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
