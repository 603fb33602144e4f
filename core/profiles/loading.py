"""Finding, reading and merging profile files: shipped, workspace, and ``extends``."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from core.base.errors import MhbenchError, did_you_mean
from core.profiles.faults import Fault, check_profile, file_error
from core.profiles.schema import Profile


def _shipped_profiles_dir() -> Path:
    """The repository's ``profiles/``; in a wheel install, the copy packed into ``core``."""
    repository = Path(__file__).resolve().parents[2] / "profiles"
    return repository if repository.is_dir() else Path(__file__).resolve().parents[1] / "shipped_profiles"


SHIPPED_PROFILES_DIR = _shipped_profiles_dir()


@dataclass(frozen=True)
class ProfileEntry:
    """A profile file and what came of loading it: a profile or an error."""

    name: str
    path: Path
    origin: Literal["shipped", "workspace"]
    profile: Profile | None
    error: MhbenchError | None

    @property
    def ok(self) -> bool:
        return self.profile is not None


def read_toml(path: Path) -> dict[str, Any]:
    return read_toml_text(path)[1]


def read_toml_text(path: Path) -> tuple[str, dict[str, Any]]:
    """The file's text (for line numbers) and its table."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise MhbenchError("is not UTF-8 text.", path=path, fix="save the file as UTF-8.") from error
    except OSError as error:
        raise MhbenchError(f"cannot be read: {error.strerror}.", path=path, fix="check the file's permissions.") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # tomllib names the line only in its message before Python 3.14.
        found = re.search(r"line (\d+)", str(error))
        line = getattr(error, "lineno", None) or (int(found.group(1)) if found else None)
        raise MhbenchError(
            f"is not valid TOML: {getattr(error, 'msg', error)}.",
            path=path,
            line=line,
            fix="correct the TOML syntax at that line.",
        ) from None


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def profile_dirs(workspace_profiles: Path | None) -> list[tuple[Path, Literal["shipped", "workspace"]]]:
    dirs: list[tuple[Path, Literal["shipped", "workspace"]]] = [(SHIPPED_PROFILES_DIR, "shipped")]
    if workspace_profiles is not None:
        dirs.append((workspace_profiles, "workspace"))
    return dirs


Origin = Literal["shipped", "workspace"]


@dataclass(frozen=True)
class _Source:
    """One profile file as read: its TOML table, or why it could not be read."""

    path: Path
    origin: Origin
    data: dict[str, Any] | MhbenchError
    text: str = ""


def load_profiles(workspace_profiles: Path | None = None) -> list[ProfileEntry]:
    """Load every shipped and workspace profile; a bad file becomes an entry with its error."""
    shipped: dict[str, _Source] = {}
    active: dict[str, _Source] = {}
    for directory, origin in profile_dirs(workspace_profiles):
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                text, table = read_toml_text(path)
                source = _Source(path, origin, table, text)
            except MhbenchError as error:
                source = _Source(path, origin, error)
            active[path.stem] = source
            if origin == "shipped":
                shipped[path.stem] = source
    entries = [_resolve(name, active, shipped) for name in active]
    return sorted(entries, key=lambda entry: (entry.origin != "shipped", entry.name))


def _resolve(name: str, active: Mapping[str, _Source], shipped: Mapping[str, _Source]) -> ProfileEntry:
    source = active[name]
    if isinstance(source.data, MhbenchError):
        return ProfileEntry(name, source.path, source.origin, None, source.data)
    try:
        merged = _with_parent(name, source, active, shipped, ())
    except MhbenchError as error:
        return ProfileEntry(name, source.path, source.origin, None, error)
    faults: list[Fault] = []
    if merged.get("name", name) != name:
        faults.append(
            Fault(("name",), f"'{merged.get('name')}' differs from the file name.", fix=f'set name = "{name}" or rename the file.')
        )
    merged["name"] = name
    profile, more = check_profile(merged)
    found = file_error([*faults, *more], source.path, source.text)
    return ProfileEntry(name, source.path, source.origin, None if found else profile, found)


def _with_parent(
    name: str,
    source: _Source,
    active: Mapping[str, _Source],
    shipped: Mapping[str, _Source],
    seen: tuple[Path, ...],
) -> dict[str, Any]:
    assert not isinstance(source.data, MhbenchError)
    parent = source.data.get("extends")
    if parent is None:
        return dict(source.data)
    if not isinstance(parent, str):
        raise MhbenchError(
            f"must be a profile name (a string), got {parent!r}.",
            path=source.path,
            key="extends",
            fix='write extends = "qwen2.5-7b-instruct".',
        )
    # A workspace file may extend the shipped profile it replaces: same name, one layer down.
    if parent == name and source.origin == "workspace" and name in shipped:
        parent_source = shipped[name]
    elif parent in active:
        parent_source = active[parent]
    else:
        raise MhbenchError(
            f"extends unknown profile '{parent}'.{did_you_mean(parent, active)}",
            path=source.path,
            key="extends",
            fix="name an existing profile (see `mhbench profiles`).",
        )
    if parent_source.path in (*seen, source.path):
        raise MhbenchError(
            f"extends '{parent}', which leads back to this file.",
            path=source.path,
            key="extends",
            fix="remove the loop of extends.",
        )
    if isinstance(parent_source.data, MhbenchError):
        raise MhbenchError(
            f"extends '{parent}', which is broken: {parent_source.data}",
            path=source.path,
            key="extends",
            fix=f"repair {parent_source.path.name} first.",
        )
    base = _with_parent(parent, parent_source, active, shipped, (*seen, source.path))
    base.pop("name", None)
    base.pop("display_name", None)
    return deep_merge(base, source.data)


def find_profile(entries: Iterable[ProfileEntry], name: str) -> Profile:
    entries = list(entries)
    for entry in entries:
        if entry.name == name:
            if entry.error is not None:
                raise entry.error
            assert entry.profile is not None
            return entry.profile
    raise MhbenchError(
        f"no profile named '{name}'.{did_you_mean(name, [e.name for e in entries])}",
        fix="run `mhbench profiles` to list them.",
    )

