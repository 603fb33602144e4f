"""Model profiles: TOML files validated by pydantic.

Shipped profiles live in the repository's ``profiles/``. A workspace's own
``profiles/`` can add profiles, replace one of the same name, or extend one
(``extends = "name"``) and override only the keys it sets.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.base.errors import MhbenchError, did_you_mean


def _shipped_profiles_dir() -> Path:
    """The repository's ``profiles/``; in a wheel install, the copy packed into ``core``."""
    repository = Path(__file__).resolve().parents[2] / "profiles"
    return repository if repository.is_dir() else Path(__file__).resolve().parents[1] / "shipped_profiles"


SHIPPED_PROFILES_DIR = _shipped_profiles_dir()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)


class Range(_Strict):
    """A low–high estimate, as the source configs give them."""

    low: float = Field(ge=0)
    """Lower end of the estimate."""
    high: float = Field(ge=0)
    """Upper end of the estimate."""

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) is below low ({self.low})")
        return self

    def __str__(self) -> str:
        return f"{self.low:g}–{self.high:g}"


class ModelSection(_Strict):
    """Which base model to fine-tune and how to talk to it."""

    id: str = Field(min_length=1)
    """Hub id (``Qwen/Qwen2.5-7B-Instruct``) or a local directory with the weights."""
    hub: Literal["modelscope", "huggingface", "local"] = "modelscope"
    """Where ``id`` is looked up: ModelScope (swift's default), Hugging Face (``--use_hf``), or a local path."""
    modelscope_id: str | None = None
    """The ModelScope id, when it differs from the Hugging Face ``id``."""
    family: Literal["qwen2_5", "llama3_1", "llama3_chinese", "llama3", "llama2", "qwen2", "auto"] = "auto"
    """Model family; ``core.train.swift`` turns it into the installed swift's model type and template names. ``auto`` lets swift infer the type from the local config."""
    template: str = Field(min_length=1)
    """Chat template name as the source config gives it (``qwen2_5``, ``llama3``); renamed per swift dialect."""
    context_length: int = Field(default=4096, gt=0)
    """Longest context the model supports, in tokens."""
    default_system: str | None = None
    """System prompt used when none is given."""
    gguf_id: str | None = None
    """Id of a ready-made GGUF variant, if the publisher ships one."""
    licence: str = "unknown"
    """Licence of the weights (``Apache-2.0``, ``Llama 3.1 Community``…)."""
    gated: bool = False
    """True when the hub asks users to accept a licence before download."""


class LoraSection(_Strict):
    """The adapter: LoRA, or QLoRA on a 4-bit base."""

    tuner: Literal["lora", "qlora"] = "lora"
    """``lora`` on a bf16 base, or ``qlora`` on a bitsandbytes 4-bit base."""
    rank: int = Field(default=8, gt=0, le=1024)
    """LoRA rank r."""
    alpha: int = Field(default=32, gt=0)
    """LoRA alpha (scaling is alpha / r)."""
    dropout: float = Field(default=0.05, ge=0, lt=1)
    """Dropout on the LoRA path."""
    target_modules: tuple[str, ...] = ("all-linear",)
    """Module names to adapt (``q_proj``…), or ``all-linear``."""
    quant_bits: Literal[4, 8] = 4
    """Bits of the quantised base when ``tuner = "qlora"``."""
    trainable_params_note: str | None = None
    """What the source config reports about the trainable share (for the record)."""


