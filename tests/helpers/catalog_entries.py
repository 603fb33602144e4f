"""Catalog rows made in memory, for the Models screen's panes and keys without a workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.models.catalog import ModelEntry


def entry(model_id: str, kind: Any, parent: str | None = None, base: str | None = None, **more: Any) -> ModelEntry:
    """A catalog row of ``kind`` under /models, every field not given left empty."""
    fields: dict[str, Any] = dict(
        name=model_id, path=Path("/models") / model_id, url=None, served_name=None, base_id=base, parent_id=parent,
        run_id=None, checkpoint=None, adapter_sha256=None, quant=None, converter_version=None, profile=None,
        template=None, size_bytes=None,
    )
    fields.update(more)
    return ModelEntry(id=model_id, kind=kind, **fields)
