"""From a catalog entry to something a chat client can call: a URL, a model name and a key.

Local models are served by the shared servers of :mod:`core.models.serving`: a GGUF by
llama.cpp, a base or merged model by ``swift deploy``, and adapters by ``swift deploy``
on their base (several adapters of one base share one server, ``--adapters a=… b=…``).
Endpoints are called where they are. The model's profile supplies the template, the
model type and the deploy settings, translated for the installed swift.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from core.base.errors import MhbenchError
from core.base.gpu import sample_gpus
from core.base.workspace import Workspace
from core.models import discover, endpoint_api_key, get_model, list_models, register_base
from core.models.serving import (
    LlamaCppSpec,
    SwiftDeploySpec,
    build_argv,
    check_deploy_argv,
    find_or_start,
    list_servers,
    memory_warning,
)
from core.models.serving.memory import ModelMemory, gpu_pin, gpus_that_fit, kv_cache_share, memory_share
from core.models.serving.specs import ENGINE_FLAGS, ENGINE_INSTALL, engine_flags
from core.models.stops import model_stops
from core.profiles import load_profiles
from core.swift.dialects import installed_dialect

if TYPE_CHECKING:
    from core.base.gpu import GpuReport
    from core.models import ModelEntry
    from core.models.serving import ServerRecord, ServerSpec
    from core.models.serving.specs import FlagValue
    from core.profiles import Profile

GGUF_OVERHEAD = 1.2
"""GPU memory of a GGUF served with every layer offloaded, per byte of file: weights plus KV cache."""
OPTIONAL_BACKENDS = ("vllm", "lmdeploy", "sglang")
ADAPTER_BACKENDS = ("transformers", "pt", "vllm")
"""Engines that serve a LoRA adapter by name through swift deploy. lmdeploy's engine rejects the
adapter request swift passes (a TypeError on every request to an adapter, while ``/v1/models``
still lists it), and SGLang's stream drops it (the base answers)."""
TRANSFORMERS_BATCH = 8
"""The transformers engine's ``max_batch_size``: swift's default of 1 makes raters wait in line."""
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
"""The LoRA ranks vLLM accepts for ``max_lora_rank`` (its default, 16, refuses a larger adapter)."""


@dataclass(frozen=True)
class ChatTarget:
    """Where to send a chat request for one catalog model."""

    model_id: str
    base_url: str
    model: str
    """The name to put in the request's ``model`` field."""
    api_key: str | None = field(default=None, repr=False)
    server_id: str | None = None
    """The shared local server answering, ``None`` for an endpoint."""
    stop: tuple[str, ...] = ()
    """Every end-of-turn token of the model's chat template: a request stops at each (:mod:`core.models.stops`)."""


@dataclass(frozen=True)
class ServeOptions:
    """How to serve, on top of the profile's deploy settings."""

    infer_backend: str | None = None
    """``swift deploy``'s engine; ``None``: the profile's, or transformers without a profile."""
    n_gpu_layers: int | None = None
    """llama.cpp layers on the GPU; ``None``: all when a GPU is visible, else none."""
    n_ctx: int | None = None
    """llama.cpp context; ``None``: the profile's session length, else 4096."""
    tensor_parallel: int | None = None
    """GPUs per replica for vLLM/lmdeploy/SGLang; ``None``: the profile's ``deploy.tensor_parallel``, else 1."""
    gpu_memory: float | None = None
    """Share of each GPU the engine may take; ``None``: the profile's, else the engine's default."""
    max_model_len: int | None = None
    """Longest context the engine plans memory for; ``None``: the profile's session length."""


def profile_of(workspace: Workspace, name: str | None) -> Profile | None:
    if not name:
        return None

    for entry in load_profiles(workspace.profiles_dir):
        if entry.name == name and entry.profile is not None:
            return entry.profile
    return None


def stop_strings(workspace: Workspace, entry: ModelEntry) -> tuple[str, ...]:
    """Where ``entry``'s answers end: its template's end-of-turn tokens and those its folder declares."""
    profile = profile_of(workspace, entry.profile)
    return model_stops(workspace, entry, entry.template or (profile.model.template if profile else None))


def served_name(entry: ModelEntry) -> str:
    """A catalog id as a served model name (letters, digits, ``.``, ``_``, ``-``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", entry.id).strip("-.") or "model"


def swift_names(profile: Profile | None) -> tuple[str | None, str | None]:
    """(model_type, template) for the installed swift, from the profile's family."""
    if profile is None:
        return None, None

    names = installed_dialect().families.get(profile.model.family)
    if names is None:
        return None, profile.model.template
    return names.model_type, names.template


