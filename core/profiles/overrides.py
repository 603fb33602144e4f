"""``--set KEY=VALUE`` overrides on a loaded profile; a fault names the override, not the file."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from core.base.errors import MhbenchError, did_you_mean, one_error
from core.profiles import schema
from core.profiles.aliases import home_of
from core.profiles.faults import Fault, Key, check_profile
from core.profiles.schema import Profile
from core.profiles.wording import NO_EXAMPLE, toml_value


def _said(source: str, text: str) -> str:
    """``--set train.epochs=0``, or ``the launch form: train.epochs=0`` for a source that is not a flag."""
    return f"{source} {text}" if source.startswith("-") else f"{source}: {text}"


def parse_override(text: str, source: str = "--set") -> tuple[str, Any]:
    """Parse ``key=value``; the value is read as TOML, else kept as a string."""
    if "=" not in text:
        raise MhbenchError("has no '='.", source=_said(source, text), fix=f"write it as {_said(source, 'KEY=VALUE')}, e.g. train.epochs=2.")
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
    Every bad override is reported at once, each by its own text.
    """
    data = profile.model_dump(mode="python", exclude_none=True)
    errors: list[MhbenchError] = []
    given: dict[Key, str] = {}
    for text in overrides:
        try:
            key, value = parse_override(text, source)
            parts = _locate(key, source, text)
        except MhbenchError as error:
            errors.append(error)
            continue
        target = data
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                errors.append(MhbenchError(f"'{part}' is a value, not a section.", source=_said(source, text),
                                           key=key, fix=f"write {_said(source, f'{part}=VALUE')}."))
                break
        else:
            if isinstance(value, str) and _is_sequence_field(parts):
                value = [value]
            target[parts[-1]] = value
            given[tuple(parts)] = text
    checked, faults = check_profile(data)
    errors += [_override_error(fault, given, source) for fault in faults]
    found = one_error(errors, where=source)
    if found is not None:
        raise found
    assert checked is not None
    return checked


def _override_error(fault: Fault, given: Mapping[Key, str], source: str) -> MhbenchError:
    """A fault of the merged profile, placed on the override that caused it."""
    text = next((t for key, t in given.items() if key[: len(fault.written)] == fault.written), None)
    if text is None:
        return MhbenchError(fault.problem, source=source, key=".".join(fault.written), fix=fault.fix)
    fix = fault.fix or "correct the value."
    if fault.home is not None:
        key, _, value_text = text.partition("=")
        parts = tuple(key.strip().split("."))
        home = (*fault.home, *parts[len(fault.written) :]) if len(parts) > len(fault.written) else fault.home
        if fault.value is not NO_EXAMPLE and home == fault.home:
            value_text = toml_value(fault.value)
        fix = f"write {_said(source, '.'.join(home) + '=' + value_text.strip())}."
    return MhbenchError(fault.problem, source=_said(source, text), key=".".join(fault.written), fix=fix)


def _is_sequence_field(parts: list[str]) -> bool:
    """Whether ``section.key`` holds a tuple, so a single string means a one-item list."""
    model: type[BaseModel] | None = Profile
    for part in parts[:-1]:
        model = schema._known_keys(model).get(part) if model is not None else None
    if model is None or parts[-1] not in model.model_fields:
        return False
    annotation = model.model_fields[parts[-1]].annotation
    return getattr(annotation, "__origin__", None) is tuple


def _locate(key: str, source: str, text: str) -> list[str]:
    """``["train", "learning_rate"]`` for ``learning_rate`` or ``train.learning_rate``; dotted keys are checked later."""
    said = _said(source, text)
    parts = key.split(".")
    sections = schema._known_keys(Profile)
    if len(parts) > 1:
        return parts
    owners = [name for name, model in sections.items() if model is not None and key in model.model_fields]
    if key in sections and sections[key] is None:
        return parts
    if len(owners) == 1:
        return [owners[0], key]
    if owners:
        raise MhbenchError(f"'{key}' is ambiguous.", key=key, source=said,
                           fix=f"write one of: {', '.join(f'{o}.{key}' for o in owners)}.")
    if key in sections:
        raise MhbenchError("is a section, not a value.", key=key, source=said, fix=f"name a key in it, e.g. {key}.<key>=value.")
    home = home_of(key)
    if home is not None:
        dotted = ".".join(home.key)
        raise MhbenchError(f"unknown key: mhbench calls it {dotted}. Did you mean '{dotted}'?", key=key, source=said,
                           fix=f"write {_said(source, dotted + '=' + text.partition('=')[2].strip())}.")
    every = [f"{s}.{k}" for s, m in sections.items() if m is not None for k in m.model_fields]
    raise MhbenchError(f"unknown key.{did_you_mean(key, every)}", key=key, source=said,
                       fix="see `mhbench profiles --json` for the keys.")
