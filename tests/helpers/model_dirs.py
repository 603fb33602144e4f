"""Model folders on disk that look like the real thing to the catalog: a Hugging Face model and a LoRA adapter."""

from __future__ import annotations

import json
from pathlib import Path


def make_hf_dir(path: Path, weights: int = 1000) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": "llama"}), encoding="utf-8")
    (path / "model.safetensors").write_bytes(b"\0" * weights)
    return path


def make_adapter(path: Path, base: Path, weights: int = 300, optimizer: int = 5000) -> Path:
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": str(base), "peft_type": "LORA", "r": 8, "lora_alpha": 32}),
        encoding="utf-8",
    )
    (path / "adapter_model.safetensors").write_bytes(b"\1" * weights)
    (path / "optimizer.pt").write_bytes(b"\2" * optimizer)
    return path
