"""ms-swift dialects: the exact ``swift sft`` argv for the installed major version.

ms-swift 4.x renamed ``--train_type`` to ``--tuner_type`` and folded model types
(Qwen2.5 is ``qwen2``, every Llama is ``llama``). The profile names a *family*;
this module turns it into the installed swift's model type and template.

Before a launch every flag is checked against the installed swift's own argument
dataclasses, so a typo fails in a second rather than after model loading. The
flag table is read once per swift version and cached as JSON, because importing
swift costs several seconds.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from core.base.errors import MhbenchError, did_you_mean
from core.train.profiles import Profile


@dataclass(frozen=True)
class FamilyNames:
    """What one swift dialect calls a model family."""

    model_type: str | None
    """``None``: not registered; swift infers the type from the model's config."""
    template: str


@dataclass(frozen=True)
class Dialect:
    """One major version of ms-swift's command line."""

    major: int
    tuner_flag: str
    families: Mapping[str, FamilyNames]
    graceful_exit: bool
    """Whether ``--callbacks graceful_exit`` exists (save a checkpoint on SIGTERM)."""

    @property
    def label(self) -> str:
        return f"ms-swift {self.major}.x"


DIALECT_3 = Dialect(
    major=3,
    tuner_flag="--train_type",
    families={
        "qwen2": FamilyNames("qwen2", "qwen"),
        "qwen2_5": FamilyNames("qwen2_5", "qwen2_5"),
        "llama2": FamilyNames("llama", "llama"),
        "llama3": FamilyNames("llama3", "llama3"),
        "llama3_1": FamilyNames("llama3_1", "llama3_2"),
        "llama3_chinese": FamilyNames(None, "llama3"),
    },
    graceful_exit=False,
)

DIALECT_4 = Dialect(
    major=4,
    tuner_flag="--tuner_type",
    families={
        "qwen2": FamilyNames("qwen2", "qwen"),
        "qwen2_5": FamilyNames("qwen2", "qwen2_5"),
        "llama2": FamilyNames("llama", "llama"),
        "llama3": FamilyNames("llama", "llama3"),
        "llama3_1": FamilyNames("llama", "llama3_2"),
        "llama3_chinese": FamilyNames(None, "llama3"),
    },
    graceful_exit=True,
)

DIALECTS = {3: DIALECT_3, 4: DIALECT_4}

_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def installed_swift_version() -> str | None:
    """The installed ms-swift version, read from package metadata (no import)."""
    try:
        return metadata.version("ms-swift")
    except metadata.PackageNotFoundError:
        return None


def dialect_for(version: str | None) -> Dialect:
    """The dialect of an ms-swift version; without swift, the newest one."""
    if version is None:
        return DIALECT_4
    match = re.match(r"(\d+)", version)
    major = int(match.group(1)) if match else 4
    if major <= 3:
        return DIALECT_3
    return DIALECT_4


