"""Find models on disk that the catalog does not know yet, and register them with their lineage.

Runs save checkpoints, people copy merged models and GGUF files into ``models/`` by hand,
and a catalog rebuilt after a lost database must come back the same. Discovery walks
the workspace (and any extra folders), registers only what is new, and is safe to run
at every start of the Models screen: a second pass changes nothing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.base.db import registry
from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from core.models.catalog import ModelEntry, catalog_path, find_by_path, list_models
from core.models.register import register_adapter, register_base, register_gguf, register_merged
from core.train.runs import ACTIVE_STATUSES, checkpoints_on_disk


def _is_adapter(path: Path) -> bool:
    return (path / "adapter_config.json").is_file()


def _is_hf_model(path: Path) -> bool:
    return (path / "config.json").is_file()


@dataclass(frozen=True)
class _MergedOrigin:
    """What a folder written by ``swift export --merge_lora`` says about where it came from."""

    base: Path | None
    adapter: Path | None
    run_id: str | None


def _merged_origin(workspace: Workspace, path: Path) -> _MergedOrigin | None:
    """``None`` unless the folder is a merged LoRA model.

    swift 4.6 copies the *training* ``args.json`` into the merged folder: ``model`` is the
    base, ``tuner_type`` (3.x: ``train_type``) says LoRA, ``output_dir`` is the run's, and
    the checkpoint is named only by the default folder name ``checkpoint-N-merged``.
    """
    try:
        args = json.loads((path / "args.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(args, dict):
        return None
    tuner = args.get("tuner_type", args.get("train_type"))
    if tuner in (None, "full") and not args.get("merge_lora"):
        return None
    model = args.get("model")
    base = catalog_path(model) if isinstance(model, str) and (catalog_path(model) / "config.json").is_file() else None
    adapter: Path | None = None
    adapters = args.get("adapters")
    if isinstance(adapters, list) and adapters and isinstance(adapters[0], str) and _is_adapter(catalog_path(adapters[0])):
        adapter = catalog_path(adapters[0])
    named = re.fullmatch(r"(checkpoint-\d+)-merged", path.name)
    if adapter is None and named and _is_adapter(path.parent / named.group(1)):
        adapter = path.parent / named.group(1)
    run_id = None
    output = args.get("output_dir")
    if isinstance(output, str):
        runs = workspace.runs_dir.resolve()
        output_path = catalog_path(output)
        if runs in output_path.parents:
            run_id = output_path.relative_to(runs).parts[0]
    return _MergedOrigin(base, adapter, run_id)


def _register_folder(workspace: Workspace, path: Path) -> ModelEntry | None:
    """Register one model folder by what it holds; ``None`` for a folder that is not a model."""
    if _is_adapter(path):
        return register_adapter(workspace, path)
    if not _is_hf_model(path):
        return None
    origin = _merged_origin(workspace, path)
    if origin is None:
        return register_base(workspace, path)
    lineage: dict[str, str] = {"tool": "swift export", "found": "on disk"}
    if origin.adapter is not None:
        adapter = register_adapter(workspace, origin.adapter)
        lineage["adapter"] = adapter.id
        return register_merged(workspace, path, adapter.id, lineage=lineage)
    base_id = register_base(workspace, origin.base).id if origin.base is not None else None
    return register_merged(workspace, path, base_id=base_id, run_id=origin.run_id, lineage=lineage)


def _run_output_dirs(workspace: Workspace) -> tuple[list[Path], set[Path]]:
    """Every run's output folder, and those of runs still training (whose newest checkpoint may be half saved)."""
    found = {path.resolve() for path in workspace.runs_dir.glob("*/output") if path.is_dir()}
    active: set[Path] = set()
    with registry(workspace) as connection:
        for row in connection.execute("SELECT output_dir, status FROM runs").fetchall():
            output = Path(row["output_dir"])
            if output.is_dir():
                found.add(output.resolve())
                if row["status"] in ("starting", "running", "stopping"):
                    active.add(output.resolve())
    return sorted(found), active


