"""The user's config file: keymap, theme, default rater and workspace.

``config.toml`` lives in the platform config dir (``platformdirs.user_config_dir("mhbench")``);
``MHBENCH_CONFIG`` or ``mhbench --config FILE`` name another one. A missing file at the default
place means "all defaults"; a missing file that was named explicitly is an error.

Core validates the shape of the file. Which binding ids and themes exist is the app's knowledge,
so :mod:`tui.shell.keymap` checks those, using :meth:`ConfigFile.error` for the same one-line style.
The pydantic schema (:mod:`core.config.schema`) loads only when a config file exists: most users
have none, and pydantic would add a tenth of a second to every start of the app.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from core.base.errors import MhbenchError
from core.base.workspace import default_root

CONFIG_ENV = "MHBENCH_CONFIG"
WORKSPACE_ENV = "MHBENCH_HOME"

PathOrigin = Literal["default", "env", "flag"]


@dataclass(frozen=True)
class Settings:
    """The effective settings of a config file, as the app reads them (validated by ``schema.Config``)."""

    keymap: Mapping[str, str] = field(default_factory=dict)
    theme: str | None = None
    default_rater: str | None = None
    workspace: Path | None = None
    fields_set: frozenset[str] = frozenset()
    """The top-level keys the file itself sets."""


def key_list_problem(keys: str) -> str | None:
    """Why ``keys`` is not a comma-separated list of Textual key names, or None when it is."""
    parts = [part.strip() for part in keys.split(",")]
    if not keys.strip() or any(not part for part in parts):
        return f"{keys!r} has an empty key (write keys like 'f7' or 'f7,ctrl+t')"
    for part in parts:
        if " " in part:
            return f"{part!r} has a space (join modifiers with '+', e.g. 'ctrl+t')"
        # Textual names every multi-letter key in lower case (f7, ctrl+s, escape); 'F7' never fires.
        if len(part) > 1 and part != part.lower():
            return f"{part!r} is not a key name; key names are lower case, e.g. {part.lower()!r}"
    return None


@dataclass(frozen=True)
class ConfigFile:
    """The config as read, with where the file came from and its text (to name lines in errors)."""

    path: Path
    origin: PathOrigin
    """How the path was chosen: the platform ``default``, ``env`` (MHBENCH_CONFIG) or ``flag`` (--config)."""
    exists: bool
    config: Settings
    text: str = ""

    @property
    def origin_text(self) -> str:
        return {"default": "default location", "env": f"env {CONFIG_ENV}", "flag": "flag --config"}[self.origin]

    def sets(self, key: str) -> bool:
        """Whether the file itself sets the top-level ``key`` (else the value is the default)."""
        return key in self.config.fields_set

    def line_of(self, key: str, table: str | None = None) -> int | None:
        """The line where ``key`` is assigned (inside ``[table]`` when given), if it can be found."""
        return find_line(self.text, key, table)

    def error(self, problem: str, *, key: str, table: str | None = None, fix: str) -> MhbenchError:
        """A one-line error about ``key`` in this file, naming its line."""
        dotted = f"{table}.{key}" if table else key
        return MhbenchError(problem, path=self.path, line=self.line_of(key, table), key=dotted, fix=fix)


def default_config_path() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("mhbench")) / "config.toml"


def config_path(flag: str | os.PathLike[str] | None = None) -> tuple[Path, PathOrigin]:
    """The config file to read: ``--config``, else ``MHBENCH_CONFIG``, else the platform default."""
    if flag:
        return Path(flag).expanduser(), "flag"
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser(), "env"
    return default_config_path(), "default"


def load_config(flag: str | os.PathLike[str] | None = None) -> ConfigFile:
    """Read and validate the config file; any problem is one :class:`MhbenchError` line."""
    path, origin = config_path(flag)
    if not path.is_file():
        if origin != "default" or path.exists():
            how = "--config" if origin == "flag" else CONFIG_ENV
            raise MhbenchError(
                "is not a config file." if path.exists() else "does not exist.",
                path=path,
                fix=f"create it (see the README's 'Config and keys'), or point {how} at an existing file.",
            )
        return ConfigFile(path=path, origin=origin, exists=False, config=Settings())
    from core.config.schema import parse_config

    text = _read_text(path)
    config = parse_config(text, path)
    if config.workspace is not None:
        workspace = config.workspace.expanduser()
        config = replace(config, workspace=workspace if workspace.is_absolute() else path.parent / workspace)
    return ConfigFile(path=path, origin=origin, exists=True, config=config, text=text)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise MhbenchError("is not UTF-8 text.", path=path, fix="save the file as UTF-8.") from None
    except OSError as error:
        raise MhbenchError(f"cannot be read: {error.strerror}.", path=path, fix="check the file's permissions.") from None


def find_line(text: str, key: str, table: str | None = None) -> int | None:
    """The 1-based line where ``key`` is assigned, inside ``[table]`` when given (else at the top level).

    tomllib keeps no positions, so this scans for ``key =`` (bare, quoted or dotted) under the
    right table header; good enough to point a user at the line, and None when unsure.
    """
    spelled = r"\s*\.\s*".join(rf"(?:{re.escape(part)}|\"{re.escape(part)}\"|'{re.escape(part)}')"
                               for part in key.split("."))
    quoted = rf"\"{re.escape(key)}\"|'{re.escape(key)}'"
    assignment = re.compile(rf"^\s*(?:{quoted}|{spelled})\s*=")
    header = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+")
    current: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        found = header.match(line)
        if found:
            current = found.group(1).strip().strip("\"'")
            continue
        if current == table and assignment.match(line):
            return number
    if table is not None:
        # ``keymap.app.help = "f9"`` at the top level, or an inline table: point at the table's key.
        return find_line(text, table) if table != key else None
    return None


@dataclass(frozen=True)
class Sourced:
    """A setting's effective value and where it came from: default, the config file, env or flag."""

    value: str | None
    source: str


def choose_workspace(flag: str | None, file: ConfigFile) -> Sourced:
    """``--workspace`` > ``MHBENCH_HOME`` > the config's ``workspace`` > the platform data dir."""
    if flag:
        return Sourced(flag, "flag --workspace")
    env = os.environ.get(WORKSPACE_ENV)
    if env:
        return Sourced(env, f"env {WORKSPACE_ENV}")
    if file.config.workspace is not None:
        return Sourced(str(file.config.workspace), str(file.path))
    return Sourced(str(default_root()), "default")


def choose_rater(flag: str | None, file: ConfigFile) -> Sourced:
    """``--rater`` > the config's ``default_rater`` > none (the Arena then uses the workspace's last one)."""
    if flag:
        return Sourced(flag, "flag --rater")
    if file.config.default_rater:
        return Sourced(file.config.default_rater, str(file.path))
    return Sourced(None, "default")