def base_location(workspace: Workspace, entry: ModelEntry) -> Path | str:
    """A base model's folder, or its hub id when it is not downloaded (swift deploy fetches it)."""
    if entry.path is not None:
        return entry.path
    hub_id = entry.lineage.get("model_id")
    if hub_id:
        return str(hub_id)
    raise MhbenchError(f"model {entry.id} has no files here and no hub id.", fix="register its folder again.")


def check_backend(backend: str) -> None:
    """An optional engine must be importable (looked up, never imported: vLLM's import takes seconds)."""

    if backend in OPTIONAL_BACKENDS and importlib.util.find_spec(backend) is None:
        # With the constraints pip refuses an engine that would downgrade torch or peft, rather than
        # breaking training: lmdeploy 0.16 pins torch <= 2.12.1 and peft <= 0.14.
        separate = (" If pip refuses, run lmdeploy in its own venv and register it as an endpoint "
                    "(docs/serving.md, \"lmdeploy in its own venv\")." if backend == "lmdeploy" else "")
        raise MhbenchError(
            f"swift deploy would serve with {backend}, which is not installed.",
            fix=f"`.venv/bin/{ENGINE_INSTALL[backend]} -c constraints.txt` on the GPU box (it needs CUDA), or serve "
            "with the transformers backend (`--backend transformers`, or `deploy.infer_backend` in the profile)."
            + separate,
        )


def _adapter_base(workspace: Workspace, entry: ModelEntry) -> ModelEntry:
    if entry.base_id is None:
        raise MhbenchError(
            f"adapter {entry.id} does not say which base model it was trained from.",
            fix="register the base model (`mhbench models --add PATH`) and the adapter again.",
        )
    return get_model(workspace, entry.base_id)


def server_spec(
    workspace: Workspace, entries: Sequence[ModelEntry], options: ServeOptions = ServeOptions(), *,
    engine_installed: bool = True, gpu_report: GpuReport | None = None,
) -> ServerSpec:
    """One server for ``entries``: a single model, or adapters that share a base.

    ``engine_installed`` refuses an optional engine (vLLM, lmdeploy, SGLang) that is not
    installed; a dry run turns it off to show the command anyway. An engine server gets a memory
    share sized from the model's estimate (unless one is set) and is pinned to the GPUs where it
    fits (:mod:`core.models.serving.memory`); ``gpu_report`` stands in for NVML's.
    """

    first = entries[0]
    if first.kind == "endpoint":
        raise MhbenchError(f"{first.id} is an endpoint: it is served elsewhere.", fix="chat with it directly.")
    if first.kind == "gguf":
        if len(entries) > 1:
            raise MhbenchError("one llama.cpp server serves one GGUF file.", fix="serve each GGUF on its own.")
        assert first.path is not None
        profile = profile_of(workspace, first.profile)
        n_ctx = options.n_ctx or (profile.deploy.session_len if profile else 4096)
        report = gpu_report if gpu_report is not None else sample_gpus()
        layers = options.n_gpu_layers if options.n_gpu_layers is not None else (-1 if report.gpus else 0)
        fit = gpus_that_fit(expected_gpu_gb(workspace, first), report) if layers else None
        return LlamaCppSpec(first.path, n_gpu_layers=layers, n_ctx=n_ctx, served_model_name=served_name(first),
                            gpus=gpu_pin(fit) if fit else None)
    adapters = [entry for entry in entries if entry.kind == "adapter"]
    whole = [entry for entry in entries if entry.kind != "adapter"]
    if len(whole) > 1 or (whole and adapters):
        raise MhbenchError("one swift server serves one model, or adapters of one base.", fix="serve them apart.")
    if adapters:
        bases = {_adapter_base(workspace, adapter).id for adapter in adapters}
        if len(bases) > 1:
            raise MhbenchError(f"these adapters come from different bases ({', '.join(sorted(bases))}).",
                               fix="serve each base's adapters on their own.")
        model = _adapter_base(workspace, adapters[0])
    else:
        model = first
    profile = profile_of(workspace, model.profile or first.profile)
    model_type, template = swift_names(profile)
    backend = options.infer_backend or (profile.deploy.infer_backend if profile else "transformers")
    if adapters and backend not in ADAPTER_BACKENDS:
        if options.infer_backend:
            raise MhbenchError(
                f"{backend} cannot serve LoRA adapters through swift deploy: lmdeploy fails every request to an "
                "adapter, and SGLang's stream answers with the base model.",
                fix=f"serve the adapters with --backend vllm or transformers, or merge first (`mhbench merge "
                f"{adapters[0].id}`) and serve the merged model with {backend}.",
            )
        # The profile's engine is for its merged model; its adapters go to one that serves them.
        backend = "vllm" if importlib.util.find_spec("vllm") is not None else "transformers"
    if engine_installed:
        check_backend(backend)
    # The profile's engine settings apply to the engines that have them; only an explicit
    # option is an error for the transformers engine, which has neither.
    deploy = profile.deploy if profile is not None and backend in ENGINE_FLAGS else None
    tensor_parallel = options.tensor_parallel or (deploy.tensor_parallel if deploy else 1)
    gpu_memory = options.gpu_memory if options.gpu_memory is not None else (
        deploy.gpu_memory_utilization if deploy else None)
    memory = model_memory(workspace, model)
    report = gpu_report if gpu_report is not None else sample_gpus()
    fit = gpus_that_fit(memory.total_gb, report, tensor_parallel=tensor_parallel) if memory else None
    if gpu_memory is None and memory is not None and backend in ENGINE_FLAGS:
        gpu = fit[0] if fit else (report.gpus[0] if report.gpus else None)
        gpu_memory = (kv_cache_share(memory, gpu.free_gb if gpu else None, tensor_parallel=tensor_parallel)
                      if backend == "lmdeploy" else
                      memory_share(memory.total_gb, gpu.memory_total / 1e9 if gpu else None,
                                   tensor_parallel=tensor_parallel))
    extra: dict[str, FlagValue] = engine_flags(
        backend, tensor_parallel=tensor_parallel, gpu_memory=gpu_memory,
        max_model_len=options.max_model_len or (deploy.session_len if deploy else None),
    )
    if backend in ("transformers", "pt"):
        extra["max_batch_size"] = TRANSFORMERS_BATCH
    if backend == "vllm" and adapters:
        rank = max(adapter_rank(adapter.path) for adapter in adapters)
        extra["vllm_max_lora_rank"] = next((r for r in VLLM_LORA_RANKS if r >= rank), rank)
    location = base_location(workspace, model) if model.kind == "base" else model.path
    assert location is not None
    return SwiftDeploySpec(
        location,
        adapters={served_name(adapter): adapter.path for adapter in adapters if adapter.path is not None},
        template=template,
        model_type=model_type,
        infer_backend=backend,
        served_model_name=served_name(model),
        extra=extra,
        gpus=gpu_pin(fit) if fit else None,
    )


