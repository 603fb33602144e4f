"""The workspace: one folder that holds the database, runs, models and exports.

Chosen by ``--workspace DIR``, else ``MHBENCH_HOME``, else the platform's data dir.
A folder the user names must exist: a typo in ``--workspace`` would otherwise look
like an empty workspace. Only ``mhbench demo`` creates a named folder; the platform
data dir, which no one types, is created on first use.
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

    def require(self, named_by: str = "--workspace") -> Workspace:
        """Fail before any work when the folder is missing, not a folder, or not writable.

        ``named_by`` is how the user chose it (``--workspace`` or ``MHBENCH_HOME``), for the message.
        """
        if not self.root.exists():
            raise MhbenchError(
                f"does not exist (named by {named_by}).",
                path=self.root,
                fix=f"check {named_by} for a typo; to start a workspace there, run `mhbench demo {self.root}` "
                f"(tiny demo models and data) or `mkdir -p {self.root}` (an empty one).",
            )
        if not self.root.is_dir():
            raise MhbenchError(
                f"is a file, not a workspace folder (named by {named_by}).",
                path=self.root,
                fix=f"name a folder with {named_by}, or `mhbench demo DIR` to create one.",
            )
        # os.access, not a trial write: nothing is written before the command's own work,
        # and it answers for the effective user (root passes unless the file system is read-only).
        written = (self.root, self.db_path, self.runs_dir, self.models_dir, self.exports_dir, self.profiles_dir, self.data_dir)
        for path in written:
            if path.exists() and not os.access(path, os.W_OK):
                raise MhbenchError(
                    "is not writable, and mhbench writes its database, runs and exports in the workspace.",
                    path=path,
                    fix=f"make it writable (chmod u+w {path}) or choose another folder with {named_by}.",
                )
        return self

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


def chosen(explicit: str | os.PathLike[str] | None = None) -> tuple[Workspace, str | None]:
    """The workspace named by the flag, the environment, or the platform default, and what named it.

    The second item is ``"--workspace"``, ``"MHBENCH_HOME"``, or None for the platform default.
    """
    if explicit:
        return Workspace(Path(explicit).expanduser().resolve()), "--workspace"
    env = os.environ.get("MHBENCH_HOME")
    if env:
        return Workspace(Path(env).expanduser().resolve()), "MHBENCH_HOME"
    return Workspace(default_root()), None


def resolve(explicit: str | os.PathLike[str] | None = None, *, must_exist: bool = False) -> Workspace:
    """The workspace named by the flag, the environment, or the platform default.

    With ``must_exist``, a folder the user named must exist and be writable (see
    :meth:`Workspace.require`); the platform default is only checked for writability,
    since it is made on first use.
    """
    workspace, named_by = chosen(explicit)
    if must_exist and (named_by is not None or workspace.root.exists()):
        workspace.require(named_by or "--workspace")
    return workspace
