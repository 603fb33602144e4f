"""ms-swift dialects: the exact ``swift sft`` argv for the installed major version.

ms-swift 4.x renamed ``--train_type`` to ``--tuner_type`` and folded model types
(Qwen2.5 is ``qwen2``, every Llama is ``llama``). The profile names a *family*;
this module turns it into the installed swift's model type and template.

This module knows the dialects and builds the ``swift sft`` argv of a profile. It is
one layer of a launch: :mod:`core.train.launch` adds the run's folder, resume,
DeepSpeed and the GPU environment, and :mod:`core.swift.flags` checks every
flag against the installed swift. Launches, dry runs and previews go through
:func:`core.train.launch.plan_run`, never through :func:`build_sft_command` alone.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from core.profiles import Profile


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
        # Not registered by name in 4.x, and its architecture (LlamaForCausalLM) matches four model
        # types (llama, yi, codefuse_codellama, openbuddy_llama): swift refuses to guess, after
        # loading the config. Name the type, as for every other Llama.
        "llama3_chinese": FamilyNames("llama", "llama3"),
    },
    graceful_exit=True,
)

DIALECTS = {3: DIALECT_3, 4: DIALECT_4}

TORCH_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


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


def installed_dialect() -> Dialect:
    """The dialect of the installed ms-swift (the newest one when swift is absent)."""
    return dialect_for(installed_swift_version())


@dataclass(frozen=True)
class SftCommand:
    """A ``swift sft`` command with the notes that explain its renames."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    dialect: Dialect = DIALECT_4
    notes: tuple[str, ...] = ()

    def shell(self) -> str:
        """The command on one line, the environment first: what ``y`` copies."""
        return " ".join([*self._assignments(), *(shlex.quote(part) for part in self.argv)])

    def shell_text(self, *, flag_per_line: bool = False) -> str:
        """The same command as a shell reads it, one ``KEY=value`` per line before it.

        With ``flag_per_line`` each ``--flag value…`` gets its own line too, for a pane
        that is narrower than the command. Either way, pasting it into a shell runs
        exactly the recorded argv with exactly the recorded environment.
        """
        if flag_per_line:
            lines: list[str] = []
            for part in self.argv:
                quoted = shlex.quote(part)
                if part.startswith("--") or not lines:
                    lines.append(quoted)
                else:
                    lines[-1] += f" {quoted}"
            if len(lines) > 1 and lines[0] == "swift":
                lines[0:2] = [f"swift {lines[1]}"]
            command = lines[0] + "".join(f" \\\n    {line}" for line in lines[1:])
        else:
            command = " ".join(shlex.quote(part) for part in self.argv)
        return "".join(f"{assignment} \\\n" for assignment in self._assignments()) + command

    def _assignments(self) -> list[str]:
        return [f"{key}={shlex.quote(value)}" for key, value in sorted(self.env.items())]

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
            ("bnb_4bit_compute_dtype", TORCH_DTYPES[train.dtype]),
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
        ("torch_dtype", TORCH_DTYPES[train.dtype]),
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


