"""The pydantic schema of ``config.toml``: what each key means, and the one-line error for a bad one."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.base.errors import MhbenchError, did_you_mean
from core.config import Settings, find_line, key_list_problem


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


def parse_config(text: str, path: Path) -> Settings:
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
        config = Config.model_validate(data)
        return Settings(keymap=dict(config.keymap), theme=config.theme, default_rater=config.default_rater,
                        workspace=config.workspace, fields_set=frozenset(config.model_fields_set))
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


