"""Validating a profile's table and finding every fault in one pass, each with the line to write.

Unknown keys are sorted out first: a key that surely belongs elsewhere (swift's flag
name, a flat key of a section) is moved there for the rest of the check, so that its
value is checked too and the user learns both faults at once. Then pydantic checks
the values, and each of its findings is said in the file's terms by
:mod:`core.profiles.wording`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.base.errors import MhbenchError, one_error
from core.profiles import schema
from core.profiles.aliases import PASSED_THROUGH, Home, closest, home_of
from core.profiles.lines import key_lines, line_of
from core.profiles.wording import NO_EXAMPLE, example, explain, field_info, section_model, toml_value

Key = tuple[str, ...]


@dataclass(frozen=True)
class Fault:
    """One thing wrong with a profile, before it is placed in a file or on a command line."""

    written: Key
    """The key as the user wrote it: ``("per_device_train_batch_size",)``, ``("train", "batch_size")``."""
    problem: str
    home: Key | None = None
    """Where the value belongs; the same as ``written`` when only the value is wrong."""
    value: Any = NO_EXAMPLE
    """The value for the line to write, or NO_EXAMPLE when there is no one line to write."""
    fix: str | None = None
    """The fix in words, when a ``key = value`` line cannot say it."""

    def line_to_write(self) -> str | None:
        if self.home is None or self.value is NO_EXAMPLE:
            return None
        return f"{self.home[-1]} = {toml_value(self.value)}"

    def file_fix(self) -> str:
        line = self.line_to_write()
        if self.fix is not None or line is None or self.home is None:
            return self.fix or "correct the value; `mhbench profiles` checks it again."
        if self.home == self.written:
            return f"write {line}."
        if self.home[:-1] == self.written[:-1]:
            return f"write {line} instead."
        where = f"under [{self.home[0]}]" if len(self.home) == 2 else "at the top, before any [section]"
        return f"{where}, write {line} (and remove this line)."


def _misplaced(written: Key, value: Any, home: Home, problem_value: str | None) -> Fault:
    if home.how == "swift":
        problem = f"unknown key: that is swift's name; mhbench calls it {home.key[-1]}, in [{home.key[0]}]."
    elif home.how == "joined":
        problem = f"unknown key: mhbench calls it {home.key[-1]}, in the [{home.key[0]}] section."
    elif len(home.key) == 1:
        problem = f"belongs at the top level, before any [section], not in [{written[0]}]."
    else:
        here = f"in [{written[0]}]" if len(written) == 2 else "at the top level"
        problem = f"belongs in the [{home.key[0]}] section, not {here}."
    if len(home.key) == 2:
        problem += f" Did you mean '{home.written}'?"
    if problem_value is not None:
        problem += f" Its value is wrong too: {home.key[-1]} {problem_value}"
    return Fault(written, problem, home.key, example(home.key, value))


def _unplaced(written: Key, value: Any, here: str | None) -> Fault:
    """A key with no sure home: a typo with its nearest spelling, or a swift flag without a key."""
    name = written[-1]
    if name in PASSED_THROUGH:
        table = toml_value({name: value})
        return Fault(
            written,
            "has no key of its own in a profile; mhbench passes swift flags like it through.",
            fix=f"under [train], write extra_args = {table} (and remove this line).",
        )
    guess = closest(name, here, is_table=isinstance(value, Mapping))
    if guess is None:
        model = section_model(here) if here is not None else schema.Profile
        keys = ", ".join(sorted(model.model_fields)) if model is not None else ""
        return Fault(written, "unknown key.", fix=f"use one of: {keys}.")
    if guess.how == "section":
        return Fault(
            written,
            f"unknown section. Did you mean '{guess.key[0]}'?",
            guess.key,
            fix=f"rename [{name}] to [{guess.key[0]}].",
        )
    said = guess.key[-1] if guess.how == "typo" and here is not None else guess.written
    return Fault(written, f"unknown key. Did you mean '{said}'?", guess.key, example(guess.key, value))


@dataclass
class _Sorted:
    """The table with unknown keys moved home or left out, and what was found on the way."""

    data: dict[str, Any]
    moved: dict[Key, tuple[Key, Any, Home]]
    """Home → (where it was written, its value, how it was recognised)."""
    faults: list[Fault]


def _sort_keys(data: Mapping[str, Any]) -> _Sorted:
    top = schema._known_keys(schema.Profile)
    sorted_ = _Sorted({k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()}, {}, [])
    unknown: list[tuple[Key, Any]] = []
    for key, value in data.items():
        nested = top.get(key)
        if key not in top:
            unknown.append(((key,), value))
        elif nested is not None and nested is not schema.Range and isinstance(value, Mapping):
            unknown += [((key, sub), item) for sub, item in value.items() if sub not in nested.model_fields]
    for written, value in unknown:
        holder = sorted_.data if len(written) == 1 else sorted_.data[written[0]]
        del holder[written[-1]]
        home = home_of(written[-1])
        if home is None or home.key == written:
            sorted_.faults.append(_unplaced(written, value, written[0] if len(written) == 2 else None))
            continue
        section = sorted_.data if len(home.key) == 1 else sorted_.data.setdefault(home.key[0], {})
        if not isinstance(section, dict):
            sorted_.faults.append(_misplaced(written, value, home, None))
        elif home.key[-1] in section or home.key in sorted_.moved:
            sorted_.faults.append(
                Fault(written, f"is also set as '{home.written}'; a key is written once.", fix="remove this line.")
            )
        else:
            section[home.key[-1]] = value
            sorted_.moved[home.key] = (written, value, home)
    return sorted_


def _ranges_from_lists(data: dict[str, Any]) -> dict[str, Any]:
    """Allow ``train_vram_gb = [45, 50]`` as shorthand for a Range."""
    resources = data.get("resources")
    if isinstance(resources, dict):
        for key, value in list(resources.items()):
            if isinstance(value, list) and len(value) == 2:
                resources[key] = {"low": value[0], "high": value[1]}
    return data


def _field_key(loc: tuple[int | str, ...]) -> Key:
    """The schema field an error is about: ``("train", "dataset")`` for ``("train", "dataset", 0)``."""
    key: list[str] = []
    for part in loc:
        if not isinstance(part, str) or field_info((*key, part)) is None:
            break
        key.append(part)
        if len(key) == 2:
            break
    return tuple(key) or tuple(str(part) for part in loc[:1])


def _missing(key: Key) -> Fault:
    value = example(key, None)
    if len(key) == 1 and section_model(key[0]) is not None:
        return Fault(key, "is missing; a profile must have this section.", fix=_new_section(key[0], None))
    return Fault(key, "is missing; a profile must set it.", key, value)


def _new_section(name: str, value: Any) -> str:
    """``add [model] on its own line, then id = "…" and template = "…"``: the required keys of a section."""
    model = section_model(name)
    lines: list[str] = []
    for key, info in (model.model_fields.items() if model is not None else ()):
        if info.is_required():
            shown = value if isinstance(value, str) and not lines else example((name, key), None)
            lines.append(f"{key} = {toml_value(shown) if shown is not NO_EXAMPLE else '…'}")
    return f"write [{name}] on its own line after the top-level keys, then {' and '.join(lines) or 'its keys'}."


def _value_faults(data: dict[str, Any], moved: Mapping[Key, tuple[Key, Any, Home]]) -> tuple[schema.Profile | None, list[Fault]]:
    try:
        return schema.Profile.model_validate(_ranges_from_lists(data)), []
    except ValidationError as error:
        details = error.errors(include_url=False)
    faults: list[Fault] = []
    seen: set[Key] = set()
    for detail in details:
        key = _field_key(detail["loc"])
        if key in seen:
            continue  # a union reports each of its types; one sentence per key is enough
        seen.add(key)
        problem = explain(detail, key)
        if key in moved:
            written, value, home = moved[key]
            faults.append(_misplaced(written, value, home, problem))
        elif detail["type"] == "missing" and len(detail["loc"]) == len(key):
            faults.append(_missing(key))
        elif len(key) == 1 and section_model(key[0]) is not None:
            faults.append(Fault(key, problem, fix=_new_section(key[0], detail.get("input"))))
        else:
            faults.append(Fault(key, problem, key, example(key, detail.get("input"))))
    return None, faults


def check_profile(data: Mapping[str, Any]) -> tuple[schema.Profile | None, list[Fault]]:
    """The profile, or every fault of the table; a profile comes back only when there is none."""
    sorted_ = _sort_keys(data)
    moved_faults = [_misplaced(written, value, home, None) for written, value, home in sorted_.moved.values()]
    profile, value_faults = _value_faults(sorted_.data, sorted_.moved)
    flagged = {fault.written for fault in value_faults}
    faults = sorted_.faults + [fault for fault in moved_faults if fault.written not in flagged] + value_faults
    return (profile if not faults else None), faults


def file_error(faults: list[Fault], path: Path, text: str | None) -> MhbenchError | None:
    """The faults placed in a file: each one line with the file, its line number, the key and the fix."""
    if not faults:
        return None
    lines = key_lines(text) if text is not None else {}
    errors = [
        MhbenchError(fault.problem, path=path, line=line_of(lines, fault.written), key=".".join(fault.written),
                     fix=fault.file_fix())
        for fault in faults
    ]
    errors.sort(key=lambda error: (error.line is None, error.line or 0, error.key or ""))
    return one_error(errors, where=str(path))


def validate_profile(data: Mapping[str, Any], path: Path, text: str | None = None) -> schema.Profile:
    """Validate a profile's table; a fault names the file, the line (when ``text`` is given) and the key."""
    profile, faults = check_profile(data)
    error = file_error(faults, path, text)
    if error is not None:
        raise error
    assert profile is not None
    return profile
