"""The model pipeline as jobs: merge (swift export), convert (to GGUF f16) and quantise.

Each checks its input, picks a free output name, and starts a job (:func:`core.models.jobs.control.start_job`).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from core.models import get_model, list_models, register_adapter, slugify
from core.models.gguf import (
    FLOAT_TYPES,
    converter_executable,
    converter_version,
    gguf_quant,
    normalise_quant,
    prepare_converter_input,
)
from core.models.jobs.control import Job, list_jobs, new_job_dir, start_job
from core.models.targets import base_location, profile_of, swift_names
from core.profiles import find_profile, load_profiles
from core.swift.dialects import TORCH_DTYPES, installed_swift_version
from core.swift.flags import installed_flag_specs, validate_argv
from core.train.runs import checkpoints_on_disk, get_run

if TYPE_CHECKING:
    from core.models import ModelEntry


def _taken_names(workspace: Workspace) -> frozenset[str]:
    """Names in use: catalogue ids, folders and files in models/, and outputs of jobs still running."""

    names = {entry.id for entry in list_models(workspace)}
    if workspace.models_dir.is_dir():
        names |= {path.name for path in workspace.models_dir.iterdir()}
        names |= {path.stem for path in workspace.models_dir.glob("*.gguf")}
    for job in list_jobs(workspace):
        if job.active and job.target_path is not None:
            names |= {job.target_path.name, job.target_path.stem}
    return frozenset(names)


def _output_name(workspace: Workspace, wanted: str, explicit: bool) -> str:
    slug = slugify(wanted)
    taken = _taken_names(workspace)
    if slug not in taken:
        return slug
    if explicit:
        raise MhbenchError(f"the name '{slug}' is already used in models/.", path=workspace.models_dir,
                           fix="choose another name, or remove the old model (`mhbench models --remove MODEL`).")
    n = 2
    while f"{slug}-{n}" in taken:
        n += 1
    return f"{slug}-{n}"


def _adapter_for(workspace: Workspace, ref: str) -> ModelEntry:
    """An adapter by catalogue ref, checkpoint folder, or run (its newest checkpoint); registered if new."""

    try:
        entry = get_model(workspace, ref)
    except MhbenchError as miss:
        path = Path(ref).expanduser()
        if path.is_dir():
            return register_adapter(workspace, path)
        try:
            run = get_run(workspace, ref)
        except MhbenchError:
            raise miss from None
        found = checkpoints_on_disk(run.output_dir)
        if not found:
            raise MhbenchError(f"run {run.id} saved no checkpoint.", path=run.output_dir,
                               fix="train longer (save_steps) or pick another run.") from None
        return register_adapter(workspace, found[-1][1], run.id)
    if entry.kind != "adapter" or entry.path is None:
        raise MhbenchError(f"{entry.id} is a {entry.kind} model, not a LoRA checkpoint.",
                           fix="merge an adapter (`mhbench models --kind adapter` lists them).")
    return entry


def _export_settings(workspace: Workspace, profile_name: str | None) -> list[str]:
    """The profile's ``[export]`` settings as swift flags; swift's defaults when the profile is gone."""
    if not profile_name:
        return []
    try:
        export = find_profile(load_profiles(workspace.profiles_dir), profile_name).export
    except MhbenchError:
        return []
    return ["--max_shard_size", export.max_shard_size.replace(" ", ""),
            "--safe_serialization", "true" if export.format == "safetensors" else "false"]


def merge_command(workspace: Workspace, adapter: ModelEntry, base: ModelEntry | None, target: Path) -> list[str]:
    """``swift export --merge_lora`` of ``adapter`` into ``target``, told what it must not read from the checkpoint.

    ``swift export`` reloads the training arguments stored beside a checkpoint; for a QLoRA
    checkpoint those say bnb 4-bit, and the "merged" model comes out quantised again, which GGUF
    conversion and vLLM then refuse. So the arguments are not loaded (``--load_args false``) and
    the model, type, template and dtype are given here. ``--device_map cpu``: a merge needs no GPU,
    and must not take one from a server or a run.
    """
    assert adapter.path is not None
    argv = ["swift", "export", "--adapters", str(adapter.path), "--merge_lora", "true", "--output_dir", str(target),
            "--device_map", "cpu"]
    profile = profile_of(workspace, adapter.profile or (base.profile if base else None))
    if base is not None and profile is not None:  # else swift's own reading of the checkpoint is all there is
        model_type, template = swift_names(profile)
        argv += ["--load_args", "false", "--model", str(base_location(workspace, base))]
        argv += ["--model_type", model_type] if model_type else []
        argv += ["--template", template] if template else []
        argv += ["--torch_dtype", TORCH_DTYPES[profile.train.dtype]]
    return [*argv, *_export_settings(workspace, adapter.profile)]


def merge(workspace: Workspace, checkpoint_ref: str, *, name: str | None = None, check: bool = True) -> Job:
    """Merge a LoRA checkpoint into its base: ``swift export --merge_lora`` into ``models/<name>``."""

    adapter = _adapter_for(workspace, checkpoint_ref)
    assert adapter.path is not None
    if not adapter.path.is_dir():
        raise MhbenchError("the checkpoint folder is gone.", path=adapter.path, fix="pick another checkpoint.")
    base = get_model(workspace, adapter.base_id) if adapter.base_id else None
    wanted = name or f"{base.id if base else adapter.id}-merged"
    output_name = _output_name(workspace, wanted, explicit=name is not None)
    target = workspace.models_dir / output_name
    argv = merge_command(workspace, adapter, base, target)
    if check:
        problems = validate_argv(argv[2:], installed_flag_specs(command="export"))
        if problems:
            raise MhbenchError(f"ms-swift {installed_swift_version()} would reject this export: " + " ".join(problems),
                               fix="upgrade mhbench for this swift version.")
    result = {
        "kind": "merged", "path": str(target), "partial": None, "name": output_name, "parent_id": adapter.id,
        "lineage": {"tool": "swift export", "swift": installed_swift_version(), "adapter": adapter.id,
                    "checkpoint": str(adapter.path), "adapter_sha256": adapter.adapter_sha256,
                    "base": adapter.base_id},
    }
    return start_job(workspace, "merge", argv, source_id=adapter.id, target_path=target, result=result,
                     env={"PYTHONUNBUFFERED": "1"}, job=new_job_dir(workspace, "merge", output_name))


def convert_to_gguf(workspace: Workspace, model_ref: str, *, name: str | None = None, fix_tokenizer: bool = True) -> Job:
    """Convert a base or merged HF folder to an f16 GGUF in ``models/<name>.gguf``.

    ``fix_tokenizer`` lets the converter see what the folder's tokenizer really does (see
    :mod:`core.models.gguf`); turn it off only to reproduce the converter's own output.
    """

    entry = get_model(workspace, model_ref)
    if entry.kind not in ("base", "merged") or entry.path is None:
        fix = ("merge it first (`mhbench merge " + entry.id + "`)." if entry.kind == "adapter"
               else "convert a base or merged model folder.")
        raise MhbenchError(f"{entry.id} is a {entry.kind} model; only a Hugging Face folder converts to GGUF.", fix=fix)
    if not (entry.path / "config.json").is_file():
        raise MhbenchError("the model folder is gone or incomplete (no config.json).", path=entry.path,
                           fix="run discovery again, or remove the entry.")
    executable = converter_executable()
    output_name = _output_name(workspace, name or f"{entry.id}-f16", explicit=name is not None)
    target = workspace.models_dir / f"{output_name}.gguf"
    job_id, job_dir = new_job_dir(workspace, "convert", output_name)
    base = get_model(workspace, entry.base_id) if entry.base_id else None
    source = (prepare_converter_input(entry.path, base.path if base else None, job_dir / "input")
              if fix_tokenizer else None)
    model_dir = source.model_dir if source else entry.path
    fixes = source.fixes if source else ()
    partial = job_dir / f"{output_name}.gguf.partial"
    argv = [executable, str(model_dir), "--outfile", str(partial), "--outtype", "f16", "--model-name", entry.name]
    version = converter_version()
    result = {
        "kind": "gguf", "path": str(target), "partial": str(partial), "name": output_name, "parent_id": entry.id,
        "quant": "F16", "converter_version": version,
        "lineage": {"tool": version, "outtype": "f16", "source": entry.id, "tokenizer_fixes": list(fixes)},
    }
    notes = [f"tokenizer fix: {fix}" for fix in fixes]
    return start_job(workspace, "convert", argv, source_id=entry.id, target_path=target, result=result,
                     env={"PYTHONUNBUFFERED": "1"}, job=(job_id, job_dir), notes=notes)


def quantize(workspace: Workspace, gguf_ref: str, quant: str, *, name: str | None = None) -> Job:
    """Quantise an f16 (or bf16/f32) GGUF to ``quant`` with llama.cpp's quantiser, in ``models/<name>.gguf``."""
    import importlib.util
    from importlib import metadata


    quant = normalise_quant(quant)
    if importlib.util.find_spec("llama_cpp") is None:
        raise MhbenchError("llama-cpp-python is not installed.", fix="install the gguf extra: `pip install -e '.[gguf]'`.")
    entry = get_model(workspace, gguf_ref)
    if entry.kind != "gguf" or entry.path is None or not entry.path.is_file():
        raise MhbenchError(f"{entry.id} is not a GGUF file on disk.", fix=f"convert the model first (`mhbench gguf {entry.id}`).")
    source_quant = (entry.quant or gguf_quant(entry.path) or "").upper()
    if source_quant not in FLOAT_TYPES:
        raise MhbenchError(f"{entry.id} is already quantised ({source_quant or 'unknown type'}).",
                           fix="quantise from the f16 GGUF: quantising twice loses quality twice.")
    stem = re.sub(r"-(?:f16|bf16|f32)$", "", entry.id)
    output_name = _output_name(workspace, name or f"{stem}-{quant.lower()}", explicit=name is not None)
    target = workspace.models_dir / f"{output_name}.gguf"
    job_id, job_dir = new_job_dir(workspace, "quantize", output_name)
    partial = job_dir / f"{output_name}.gguf.partial"
    argv = [sys.executable, "-m", "core.models.jobs", "quantize", str(entry.path), str(partial), quant]
    tool = f"llama-cpp-python {metadata.version('llama_cpp_python')}"
    result = {
        "kind": "gguf", "path": str(target), "partial": str(partial), "name": output_name, "parent_id": entry.id,
        "quant": quant, "converter_version": entry.converter_version,
        "lineage": {"tool": f"{tool} llama_model_quantize", "quant": quant, "source": entry.id,
                    "source_quant": source_quant},
    }
    return start_job(workspace, "quantize", argv, source_id=entry.id, target_path=target, result=result,
                     env={"PYTHONUNBUFFERED": "1"}, job=(job_id, job_dir))
