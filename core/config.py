"""The user's config file: keymap, theme, default rater and workspace.

``config.toml`` lives in the platform config dir (``platformdirs.user_config_dir("mhbench")``);
``MHBENCH_CONFIG`` or ``mhbench --config FILE`` name another one. A missing file at the default
place means "all defaults"; a missing file that was named explicitly is an error.

Core validates the shape of the file. Which binding ids and themes exist is the app's knowledge,
so :mod:`tui.shell.keymap` checks those, using :meth:`ConfigFile.error` for the same one-line style.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.base.errors import MhbenchError, did_you_mean
from core.base.workspace import default_root

CONFIG_ENV = "MHBENCH_CONFIG"
WORKSPACE_ENV = "MHBENCH_HOME"

PathOrigin = Literal["default", "env", "flag"]


class Config(BaseModel):
    """What ``config.toml`` may set. Every field is optional; a missing one keeps the default."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    keymap: dict[str, str] = Field(default_factory=dict)
    """Binding id → keys, in Textual's keymap syntax: comma-separated alternatives, e.g. ``"f7,ctrl+t"``.
    Quote ids with dots (``"app.mode.train" = "f7"``) or write them as dotted keys; both work."""

    theme: str | None = None
    """A Textual theme name, e.g. ``"nord"`` or ``"textual-light"`` (``mhbench config --show`` lists them)."""

    default_rater: str | None = None
    """Your rater id in the Arena when ``--rater`` is not given (it is then remembered per workspace too)."""

    workspace: Path | None = None
    """The workspace folder when neither ``--workspace`` nor ``MHBENCH_HOME`` is given; ``~`` is expanded,
    a relative path is relative to the config file."""

    @field_validator("keymap", mode="before")
    @classmethod
    def _flatten_dotted_ids(cls, value: Any) -> Any:
        """``app.mode.train = "f7"`` unquoted is a nested table in TOML: read it as the id it spells."""
        return _flatten(value) if isinstance(value, Mapping) else value

    @field_validator("keymap")
    @classmethod
    def _keys_are_key_names(cls, value: dict[str, str]) -> dict[str, str]:
        for binding_id, keys in value.items():
            problem = key_list_problem(keys)
            if problem:
                raise ValueError(f"{binding_id}: {problem}")
        return value

    @field_validator("theme", "default_rater")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty (leave the key out for the default)")
        return value.strip() if value is not None else None

    @field_validator("default_rater")
    @classmethod
    def _rater_id(cls, value: str | None) -> str | None:
        # The rule core.arena.ratings.remember_rater applies; checked here so the error names this file's line.
        if value is not None and (len(value) > 64 or any(ch.isspace() for ch in value)):
            raise ValueError("a rater id is a short name without spaces, e.g. 'r1'")
        return value


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


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
    config: Config
    text: str = ""

    @property
    def origin_text(self) -> str:
        return {"default": "default location", "env": f"env {CONFIG_ENV}", "flag": "flag --config"}[self.origin]

    def sets(self, key: str) -> bool:
        """Whether the file itself sets the top-level ``key`` (else the value is the default)."""
        return key in self.config.model_fields_set

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
        return ConfigFile(path=path, origin=origin, exists=False, config=Config())
    text = _read_text(path)
    config = parse_config(text, path)
    if config.workspace is not None:
        workspace = config.workspace.expanduser()
        config = config.model_copy(update={"workspace": workspace if workspace.is_absolute() else path.parent / workspace})
    return ConfigFile(path=path, origin=origin, exists=True, config=config, text=text)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise MhbenchError("is not UTF-8 text.", path=path, fix="save the file as UTF-8.") from None
    except OSError as error:
        raise MhbenchError(f"cannot be read: {error.strerror}.", path=path, fix="check the file's permissions.") from None


def parse_config(text: str, path: Path) -> Config:
    """Validate the text of a config file; errors name the file, the line and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # tomllib names the line only in its message before Python 3.14.
        found = re.search(r"line (\d+)", str(error))
        line = getattr(error, "lineno", None) or (int(found.group(1)) if found else None)
        raise MhbenchError(f"is not valid TOML: {getattr(error, 'msg', error)}.", path=path, line=line,
                           fix="correct the TOML syntax at that line.") from None
    known = sorted(Config.model_fields)
    for key in data:
        if key not in Config.model_fields:
            raise MhbenchError(f"unknown key.{did_you_mean(key, known)}", path=path, line=find_line(text, key),
                               key=key, fix=f"use one of: {', '.join(known)}.")
    try:
        return Config.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        top = str(first["loc"][0]) if first["loc"] else None
        message = str(first["msg"]).removeprefix("Value error, ")
        value = first.get("input")
        shown = f" (got {value!r})" if not isinstance(value, dict) else ""
        bad_key, table, message = _error_place(first["loc"], message)
        raise MhbenchError(
            f"{message}{shown}.",
            path=path,
            line=find_line(text, bad_key, table) if bad_key else None,
            key=f"{table}.{bad_key}" if table and bad_key else bad_key,
            fix=_FIXES.get(top or "", "correct the value in the file; `mhbench config --show` checks it again."),
        ) from None


def _error_place(loc: tuple[int | str, ...], message: str) -> tuple[str | None, str | None, str]:
    """(key, table, message) of a validation error: a keymap error names its binding id (in loc or the message)."""
    top = str(loc[0]) if loc else None
    if top != "keymap":
        return top, None, message
    if len(loc) > 1:
        return str(loc[1]), "keymap", message
    binding_id, separator, rest = message.partition(": ")
    if separator and " " not in binding_id:
        return binding_id, "keymap", rest
    return "keymap", None, message


_FIXES = {
    "keymap": "give each binding id a string of keys, e.g. \"app.mode.train\" = \"f7\".",
    "theme": "write a theme name as a string, e.g. theme = \"nord\".",
    "default_rater": "write your rater id as a string, e.g. default_rater = \"r1\".",
    "workspace": "write a folder path as a string, e.g. workspace = \"~/mhbench\".",
}


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