def adapter_rank(path: Path | None) -> int:
    """The LoRA rank ``r`` in a checkpoint's ``adapter_config.json``; 16 where it cannot be read."""
    try:
        return int(json.loads((Path(path or "") / "adapter_config.json").read_text(encoding="utf-8"))["r"])
    except (OSError, ValueError, KeyError, TypeError):
        return 16


def model_memory(workspace: Workspace, entry: ModelEntry) -> ModelMemory | None:
    """A served model's GPU memory from its profile's inference estimate (low: weights; high: with cache)."""
    profile = profile_of(workspace, entry.profile)
    if profile is None or not profile.resources.infer_vram_gb or profile.resources.infer_vram_gb.high <= 0:
        return None
    estimate = profile.resources.infer_vram_gb
    return ModelMemory(weights_gb=estimate.low, total_gb=estimate.high)


def expected_gpu_gb(workspace: Workspace, entry: ModelEntry) -> float:
    """What serving ``entry`` should take on the GPU: the profile's inference estimate, or the GGUF's size."""
    if entry.kind == "endpoint":
        return 0.0
    if entry.kind == "gguf":
        return (entry.size_bytes or 0) * GGUF_OVERHEAD / 1e9
    profile = profile_of(workspace, entry.profile)
    if profile is not None and profile.resources.infer_vram_gb:
        return profile.resources.infer_vram_gb.high
    return 0.0


def memory_warnings(workspace: Workspace, refs: Sequence[str], gpu_report: GpuReport | None = None) -> list[str]:
    """Warnings to show before loading ``refs`` that have no live server yet.

    Each model is placed on the GPU with the most free memory left after the ones before it, as
    the servers will be pinned; one whose estimate no single GPU holds gets a warning.
    """

    served = {model_id for server in list_servers(workspace, active_only=True) for model_id in server.model_ids}
    report = gpu_report if gpu_report is not None else sample_gpus()
    warnings: list[str] = []
    for entry in (get_model(workspace, ref) for ref in refs):
        expected = expected_gpu_gb(workspace, entry) if entry.id not in served else 0.0
        warning = memory_warning(expected, report)
        if warning:
            warnings.append(warning)
        elif expected > 0 and report.gpus:
            chosen = max(report.gpus, key=lambda gpu: gpu.memory_free)
            taken = replace(chosen, memory_used=chosen.memory_used + int(expected * 1e9))
            report = replace(report, gpus=tuple(taken if gpu is chosen else gpu for gpu in report.gpus))
    return warnings


