"""The model catalog: bases, adapters, merged models, GGUF files and endpoints, with their lineage.

``catalog`` reads the registry (the ``models`` table), ``register`` adds to it,
``discovery`` finds models on disk, ``gguf`` holds the facts of GGUF conversion and
quantisation. Merging, converting and
quantising run as detached jobs in :mod:`core.models.jobs`; template parity is :mod:`core.models.parity`.
"""

from __future__ import annotations

from core.models.catalog import (
    MODEL_KINDS,
    ModelEntry,
    ModelKind,
    ancestry,
    endpoint_api_key,
    file_sha256,
    format_size,
    get_model,
    list_models,
    model_size,
    remove_model,
    slugify,
)
from core.models.discovery import discover
from core.models.gguf import QUANT_TYPES
from core.models.register import (
    register_adapter,
    register_base,
    register_endpoint,
    register_gguf,
    register_merged,
)

__all__ = [
    "MODEL_KINDS",
    "QUANT_TYPES",
    "ModelEntry",
    "ModelKind",
    "ancestry",
    "discover",
    "endpoint_api_key",
    "file_sha256",
    "format_size",
    "get_model",
    "list_models",
    "model_size",
    "register_adapter",
    "register_base",
    "register_endpoint",
    "register_gguf",
    "register_merged",
    "remove_model",
    "slugify",
]
