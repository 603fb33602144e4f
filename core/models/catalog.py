"""The model catalog: every model that can be chatted with, in the workspace's ``models`` table.

A base model, a LoRA adapter (a run's checkpoint), a merged model, a GGUF file or a
remote OpenAI-compatible endpoint each get one row with a readable id (``tiny-qwen2``,
``run-<runid>-ckpt-6``, ``tiny-llama3-merged-q8_0``) and their lineage, so an arena
result can always be traced back to the base model, the run and the checkpoint it
came from. Sizes are read from disk when an entry is read, never trusted from the
row, because files are moved, deleted and rewritten behind our back. An endpoint's
API key is never in the database: ``endpoint_keys`` names where it is (an environment
variable, or the workspace's owner-only secrets file), so nothing that lists, prints
or exports models, nor a copy of ``mhbench.db``, can leak it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args

from core.base.db import find_row, registry
from core.base.endpoint_keys import forget_key, read_keys
from core.base.errors import MhbenchError
from core.base.lineage import walk_lineage
from core.base.workspace import Workspace

ModelKind = Literal["base", "adapter", "merged", "gguf", "endpoint"]
MODEL_KINDS: tuple[ModelKind, ...] = get_args(ModelKind)
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
ADAPTER_FILES = ("adapter_config.json", *ADAPTER_WEIGHTS)


@dataclass(frozen=True)
class ModelEntry:
    """One row of the catalog. It never carries an endpoint's API key (see :func:`endpoint_api_key`)."""

    id: str
    kind: ModelKind
    name: str
    path: Path | None
    url: str | None
    served_name: str | None
    base_id: str | None
    """The base model this one was trained from (adapters, merged models, their GGUFs)."""
    parent_id: str | None
    """The model this one was made from: adapter → base, merged → adapter, GGUF → merged or GGUF f16."""
    run_id: str | None
    checkpoint: str | None
    adapter_sha256: str | None
    quant: str | None
    """``F16``, ``Q8_0``, ``Q4_K_M``… for GGUF files."""
    converter_version: str | None
    profile: str | None
    template: str | None
    size_bytes: int | None
    """Bytes on disk now (``None`` for endpoints, hub-only bases and missing files)."""
    lineage: Mapping[str, Any] = field(default_factory=dict)
    created_at: str = ""
    missing: bool = False
    """A local model whose files were gone when the row was read (checked once, off the UI thread)."""

    @property
    def location(self) -> str:
        """Where the model is: its path, its URL, or the hub id of a base not downloaded here."""
        if self.path is not None:
            return str(self.path)
        if self.url is not None:
            return self.url
        return str(self.lineage.get("model_id", ""))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, for ``mhbench models --json`` and exports."""
        return {
            "id": self.id, "kind": self.kind, "name": self.name,
            "path": str(self.path) if self.path is not None else None,
            "url": self.url, "served_name": self.served_name, "base_id": self.base_id, "parent_id": self.parent_id,
            "run_id": self.run_id, "checkpoint": self.checkpoint, "adapter_sha256": self.adapter_sha256,
            "quant": self.quant, "converter_version": self.converter_version, "profile": self.profile,
            "template": self.template, "size_bytes": self.size_bytes, "lineage": dict(self.lineage),
            "created_at": self.created_at, "missing": self.missing,
        }

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ModelEntry:
        kind = cast(ModelKind, row["kind"])
        path = Path(row["path"]) if row["path"] else None
        return cls(
            id=row["id"], kind=kind, name=row["name"], path=path, url=row["url"], served_name=row["served_name"],
            base_id=row["base_id"], parent_id=row["parent_id"], run_id=row["run_id"], checkpoint=row["checkpoint"],
            adapter_sha256=row["adapter_sha256"], quant=row["quant"], converter_version=row["converter_version"],
            profile=row["profile"], template=row["template"], size_bytes=model_size(kind, path),
            lineage=json.loads(row["lineage"] or "{}"), created_at=row["created_at"],
            missing=path is not None and not path.exists(),
        )


# --- sizes and hashes ----------------------------------------------------------------------------


def directory_size(path: Path) -> int:
    """Bytes of every regular file under ``path`` (symlinks are not followed, so nothing counts twice)."""
    total = 0
    stack = [path]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


def model_size(kind: str, path: Path | None) -> int | None:
    """What the model costs on disk: the adapter files of a checkpoint (not its optimizer state), else everything."""
    if path is None:
        return None
    try:
        if path.is_file():
            return path.stat().st_size
        if not path.is_dir():
            return None
        if kind == "adapter":
            return sum((path / name).stat().st_size for name in ADAPTER_FILES if (path / name).is_file())
        return directory_size(path)
    except OSError:
        return None


def format_size(size: int | None) -> str:
    """``11.6 MB``: decimal units, as disks are sold; ``–`` when unknown."""
    if size is None:
        return "–"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- ids -----------------------------------------------------------------------------------------


def slugify(text: str) -> str:
    """A readable id fragment: lower case, letters, digits, ``.``, ``_`` and ``-``."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")
    return re.sub(r"-{2,}", "-", slug)[:80] or "model"


