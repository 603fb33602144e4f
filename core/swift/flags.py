"""The flag check: every ``--flag value`` against the installed swift's own argument dataclasses.

A typo in a profile key or a ``--set`` override fails here in a second, rather than
after swift has loaded the model. The flag table is read in a child interpreter
(importing swift costs several seconds) once per swift version and subcommand, and
cached as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.base.errors import MhbenchError, did_you_mean
from core.swift.dialects import SftCommand, dialect_for, installed_swift_version


@dataclass(frozen=True)
class FlagSpec:
    """What the installed swift accepts for one flag."""

    name: str
    kind: str
    """``bool``, ``int``, ``float``, ``str``, ``list`` or ``any``."""
    choices: tuple[str, ...] = ()


_SPEC_SCRIPT = r"""
import dataclasses, json, sys, types, typing
import swift.arguments
arguments_class = getattr(swift.arguments, sys.argv[1])
out = []
hints = {}
for cls in reversed(arguments_class.__mro__):
    try:
        hints.update(typing.get_type_hints(cls))
    except Exception:
        hints.update(getattr(cls, '__annotations__', {}))
def describe(tp):
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        kinds = [describe(a) for a in args]
        if len(kinds) == 1:
            return kinds[0]
        if any(kind == 'list' for kind, _ in kinds):
            return 'list', []
        return 'any', []
    if origin is typing.Literal:
        return 'choice', [str(a) for a in typing.get_args(tp) if a is not None]
    if origin in (list, typing.List) or tp is list:
        return 'list', []
    if tp is bool:
        return 'bool', []
    if tp is int:
        return 'int', []
    if tp is float:
        return 'float', []
    if tp is str:
        return 'str', []
    return 'any', []
for f in dataclasses.fields(arguments_class):
    kind, choices = describe(hints.get(f.name, f.type))
    out.append({'name': f.name, 'kind': kind, 'choices': choices})
json.dump(out, sys.stdout)
"""


def _cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(os.environ.get("MHBENCH_CACHE", user_cache_dir("mhbench")))


SWIFT_ARGUMENT_CLASSES = {"sft": "SftArguments", "export": "ExportArguments", "deploy": "DeployArguments"}
"""The dataclass in ``swift.arguments`` that parses each swift subcommand."""


def installed_flag_specs(
    python: str | None = None, *, command: str = "sft", cache: bool = True
) -> dict[str, FlagSpec]:
    """Flags of the installed ``swift <command>``, read from its arguments dataclass.

    Runs in a child interpreter so the caller never pays swift's import, and caches
    the result per swift version and subcommand.
    """
    version = installed_swift_version()
    if version is None:
        raise MhbenchError(
            f"ms-swift is not installed, so `swift {command}` cannot be checked or run.",
            fix="install the training extra: `pip install -e '.[train]'` (README command (a) does it).",
        )
    cache_file = _cache_dir() / f"swift-{command}-flags-{version}.json"
    raw: list[dict[str, Any]] | None = None
    if cache and cache_file.is_file():
        try:
            raw = json.loads(cache_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raw = None
    if raw is None:
        result = subprocess.run(
            [python or sys.executable, "-c", _SPEC_SCRIPT, SWIFT_ARGUMENT_CLASSES[command]],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        if result.returncode != 0:
            tail = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise MhbenchError(
                f"could not read the arguments of `swift {command}`: {tail}",
                fix="run `mhbench doctor` to check the ms-swift install.",
            )
        raw = json.loads(result.stdout)
        if cache:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            cache_file.write_text(json.dumps(raw), encoding="utf-8")
    return {item["name"]: FlagSpec(item["name"], item["kind"], tuple(item["choices"])) for item in raw}


def validate_argv(argv: Sequence[str], specs: Mapping[str, FlagSpec]) -> list[str]:
    """Check every ``--flag value`` against the specs; return the problems, one line each."""
    problems: list[str] = []
    start = 2 if list(argv[:1]) == ["swift"] and len(argv) > 1 and argv[1] in SWIFT_ARGUMENT_CLASSES else 0
    current: str | None = None
    values: dict[str, list[str]] = {}
    for part in argv[start:]:
        if part.startswith("--"):
            current = part[2:]
            if current in values:
                problems.append(f"--{current} is given twice.")
            values[current] = []
            if current not in specs:
                problems.append(f"unknown flag --{current}.{did_you_mean(current, specs)}")
        elif current is None:
            problems.append(f"'{part}' stands before any flag.")
        else:
            values[current].append(part)
    for name, given in values.items():
        spec = specs.get(name)
        if spec is None:
            continue
        problem = _check_value(spec, given)
        if problem:
            problems.append(f"--{name}: {problem}")
    return problems


def _check_value(spec: FlagSpec, given: list[str]) -> str | None:
    if spec.kind == "list":
        return None if given else "needs at least one value."
    if len(given) != 1:
        return f"takes one value, got {len(given)}."
    value = given[0]
    if spec.kind == "bool" and value.lower() not in {"true", "false", "1", "0", "yes", "no"}:
        return f"'{value}' is not true or false."
    if spec.kind == "int":
        try:
            int(value)
        except ValueError:
            return f"'{value}' is not a whole number."
    if spec.kind == "float":
        try:
            float(value)
        except ValueError:
            return f"'{value}' is not a number."
    if spec.kind == "choice" and spec.choices and value not in spec.choices:
        return f"'{value}' is not one of {', '.join(spec.choices)}.{did_you_mean(value, spec.choices)}"
    return None


def check_command(command: SftCommand, specs: Mapping[str, FlagSpec] | None = None) -> None:
    """Raise one clear error when the installed swift would reject the command."""
    version = installed_swift_version()
    if version is not None and dialect_for(version).major != command.dialect.major:
        raise MhbenchError(
            f"the command is in the {command.dialect.label} dialect but ms-swift {version} is installed.",
            fix="build it again for the installed version.",
        )
    problems = validate_argv(command.argv, specs if specs is not None else installed_flag_specs())
    if problems:
        raise MhbenchError(
            f"ms-swift {version} would reject this command: " + " ".join(problems),
            fix="correct the profile key or --set override that produced the flag.",
        )