class TrainSection(_Strict):
    """Hyper-parameters of ``swift sft``."""

    dataset: tuple[str, ...] = Field(min_length=1)
    """Dataset hub ids or local files (JSONL in ShareGPT, messages or Alpaca form)."""
    dataset_format: Literal["sharegpt", "messages", "alpaca", "dolly", "query_response", "auto"] = "auto"
    """Record layout of the dataset, when known."""
    val_dataset: tuple[str, ...] = ()
    """Separate validation files; empty means split from ``dataset``."""
    split_dataset_ratio: float = Field(default=0.0, ge=0, lt=1)
    """Share of ``dataset`` held out for evaluation when there is no ``val_dataset``."""
    batch_size: int = Field(default=1, gt=0)
    """Per-device train batch size."""
    grad_accum: int = Field(default=1, gt=0)
    """Gradient accumulation steps."""
    learning_rate: float = Field(default=1e-4, gt=0, lt=1)
    """Peak learning rate."""
    epochs: float = Field(default=1, gt=0)
    """Number of training epochs."""
    max_steps: int | None = Field(default=None, gt=0)
    """Stop after this many optimiser steps (overrides ``epochs``)."""
    warmup_ratio: float = Field(default=0.0, ge=0, lt=1)
    """Share of steps spent warming up the learning rate."""
    max_length: int = Field(default=2048, gt=0)
    """Longest training sequence in tokens; longer samples are truncated or dropped by swift."""
    packing: bool = False
    """Pack several samples into one sequence of ``max_length``."""
    gradient_checkpointing: bool = True
    """Trade compute for memory by recomputing activations."""
    dtype: Literal["bf16", "fp16", "fp32"] = "bf16"
    """Compute dtype of the base model."""
    attn_impl: Literal["flash_attn", "sdpa", "eager"] | None = None
    """Attention kernel; ``flash_attn`` needs the flash-attn package and a GPU."""
    save_steps: int = Field(default=200, gt=0)
    """Save a checkpoint every N steps."""
    save_total_limit: int = Field(default=3, gt=0)
    """Keep only the newest N checkpoints."""
    logging_steps: int = Field(default=10, gt=0)
    """Write a ``logging.jsonl`` line every N steps."""
    eval_steps: int | None = Field(default=None, gt=0)
    """Evaluate every N steps; defaults to ``save_steps``."""
    seed: int = 42
    """Random seed of the run."""
    extra_args: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Further ``swift sft`` flags, verbatim (``{lr_scheduler_type = "cosine"}``); checked against the installed swift."""


class ResourcesSection(_Strict):
    """What the source configs expect on the GPU box."""

    train_vram_gb: Range | None = None
    """Expected GPU memory for training, in GB."""
    infer_vram_gb: Range | None = None
    """Expected GPU memory for inference, in GB."""
    hours_per_epoch: Range | None = None
    """Expected wall time per epoch, in hours."""
    reference_gpu: str = "1× H100 80GB"
    """The hardware the estimates refer to."""


class DeploySection(_Strict):
    """How ``swift deploy`` serves the model."""

    infer_backend: Literal["transformers", "pt", "vllm", "lmdeploy", "sglang"] = "transformers"
    """Inference engine behind the OpenAI-compatible API."""
    tensor_parallel: int = Field(default=1, gt=0)
    """Tensor-parallel degree (GPUs per replica)."""
    session_len: int = Field(default=4096, gt=0)
    """Longest conversation the server keeps, in tokens."""
    served_model_name: str | None = None
    """Name the server reports in ``/v1/models``."""


class ExportSection(_Strict):
    """How ``swift export`` writes a merged model."""

    merge_lora: bool = True
    """Merge the adapter into the base weights."""
    format: Literal["safetensors", "bin"] = "safetensors"
    """Weight file format of the merged model."""
    max_shard_size: str = Field(default="2GB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB)$")
    """Largest weight shard (``2GB``)."""


class Profile(_Strict):
    """One model profile: a base model plus how to fine-tune, serve and export it."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    """Unique id, also the file stem (``qwen2.5-7b-instruct``)."""
    display_name: str = ""
    """Human-readable name shown in lists."""
    description: str = ""
    """One line about the profile."""
    notes: tuple[str, ...] = ()
    """Caveats worth reading before a run (weak Chinese, gated licence…)."""
    extends: str | None = None
    """Name of a profile whose values this one starts from (workspace profiles)."""
    model: ModelSection
    """The base model."""
    lora: LoraSection = Field(default_factory=LoraSection)
    """The adapter."""
    train: TrainSection
    """Training hyper-parameters."""
    resources: ResourcesSection = Field(default_factory=ResourcesSection)
    """Expected GPU memory and time."""
    deploy: DeploySection = Field(default_factory=DeploySection)
    """Serving settings."""
    export: ExportSection = Field(default_factory=ExportSection)
    """Merge and export settings."""

    @property
    def title(self) -> str:
        return self.display_name or self.name


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


def _known_keys(model: type[BaseModel]) -> dict[str, type[BaseModel] | None]:
    keys: dict[str, type[BaseModel] | None] = {}
    for key, field in model.model_fields.items():
        annotation = field.annotation
        nested = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        if nested is None:
            for arg in getattr(annotation, "__args__", ()):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    nested = arg
        keys[key] = nested
    return keys


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


def read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise MhbenchError("is not UTF-8 text.", path=path, fix="save the file as UTF-8.") from error
    except OSError as error:
        raise MhbenchError(f"cannot be read: {error.strerror}.", path=path, fix="check the file's permissions.") from None
    try:
        return tomllib.loads(text)
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


def load_profiles(workspace_profiles: Path | None = None) -> list[ProfileEntry]:
    """Load every shipped and workspace profile; a bad file becomes an entry with its error."""
    shipped: dict[str, _Source] = {}
    active: dict[str, _Source] = {}
    for directory, origin in profile_dirs(workspace_profiles):
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                source = _Source(path, origin, read_toml(path))
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
        if merged.get("name", name) != name:
            raise MhbenchError(
                f"name '{merged.get('name')}' differs from the file name.",
                path=source.path,
                key="name",
                fix=f"set name = \"{name}\" or rename the file.",
            )
        merged["name"] = name
        return ProfileEntry(name, source.path, source.origin, validate_profile(merged, source.path), None)
    except MhbenchError as error:
        return ProfileEntry(name, source.path, source.origin, None, error)


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
        model = _known_keys(model).get(part) if model is not None else None
    if model is None or parts[-1] not in model.model_fields:
        return False
    annotation = model.model_fields[parts[-1]].annotation
    return getattr(annotation, "__origin__", None) is tuple


def _locate(key: str, source: str) -> list[str]:
    parts = key.split(".")
    sections = _known_keys(Profile)
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