def unique_id(connection: sqlite3.Connection, wanted: str, taken: frozenset[str] = frozenset()) -> str:
    """``wanted`` slugified, with ``-2``, ``-3``… when the catalog (or ``taken``) already has it."""
    base = slugify(wanted)
    candidate, n = base, 1
    while candidate in taken or connection.execute("SELECT 1 FROM models WHERE id = ?", (candidate,)).fetchone():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def catalog_path(path: str | os.PathLike[str]) -> Path:
    """A path as the catalog stores it: ``~`` expanded, absolute, links resolved (so one folder is one entry)."""
    return Path(path).expanduser().resolve()


# --- reading -------------------------------------------------------------------------------------


def find_by_path(workspace: Workspace, path: Path) -> ModelEntry | None:
    """The entry whose weights are at ``path`` (give it as :func:`catalog_path` makes it), else ``None``."""
    with registry(workspace) as connection:
        row = connection.execute("SELECT * FROM models WHERE path = ?", (str(path),)).fetchone()
    return ModelEntry.from_row(row) if row is not None else None


def endpoint_api_key(workspace: Workspace, model_id: str) -> str | None:
    """The endpoint's API key, for the client that calls it; ``None`` when it needs none.

    Read where ``endpoint_keys`` says it is: the environment variable it names (read now, in
    this process), else the workspace's secrets file.
    """
    entry = get_model(workspace, model_id)
    with registry(workspace) as connection:
        row = connection.execute("SELECT env FROM endpoint_keys WHERE model_id = ?", (entry.id,)).fetchone()
    if row is None:
        return None
    if row["env"] is not None:
        key = os.environ.get(row["env"])
        if not key:
            raise MhbenchError(f"endpoint {entry.id} reads its API key from ${row['env']}, which is not set here.",
                               fix=f"export {row['env']}=… in the shell that starts mhbench (or `mhbench web`).")
        return key
    key = read_keys(workspace.root).get(entry.id)
    if key is None:
        raise MhbenchError(f"endpoint {entry.id}'s API key is missing from the workspace's secrets file.",
                           fix=f"register it again: `mhbench models --endpoint {entry.name} {entry.url} "
                               "--api-key-stdin` (or --api-key-env VAR).")
    return key


def list_models(workspace: Workspace, kind: ModelKind | None = None) -> list[ModelEntry]:
    """Every model, oldest first (bases before what was made from them)."""
    if not workspace.db_path.is_file():
        return []
    with registry(workspace) as connection:
        if kind is None:
            rows = connection.execute("SELECT * FROM models ORDER BY created_at, id").fetchall()
        else:
            rows = connection.execute("SELECT * FROM models WHERE kind = ? ORDER BY created_at, id", (kind,)).fetchall()
    return [ModelEntry.from_row(row) for row in rows]


def get_model(workspace: Workspace, ref: str) -> ModelEntry:
    """A model by id, name, path, or a unique id prefix; a miss suggests the closest id."""
    with registry(workspace) as connection:
        alternates = [("name", ref)]
        if "/" in ref or ref.startswith("."):
            alternates.append(("path", str(catalog_path(ref))))
        row = find_row(connection, "models", ref, noun="model", listing="`mhbench models`", alternates=tuple(alternates))
    return ModelEntry.from_row(row)


def ancestry(workspace: Workspace, ref: str) -> list[ModelEntry]:
    """The model's ancestors by ``parent_id``, oldest (the base) first, then the model itself."""
    start = get_model(workspace, ref)
    with registry(workspace) as connection:
        def parent(model_id: str) -> ModelEntry | None:
            row = connection.execute("SELECT * FROM models WHERE id = ?", (model_id,)).fetchone()
            return ModelEntry.from_row(row) if row is not None else None

        return walk_lineage(start, parent)


def remove_model(workspace: Workspace, ref: str, *, delete_files: bool = False) -> ModelEntry:
    """Drop a model from the catalog; with ``delete_files``, also its files when mhbench made them.

    Only files under the workspace's ``models/`` are ever deleted: a run's checkpoint or a
    base model elsewhere on disk belongs to someone else.
    """
    import shutil

    entry = get_model(workspace, ref)
    with registry(workspace) as connection:
        busy = connection.execute(
            "SELECT id FROM jobs WHERE source_id = ? AND status IN ('starting', 'running', 'stopping')", (entry.id,)
        ).fetchone()
        if busy is not None:
            raise MhbenchError(f"job {busy['id']} is still working on {entry.id}.", fix="wait for it or stop it first.")
        connection.execute("DELETE FROM models WHERE id = ?", (entry.id,))
    forget_key(workspace.root, entry.id)
    if delete_files and entry.path is not None and entry.path.exists():
        models_dir = workspace.models_dir.resolve()
        if models_dir not in entry.path.parents:
            raise MhbenchError(f"removed {entry.id} from the catalog but kept its files: they are not under models/.",
                               path=entry.path, fix="delete them yourself if you mean to.")
        if entry.path.is_dir():
            shutil.rmtree(entry.path)
        else:
            entry.path.unlink()
    return entry
