"""Validating a profile's table, and saying what is wrong in the words of the file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from core.base.errors import MhbenchError, did_you_mean
from core.train.profiles.schema import Profile, Range, _known_keys


def _check_keys(data: Mapping[str, Any], model: type[BaseModel], path: Path, prefix: str = "") -> None:
    """Reject unknown keys with a did-you-mean before pydantic's generic message."""
    known = _known_keys(model)
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            raise MhbenchError(
                f"unknown key.{did_you_mean(key, known)}",
                path=path,
                key=dotted,
                fix=f"use one of: {', '.join(sorted(known))}.",
            )
        nested = known[key]
        if nested is not None and nested is not Range and isinstance(value, Mapping):
            _check_keys(value, nested, path, prefix=f"{dotted}.")


def _ranges_from_lists(data: dict[str, Any]) -> dict[str, Any]:
    """Allow ``train_vram_gb = [45, 50]`` as shorthand for a Range."""
    resources = data.get("resources")
    if isinstance(resources, dict):
        for key, value in list(resources.items()):
            if isinstance(value, list) and len(value) == 2:
                resources[key] = {"low": value[0], "high": value[1]}
    return data


def validate_profile(data: Mapping[str, Any], path: Path) -> Profile:
    """Validate a profile dict; errors name the file and the first bad key."""
    _check_keys(data, Profile, path)
    try:
        return Profile.model_validate(_ranges_from_lists(dict(data)))
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        value = first.get("input")
        shown = f" (got {value!r})" if not isinstance(value, dict) else ""
        raise MhbenchError(
            f"{first['msg']}{shown}.",
            path=path,
            key=key or None,
            fix="correct the value in the file; `mhbench profiles` checks it again.",
        ) from None

