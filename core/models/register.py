"""Registering models in the catalog: one function per kind, each idempotent by path.

Every registration links the new entry to what it was made from (``base_id``,
``parent_id``, the run and the checkpoint) and records the rest of its lineage as
JSON, so a model in the arena can always be traced back to its base and its run.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from core.base.db import registry, write_transaction
from core.base.endpoint_keys import forget_key, store_key
from core.base.errors import MhbenchError
from core.base.processes import utc_now
from core.base.workspace import Workspace
from core.models.catalog import (
    ADAPTER_WEIGHTS,
    ModelEntry,
    ModelKind,
    catalog_path,
    file_sha256,
    find_by_path,
    get_model,
    model_size,
    unique_id,
)
from core.models.gguf import gguf_quant
from core.profiles import Profile, find_profile, load_profiles


@dataclass(frozen=True)
class _New:
    """A row to insert; ``wanted_id`` is made unique inside the insert's transaction."""

    kind: ModelKind
    wanted_id: str
    name: str
    path: Path | None = None
    url: str | None = None
    served_name: str | None = None
    base_id: str | None = None
    parent_id: str | None = None
    run_id: str | None = None
    checkpoint: str | None = None
    adapter_sha256: str | None = None
    quant: str | None = None
    converter_version: str | None = None
    profile: str | None = None
    template: str | None = None
    lineage: Mapping[str, Any] = field(default_factory=dict)


