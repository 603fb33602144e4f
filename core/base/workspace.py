"""The workspace: one folder that holds the database, runs, models and exports.

Chosen by ``--workspace DIR``, else ``MHBENCH_HOME``, else the platform's data dir.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.base.errors import MhbenchError


@dataclass(frozen=True)
class Workspace:
    """Paths inside one workspace folder."""

    root: Path

    @property
    def db_path(self) -> Path:
        return self.root / "mhbench.db"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    @property
    def profiles_dir(self) -> Path:
        """User profiles: add to or override the shipped ones."""
        return self.root / "profiles"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def make_folders(self) -> Workspace:
        """Create the folder layout; safe to call again. The database is made by ``core.base.db``."""
        try:
            for path in (self.root, self.runs_dir, self.models_dir, self.exports_dir, self.profiles_dir, self.data_dir):
                path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise MhbenchError(
                f"cannot create the workspace: {error.strerror}.",
                path=error.filename or self.root,
                fix="choose a writable folder with --workspace DIR or MHBENCH_HOME.",
            ) from None
        return self


def default_root() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("mhbench"))


def resolve(explicit: str | os.PathLike[str] | None = None) -> Workspace:
    """The workspace named by the flag, the environment, or the platform default."""
    if explicit:
        return Workspace(Path(explicit).expanduser().resolve())
    env = os.environ.get("MHBENCH_HOME")
    if env:
        return Workspace(Path(env).expanduser().resolve())
    return Workspace(default_root())