@dataclass(frozen=True)
class SftCommand:
    """A ``swift sft`` command with the notes that explain its renames."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    dialect: Dialect = DIALECT_4
    notes: tuple[str, ...] = ()

    def shell(self) -> str:
        import shlex

        env = " ".join(f"{key}={shlex.quote(value)}" for key, value in sorted(self.env.items()))
        command = " ".join(shlex.quote(part) for part in self.argv)
        return f"{env} {command}" if env else command

    def flags(self) -> list[str]:
        return [part[2:] for part in self.argv if part.startswith("--")]


def _bool(value: bool) -> str:
    return "true" if value else "false"


def model_reference(profile: Profile) -> str:
    """What ``--model`` gets: the ModelScope id when the profile downloads from ModelScope."""
    model = profile.model
    if model.hub == "modelscope" and model.modelscope_id:
        return model.modelscope_id
    return model.id


def build_sft_command(
    profile: Profile,
    *,
    dialect: Dialect,
    output_dir: str | Path = "output",
    extra: Mapping[str, str | int | float | bool] | None = None,
) -> SftCommand:
    """Build the exact ``swift sft`` argv for ``profile`` in ``dialect``."""
    model, lora, train = profile.model, profile.lora, profile.train
    notes: list[str] = []
    args: list[tuple[str, Any]] = [("model", model_reference(profile))]

    if model.family == "auto":
        template = model.template
    else:
        names = dialect.families[model.family]
        template = names.template
        if names.model_type is not None:
            args.append(("model_type", names.model_type))
        else:
            notes.append(
                f"{profile.title} is not registered in {dialect.label}: swift infers the model type from its config."
            )
        if template != model.template:
            notes.append(f"template '{model.template}' is called '{template}' in {dialect.label}.")
    args.append(("template", template))
    if model.hub == "huggingface":
        args.append(("use_hf", True))
    elif model.hub == "local":
        # swift otherwise asks ModelScope whether the local copy is the latest, which costs
        # about 7 s of retries offline and means nothing for a model made or merged here.
        args.append(("check_model", False))
    if model.default_system:
        args.append(("system", model.default_system))

    args.append((dialect.tuner_flag[2:], "lora"))
    if lora.tuner == "qlora":
        args += [
            ("quant_method", "bnb"),
            ("quant_bits", lora.quant_bits),
            ("bnb_4bit_compute_dtype", _DTYPES[train.dtype]),
            ("bnb_4bit_quant_type", "nf4"),
            ("bnb_4bit_use_double_quant", True),
        ]
    args += [
        ("lora_rank", lora.rank),
        ("lora_alpha", lora.alpha),
        ("lora_dropout", lora.dropout),
        ("target_modules", list(lora.target_modules)),
        ("dataset", list(train.dataset)),
    ]
    if train.val_dataset:
        args.append(("val_dataset", list(train.val_dataset)))
    elif train.split_dataset_ratio:
        args.append(("split_dataset_ratio", train.split_dataset_ratio))
    args += [
        ("torch_dtype", _DTYPES[train.dtype]),
        ("per_device_train_batch_size", train.batch_size),
        ("per_device_eval_batch_size", train.batch_size),
        ("gradient_accumulation_steps", train.grad_accum),
        ("learning_rate", train.learning_rate),
        ("num_train_epochs", train.epochs),
    ]
    if train.max_steps is not None:
        args.append(("max_steps", train.max_steps))
    if train.warmup_ratio:
        args.append(("warmup_ratio", train.warmup_ratio))
    args += [("max_length", train.max_length), ("gradient_checkpointing", train.gradient_checkpointing)]
    if train.packing:
        args.append(("packing", True))
    if train.attn_impl:
        args.append(("attn_impl", train.attn_impl))
    args += [
        ("save_steps", train.save_steps),
        ("save_total_limit", train.save_total_limit),
        ("logging_steps", train.logging_steps),
        ("eval_steps", train.eval_steps or train.save_steps),
        ("seed", train.seed),
        ("output_dir", str(output_dir)),
        ("add_version", False),
    ]
    if dialect.graceful_exit:
        args.append(("callbacks", ["graceful_exit"]))
    args += list(train.extra_args.items())
    args += list((extra or {}).items())

    argv: list[str] = ["swift", "sft"]
    for name, value in _last_wins(args):
        argv.append(f"--{name}")
        if isinstance(value, list):
            argv.extend(str(item) for item in value)
        elif isinstance(value, bool):
            argv.append(_bool(value))
        else:
            argv.append(_number(value))
    return SftCommand(tuple(argv), {}, dialect, tuple(notes))


def _number(value: Any) -> str:
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value))
    return str(value)


def _last_wins(args: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Keep one value per flag; a later value (override) replaces an earlier one in place."""
    ordered: dict[str, Any] = {}
    for name, value in args:
        ordered[name] = value
    return list(ordered.items())


# --- checking flags against the installed swift ---------------------------------------------


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