def _insert(workspace: Workspace, new: _New, *, key: EndpointKey | None = None) -> ModelEntry:
    """Insert the row, or return the entry already registered at the same path (registration is idempotent)."""
    workspace.make_folders()
    with write_transaction(workspace) as connection:
        if new.path is not None:
            row = connection.execute("SELECT * FROM models WHERE path = ?", (str(new.path),)).fetchone()
            if row is not None:
                # Fill in what an earlier, less informed registration (a discover) did not know.
                connection.execute(
                    "UPDATE models SET base_id = COALESCE(base_id, ?), parent_id = COALESCE(parent_id, ?), "
                    "run_id = COALESCE(run_id, ?), profile = COALESCE(profile, ?), template = COALESCE(template, ?) "
                    "WHERE id = ?",
                    (new.base_id, new.parent_id, new.run_id, new.profile, new.template, row["id"]),
                )
                return ModelEntry.from_row(connection.execute("SELECT * FROM models WHERE id = ?", (row["id"],)).fetchone())
        model_id = unique_id(connection, new.wanted_id)
        connection.execute(
            """INSERT INTO models (id, kind, name, path, url, served_name, base_id, parent_id, run_id, checkpoint,
                                   adapter_sha256, quant, converter_version, profile, template, size_bytes, lineage,
                                   created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                model_id, new.kind, new.name, str(new.path) if new.path is not None else None, new.url,
                new.served_name, new.base_id, new.parent_id, new.run_id, new.checkpoint, new.adapter_sha256,
                new.quant, new.converter_version, new.profile, new.template, model_size(new.kind, new.path),
                json.dumps(dict(new.lineage), ensure_ascii=False), utc_now(),
            ),
        )
        if key is not None:
            key.record(workspace, connection, model_id)
        row = connection.execute("SELECT * FROM models WHERE id = ?", (model_id,)).fetchone()
    return ModelEntry.from_row(row)


def _load_profile(workspace: Workspace, name: str) -> Profile:
    return find_profile(load_profiles(workspace.profiles_dir), name)


def register_base(
    workspace: Workspace,
    profile_or_path: Profile | str | os.PathLike[str],
    *,
    name: str | None = None,
    profile: str | None = None,
    template: str | None = None,
) -> ModelEntry:
    """Register a base model: a profile (by object or name) or a local Hugging Face folder.

    A profile whose model lives on a hub and is not downloaded here gets an entry without a
    path, so runs and arena sessions can still name it.
    """

    chosen: Profile | None = profile_or_path if isinstance(profile_or_path, Profile) else None
    path: Path | None = None
    if chosen is None:
        candidate = catalog_path(cast("str | os.PathLike[str]", profile_or_path))
        if candidate.is_dir():
            path = candidate
        elif candidate.exists():
            raise MhbenchError("a base model is a folder with config.json, not a file.", path=candidate,
                               fix="give the model's folder, or register a GGUF file with `register_gguf`.")
        else:
            chosen = _load_profile(workspace, str(profile_or_path))
    hub_id: str | None = None
    if chosen is not None:
        profile = profile or chosen.name
        template = template or chosen.model.template
        local = catalog_path(chosen.model.id)
        if chosen.model.hub == "local" or local.is_dir():
            path = local
        else:
            hub_id = chosen.model.id
    if path is not None and not (path / "config.json").is_file():
        raise MhbenchError("not a Hugging Face model folder (no config.json).", path=path,
                           fix="point at the folder that holds config.json and the weights.")
    if path is not None:
        label = name or path.name
        lineage: dict[str, Any] = {"source": "local", "path": str(path)}
    else:
        assert hub_id is not None and chosen is not None
        existing = _hub_base(workspace, chosen.name)
        if existing is not None:
            return existing
        label = name or hub_id.rstrip("/").split("/")[-1]
        lineage = {"source": chosen.model.hub, "model_id": hub_id}
    return _insert(workspace, _New("base", label, label, path=path, profile=profile, template=template, lineage=lineage))


def _hub_base(workspace: Workspace, profile: str) -> ModelEntry | None:
    with registry(workspace) as connection:
        row = connection.execute(
            "SELECT * FROM models WHERE kind = 'base' AND path IS NULL AND profile = ?", (profile,)
        ).fetchone()
    return ModelEntry.from_row(row) if row is not None else None


def read_adapter_config(checkpoint_dir: Path) -> dict[str, Any]:
    config_file = checkpoint_dir / "adapter_config.json"
    try:
        data = json.loads(config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MhbenchError("not a LoRA checkpoint (no adapter_config.json).", path=checkpoint_dir,
                           fix="give a checkpoint-N folder of a finished or stopped run.") from None
    except (OSError, ValueError) as error:
        raise MhbenchError(f"cannot read adapter_config.json: {error}.", path=config_file,
                           fix="the checkpoint is damaged; pick another one.") from None
    if not isinstance(data, dict):
        raise MhbenchError("adapter_config.json is not a JSON object.", path=config_file, fix="pick another checkpoint.")
    return data


def _run_of(workspace: Workspace, checkpoint_dir: Path) -> tuple[str | None, str | None]:
    """The run a checkpoint belongs to (``runs/<id>/output/checkpoint-N``) and the run's profile."""
    parts = checkpoint_dir.parts
    runs = workspace.runs_dir.resolve().parts
    run_id = parts[len(runs)] if parts[: len(runs)] == runs and len(parts) > len(runs) else None
    if run_id is None:
        return None, None
    with registry(workspace) as connection:
        row = connection.execute("SELECT profile FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is not None:
        return run_id, str(row["profile"])
    try:
        spec = json.loads((workspace.runs_dir / run_id / "run.json").read_text(encoding="utf-8"))
        return run_id, spec.get("profile")
    except (OSError, ValueError):
        return run_id, None


def register_adapter(
    workspace: Workspace, checkpoint_dir: str | os.PathLike[str], run_id: str | None = None, *, name: str | None = None
) -> ModelEntry:
    """Register a LoRA checkpoint, linked to its base model (read from ``adapter_config.json``) and its run."""
    path = catalog_path(checkpoint_dir)
    config = read_adapter_config(path)
    existing = find_by_path(workspace, path)
    if existing is not None and existing.kind == "adapter" and existing.base_id is not None:
        return existing
    found_run, profile_name = _run_of(workspace, path)
    run_id = run_id or found_run
    weights = next((path / w for w in ADAPTER_WEIGHTS if (path / w).is_file()), None)
    if weights is None:
        raise MhbenchError("the checkpoint has no adapter weights (adapter_model.safetensors).", path=path,
                           fix="the save was interrupted; pick an earlier checkpoint.")
    base = _base_for_adapter(workspace, config, profile_name)
    step_match = re.fullmatch(r"checkpoint-(\d+)", path.name)
    step = int(step_match.group(1)) if step_match else None
    if name is not None:
        wanted = name
    elif run_id is not None:
        wanted = f"run-{run_id}-ckpt-{step}" if step is not None else f"run-{run_id}-{path.name}"
    else:
        wanted = f"{path.parent.name}-{path.name}" if step is not None else path.name
    template = base.template if base is not None else None
    if profile_name and template is None:
        try:
            template = _load_profile(workspace, profile_name).model.template
        except MhbenchError:
            template = None
    lineage = {
        "base_model": config.get("base_model_name_or_path"), "run": run_id, "step": step,
        "tuner": str(config.get("peft_type", "LORA")).lower(), "rank": config.get("r"),
        "alpha": config.get("lora_alpha"), "profile": profile_name,
    }
    return _insert(workspace, _New(
        "adapter", wanted, name or wanted, path=path, base_id=base.id if base else None,
        parent_id=base.id if base else None, run_id=run_id, checkpoint=str(path), adapter_sha256=file_sha256(weights),
        profile=profile_name, template=template, lineage=lineage,
    ))


def _base_for_adapter(workspace: Workspace, config: Mapping[str, Any], profile_name: str | None) -> ModelEntry | None:
    """The base entry an adapter was trained on: by its recorded path, else by its run's profile."""
    base_ref = config.get("base_model_name_or_path")
    if isinstance(base_ref, str) and base_ref:
        base_path = catalog_path(base_ref)
        known = find_by_path(workspace, base_path)
        if known is not None:
            return known
        if (base_path / "config.json").is_file():
            label = None
            if profile_name:
                try:
                    label = _load_profile(workspace, profile_name).model.id.rstrip("/").split("/")[-1]
                except MhbenchError:
                    label = None
            return register_base(workspace, base_path, name=label, profile=profile_name)
    if profile_name:
        try:
            return register_base(workspace, _load_profile(workspace, profile_name))
        except MhbenchError:
            return None
    return None


def register_merged(
    workspace: Workspace,
    path: str | os.PathLike[str],
    adapter_id: str | None = None,
    *,
    base_id: str | None = None,
    run_id: str | None = None,
    name: str | None = None,
    lineage: Mapping[str, Any] | None = None,
) -> ModelEntry:
    """Register a merged model folder (``swift export --merge_lora``), linked to its adapter and base.

    ``base_id`` and ``run_id`` are for a merged folder whose adapter is unknown (found on
    disk); with an adapter they come from it.
    """
    folder = catalog_path(path)
    if not (folder / "config.json").is_file():
        raise MhbenchError("not a merged model folder (no config.json).", path=folder,
                           fix="wait for the merge job to finish, or give the folder swift export wrote.")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    quantisation = config.get("quantization_config") if isinstance(config, dict) else None
    if quantisation:
        method = quantisation.get("quant_method", "?") if isinstance(quantisation, dict) else "?"
        raise MhbenchError(
            f"the merged model is quantised ({method}), not a plain "
            "merge: GGUF conversion and vLLM would refuse it.", path=folder / "config.json",
            fix="merge again with mhbench (`--load_args false` and the base's dtype); a QLoRA checkpoint's saved "
            "arguments otherwise re-quantise the merge.")
    adapter = get_model(workspace, adapter_id) if adapter_id else None
    base = get_model(workspace, base_id) if base_id and adapter is None else None
    label = name or folder.name
    return _insert(workspace, _New(
        "merged", label, label, path=folder, base_id=adapter.base_id if adapter else base_id,
        parent_id=adapter.id if adapter else base_id, run_id=adapter.run_id if adapter else run_id,
        checkpoint=adapter.checkpoint if adapter else None,
        adapter_sha256=adapter.adapter_sha256 if adapter else None,
        profile=adapter.profile if adapter else (base.profile if base else None),
        template=adapter.template if adapter else (base.template if base else None), lineage=dict(lineage or {}),
    ))


def register_gguf(
    workspace: Workspace,
    path: str | os.PathLike[str],
    parent_id: str | None = None,
    quant: str | None = None,
    converter_version: str | None = None,
    *,
    name: str | None = None,
    lineage: Mapping[str, Any] | None = None,
) -> ModelEntry:
    """Register a GGUF file; its quantisation is read from the file when not given."""

    file = catalog_path(path)
    if not file.is_file():
        raise MhbenchError("no such GGUF file.", path=file, fix="check the path.")
    parent = get_model(workspace, parent_id) if parent_id else None
    quant = (quant or gguf_quant(file) or "").upper() or None
    label = name or file.stem
    return _insert(workspace, _New(
        "gguf", label, label, path=file, base_id=parent.base_id if parent else None,
        parent_id=parent.id if parent else None, run_id=parent.run_id if parent else None,
        checkpoint=parent.checkpoint if parent else None,
        adapter_sha256=parent.adapter_sha256 if parent else None, quant=quant,
        converter_version=converter_version or (parent.converter_version if parent else None),
        profile=parent.profile if parent else None, template=parent.template if parent else None,
        lineage=dict(lineage or {}),
    ))


@dataclass(frozen=True)
class EndpointKey:
    """Where an endpoint's API key is: the name of an environment variable, or the key itself for the secrets file."""

    env: str | None = None
    value: str | None = field(default=None, repr=False)

    def record(self, workspace: Workspace, connection: sqlite3.Connection, model_id: str) -> None:
        """Note where the key is (never the key) in ``endpoint_keys``; a key given by value goes to the secrets file."""
        if self.value is not None:
            store_key(workspace.root, model_id, self.value)
        else:
            forget_key(workspace.root, model_id)
        connection.execute("INSERT INTO endpoint_keys (model_id, env) VALUES (?, ?) "
                           "ON CONFLICT(model_id) DO UPDATE SET env = excluded.env", (model_id, self.env))


def register_endpoint(
    workspace: Workspace, name: str, url: str, api_key: str | None = None, served_name: str | None = None,
    *, api_key_env: str | None = None,
) -> ModelEntry:
    """Register a remote OpenAI-compatible endpoint.

    Its key never enters the database: ``api_key`` goes to the workspace's owner-only secrets
    file, ``api_key_env`` is the name of the variable to read it from at each call.
    """
    if api_key and api_key_env:
        raise MhbenchError("an endpoint's key is given by value or by variable, not both.",
                           fix="give --api-key-env VAR or --api-key-stdin.")
    if api_key_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", api_key_env):
        raise MhbenchError(f"'{api_key_env}' is not an environment variable's name.",
                           fix="give the variable's name, e.g. --api-key-env OPENAI_API_KEY (not its value).")
    key = EndpointKey(env=api_key_env, value=api_key or None) if (api_key or api_key_env) else None
    if not re.match(r"^https?://[^\s/]+", url):
        raise MhbenchError(f"'{url}' is not an http(s) URL.", fix="give the server's base URL, e.g. http://host:8000/v1.")
    url, served_name = url.rstrip("/"), served_name or name
    workspace.make_folders()
    with write_transaction(workspace) as connection:
        row = connection.execute(
            "SELECT * FROM models WHERE kind = 'endpoint' AND url = ? AND served_name = ?", (url, served_name)
        ).fetchone()
        if row is not None:  # the same endpoint again: a new key replaces the old one
            if key is not None:
                key.record(workspace, connection, row["id"])
            return ModelEntry.from_row(row)
    entry = _New("endpoint", name, name, url=url, served_name=served_name, lineage={"source": "endpoint"})
    return _insert(workspace, entry, key=key)



def note_in_lineage(workspace: Workspace, ref: str, key: str, value: Any) -> ModelEntry:
    """Record a fact about a model (a parity result, say) in its lineage."""

    model_id = get_model(workspace, ref).id
    with write_transaction(workspace) as connection:
        row = connection.execute("SELECT lineage FROM models WHERE id = ?", (model_id,)).fetchone()
        lineage = {**json.loads(row["lineage"] or "{}"), key: value}
        connection.execute("UPDATE models SET lineage = ? WHERE id = ?", (json.dumps(lineage, ensure_ascii=False),
                                                                         model_id))
    return get_model(workspace, model_id)