def server_groups(workspace: Workspace, entries: Sequence[ModelEntry]) -> list[list[ModelEntry]]:
    """Adapters of one base share a server; every other model gets its own."""
    groups: dict[str, list[ModelEntry]] = {}
    for entry in entries:
        key = f"adapters-of:{_adapter_base(workspace, entry).id}" if entry.kind == "adapter" else entry.id
        groups.setdefault(key, []).append(entry)
    return list(groups.values())


def planned_servers(
    workspace: Workspace, refs: Sequence[str], options: ServeOptions = ServeOptions(), *, check: bool = True
) -> list[tuple[list[str], list[str], str | None]]:
    """A dry run: (catalog ids, exact argv with ``PORT`` for the port, a note) of each server ``refs`` would start.

    ``check`` checks ``swift deploy``'s flags against the installed swift's parser. An
    engine that is not installed here is named in the note rather than refused.
    """

    entries = [get_model(workspace, ref) for ref in refs]
    planned: list[tuple[list[str], list[str], str | None]] = []
    for group in server_groups(workspace, [entry for entry in entries if entry.kind != "endpoint"]):
        spec = server_spec(workspace, group, options, engine_installed=False)
        argv = build_argv(spec, 0)
        note = None
        if isinstance(spec, SwiftDeploySpec):
            if check:
                check_deploy_argv(argv)
            try:
                check_backend(spec.infer_backend)
            except MhbenchError as missing:
                note = str(missing)
        argv[argv.index("--port") + 1] = "PORT"
        planned.append(([entry.id for entry in group], argv, note))
    return planned


def connect_models(
    workspace: Workspace,
    refs: Sequence[str],
    *,
    options: ServeOptions = ServeOptions(),
    progress: Callable[[str], None] | None = None,
    check: bool = True,
) -> list[ChatTarget]:
    """A chat target for each of ``refs``, in order: a live server reused, or one started and waited for."""

    entries = [get_model(workspace, ref) for ref in refs]
    for entry in entries:
        if entry.missing:
            raise MhbenchError(f"the files of {entry.id} are gone.", path=entry.path,
                               fix="restore them, or remove the entry (`mhbench models --remove`).")
    targets: dict[str, ChatTarget] = {}
    for entry in entries:
        if entry.kind == "endpoint":
            assert entry.url is not None
            targets[entry.id] = ChatTarget(entry.id, entry.url, entry.served_name or entry.name,
                                           endpoint_api_key(workspace, entry.id),
                                           stop=stop_strings(workspace, entry))
    for group in server_groups(workspace, [entry for entry in entries if entry.kind != "endpoint"]):
        spec = server_spec(workspace, group, options)
        record = find_or_start(workspace, spec, model_ids=[entry.id for entry in group], progress=progress,
                               check=check)
        for entry in group:
            targets[entry.id] = ChatTarget(entry.id, record.base_url, request_name(record, entry), None, record.id,
                                           stop_strings(workspace, entry))
    return [targets[entry.id] for entry in entries]


def request_name(record: ServerRecord, entry: ModelEntry) -> str:
    name = served_name(entry)
    if name in record.served_names:
        return name
    return record.model_name()


def servers_of(workspace: Workspace, ref: str) -> list[ServerRecord]:
    """The live servers that serve catalog model ``ref``."""

    model_id = get_model(workspace, ref).id
    return [server for server in list_servers(workspace, active_only=True) if model_id in server.model_ids]


def sync_catalog(workspace: Workspace) -> list[ModelEntry]:
    """Register every valid profile's base model and every model found on disk; returns the new entries."""

    known = {entry.profile for entry in list_models(workspace, "base") if entry.profile}
    new: list[ModelEntry] = []
    for loaded in load_profiles(workspace.profiles_dir):
        if loaded.profile is None or loaded.name in known:
            continue
        try:
            new.append(register_base(workspace, loaded.profile))
        except MhbenchError:
            continue  # a profile whose local folder is gone: the Profiles screen says so
    return new + discover(workspace)