def _candidates(root: Path) -> Iterable[Path]:
    """``root`` itself, its direct children, and every ``*.gguf`` below it (models are shallow, GGUFs anywhere)."""
    yield root
    if root.is_dir():
        try:
            children = sorted(root.iterdir())
        except OSError:
            return
        yield from (child for child in children if child.is_dir())
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in sorted(filenames):
                if filename.endswith(".gguf"):
                    yield Path(dirpath) / filename


def discover(workspace: Workspace, extra_paths: Iterable[str | os.PathLike[str]] = ()) -> list[ModelEntry]:
    """Register every model found on disk that the catalog lacks; returns only the new entries.

    Looks at ``runs/*/output/checkpoint-*`` (adapters, linked to the run and the base in
    ``adapter_config.json``, and the ``checkpoint-N-merged`` folders a bare ``swift export``
    leaves beside them), ``models/*`` (Hugging Face folders: bases, or merged models
    when the ``args.json`` swift copies into them says LoRA), every ``*.gguf`` under ``models/``, and
    the same inside ``extra_paths``. A folder or file that cannot be read is skipped, so
    one broken checkpoint never hides the rest; the newest checkpoint of a run still
    training waits for the next pass, as swift may be writing it.
    """
    workspace.make_folders()
    before = {entry.id for entry in list_models(workspace)}
    seen: set[Path] = set()

    def consider(path: Path) -> None:
        path = catalog_path(path)
        if path in seen:
            return
        seen.add(path)
        if find_by_path(workspace, path) is not None:
            return
        try:
            if path.is_file() and path.suffix == ".gguf":
                register_gguf(workspace, path)
            elif path.is_dir():
                _register_folder(workspace, path)
        except MhbenchError:
            pass  # unreadable: skipped, the rest goes on

    outputs, training = _run_output_dirs(workspace)
    for output in outputs:
        found = checkpoints_on_disk(output)
        if output in training:
            found = found[:-1]  # the newest may still be being written; the next discover takes it
        for _step, checkpoint in found:
            if _is_adapter(checkpoint):
                consider(checkpoint)
        # `swift export --merge_lora` without --output_dir writes checkpoint-N-merged beside the checkpoint.
        for merged in sorted(output.glob("checkpoint-*-merged")):
            if _is_hf_model(merged):
                consider(merged)
    roots = [workspace.models_dir, *(catalog_path(p) for p in extra_paths)]
    for root in roots:
        if root.is_file():
            consider(root)
            continue
        for candidate in _candidates(root):
            if candidate == workspace.models_dir.resolve() or candidate == workspace.models_dir:
                continue
            if candidate.is_file() or _is_adapter(candidate) or _is_hf_model(candidate):
                consider(candidate)
    return [entry for entry in list_models(workspace) if entry.id not in before]


def register_ended_runs(workspace: Workspace) -> list[ModelEntry]:
    """Register the adapter checkpoints of runs that have ended and that the catalog lacks; returns the new entries.

    A run's supervisor records its checkpoints when swift exits, but cannot reach up into
    the catalog; this brings them in without a rescan. One query and no walk of the disk
    when nothing is new, so the Models screen calls it on every read of the catalog.
    """
    active = ", ".join("?" for _ in ACTIVE_STATUSES)
    with registry(workspace) as connection:
        rows = connection.execute(
            f"SELECT checkpoints.path, checkpoints.run_id FROM checkpoints JOIN runs ON runs.id = checkpoints.run_id "
            f"WHERE runs.status NOT IN ({active}) ORDER BY checkpoints.run_id, checkpoints.step",
            tuple(ACTIVE_STATUSES),
        ).fetchall()
        known = {row["path"] for row in connection.execute("SELECT path FROM models WHERE path IS NOT NULL")}
    new: list[ModelEntry] = []
    for row in rows:
        path = catalog_path(row["path"])
        if str(path) in known or not _is_adapter(path):
            continue
        try:
            new.append(register_adapter(workspace, path, row["run_id"]))
        except MhbenchError:
            continue  # an interrupted save: skipped, as discover skips it
    return new
