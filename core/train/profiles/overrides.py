"""``--set KEY=VALUE`` overrides on a loaded profile."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from core.base.errors import MhbenchError, did_you_mean
from core.train.profiles import schema
from core.train.profiles.faults import validate_profile
from core.train.profiles.schema import Profile


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``key=value``; the value is read as TOML, else kept as a string."""
    if "=" not in text:
        raise MhbenchError(f"override '{text}' has no '='.", fix="write it as key=value, e.g. train.epochs=2.")
    key, _, value = text.partition("=")
    key = key.strip()
    try:
        parsed: Any = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return key, parsed


def apply_overrides(profile: Profile, overrides: Iterable[str], source: str = "--set") -> Profile:
    """Return a copy of ``profile`` with ``section.key=value`` overrides, validated again.

    A bare key (``learning_rate``) is looked up in every section when it is unambiguous.
    """
    data = profile.model_dump(mode="python", exclude_none=True)
    for text in overrides:
        key, value = parse_override(text)
        parts = _locate(key, source)
        target = data
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        if isinstance(value, str) and _is_sequence_field(parts):
            value = [value]
        target[parts[-1]] = value
    return validate_profile(data, Path(source))


def _is_sequence_field(parts: list[str]) -> bool:
    """Whether ``section.key`` holds a tuple, so a single string means a one-item list."""
    model: type[BaseModel] | None = Profile
    for part in parts[:-1]:
        model = schema._known_keys(model).get(part) if model is not None else None
    if model is None or parts[-1] not in model.model_fields:
        return False
    annotation = model.model_fields[parts[-1]].annotation
    return getattr(annotation, "__origin__", None) is tuple


def _locate(key: str, source: str) -> list[str]:
    parts = key.split(".")
    sections = schema._known_keys(Profile)
    if len(parts) == 1:
        owners = [name for name, model in sections.items() if model is not None and key in model.model_fields]
        if key in sections and sections[key] is None:
            return parts
        if len(owners) == 1:
            return [owners[0], key]
        every = [f"{s}.{k}" for s, m in sections.items() if m is not None for k in m.model_fields]
        if owners:
            raise MhbenchError(
                f"'{key}' is ambiguous.", key=key, path=Path(source), fix=f"write one of: {', '.join(f'{o}.{key}' for o in owners)}."
            )
        if key in sections:
            raise MhbenchError("is a section, not a value.", key=key, path=Path(source), fix=f"name a key in it, e.g. {key}.<key>=value.")
        raise MhbenchError(f"unknown key.{did_you_mean(key, every)}", key=key, path=Path(source), fix="see `mhbench profiles --json` for the keys.")
    return parts
