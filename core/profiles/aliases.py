"""Where a key the schema does not know belongs: other tools' names, flat keys and typos.

Newcomers write profiles the way swift's command line and other tools' YAML spell
the flags, and often flat, without sections. These tables turn such a key into the
section and name mhbench uses, so the error can give the line to write instead.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from core.profiles import schema

SWIFT_NAMES: dict[str, tuple[str, str]] = {
    "per_device_train_batch_size": ("train", "batch_size"),
    "train_batch_size": ("train", "batch_size"),
    "gradient_accumulation_steps": ("train", "grad_accum"),
    "num_train_epochs": ("train", "epochs"),
    "lr": ("train", "learning_rate"),
    "torch_dtype": ("train", "dtype"),
    "attn_implementation": ("train", "attn_impl"),
    "lora_r": ("lora", "rank"),
    "lora_rank": ("lora", "rank"),
    "lora_alpha": ("lora", "alpha"),
    "lora_dropout": ("lora", "dropout"),
    "lora_target_modules": ("lora", "target_modules"),
    "train_type": ("lora", "tuner"),
    "tuner_type": ("lora", "tuner"),
    "model_id": ("model", "id"),
    "model_id_or_path": ("model", "id"),
    "model_name_or_path": ("model", "id"),
    "model_type": ("model", "family"),
    "system": ("model", "default_system"),
    "tensor_parallel_size": ("deploy", "tensor_parallel"),
}
"""swift ``sft``/``deploy`` flags (and Hugging Face ``TrainingArguments``) → mhbench's section and key."""

PASSED_THROUGH = frozenset(
    {
        "lr_scheduler_type",
        "weight_decay",
        "max_grad_norm",
        "warmup_steps",
        "optim",
        "adam_beta1",
        "adam_beta2",
        "eval_strategy",
        "save_strategy",
        "neftune_noise_alpha",
        "lora_bias",
        "use_rslora",
        "use_dora",
    }
)
"""swift flags that have no key of their own: they go verbatim into ``[train] extra_args``."""

How = Literal["swift", "flat", "joined", "typo", "section", "top"]


@dataclass(frozen=True)
class Home:
    """Where a key belongs: ``("train", "batch_size")``, or ``("description",)`` at the top level."""

    key: tuple[str, ...]
    how: How
    """``swift`` (its flag name), ``flat`` (same name, other place), ``joined`` (``lora_rank``),
    ``typo``/``section``/``top`` (a close spelling: of a section key, a section name, a top-level key)."""

    @property
    def written(self) -> str:
        """The key as a reader finds it in a file: ``[train] batch_size``, or ``description``."""
        return f"[{self.key[0]}] {self.key[1]}" if len(self.key) == 2 else self.key[0]


def _sections() -> dict[str, tuple[str, ...]]:
    return {
        name: tuple(model.model_fields)
        for name, model in schema._known_keys(schema.Profile).items()
        if model is not None and model is not schema.Range
    }


def home_of(name: str) -> Home | None:
    """Where ``name`` surely belongs, when it is not a key of the place it was written in."""
    if name in SWIFT_NAMES:
        return Home(SWIFT_NAMES[name], "swift")
    sections = _sections()
    if name in schema.Profile.model_fields and name not in sections:
        return Home((name,), "flat")  # a top-level key written after a [section] header
    owners = [section for section, keys in sections.items() if name in keys]
    if len(owners) == 1:
        return Home((owners[0], name), "flat")
    for section, keys in sections.items():
        rest = name.removeprefix(f"{section}_")
        if rest != name and rest in keys:
            return Home((section, rest), "joined")
    return None


def closest(name: str, here: str | None, *, is_table: bool = False) -> Home | None:
    """The nearest spelling for a typo: first in the section it was written in, then anywhere."""
    sections = _sections()
    if here is not None:
        close = difflib.get_close_matches(name, sections.get(here, ()), n=1, cutoff=0.6)
        if close:
            return Home((here, close[0]), "typo")
    if is_table:
        close = difflib.get_close_matches(name, sections, n=1, cutoff=0.6)
        return Home((close[0],), "section") if close else None
    spellings: dict[str, Home] = {}
    for section, keys in sections.items():
        for key in keys:
            spellings.setdefault(key, Home((section, key), "typo"))
            spellings.setdefault(f"{section}_{key}", Home((section, key), "typo"))
    for alias, target in SWIFT_NAMES.items():
        spellings.setdefault(alias, Home(target, "typo"))
    if here is None:
        for key in schema.Profile.model_fields:
            spellings[key] = Home((key,), "section" if key in sections else "top")
    close = difflib.get_close_matches(name, spellings, n=1, cutoff=0.6)
    return spellings[close[0]] if close else None
