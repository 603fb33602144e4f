"""What a server runs: the specs of ``swift deploy`` and llama.cpp's server, and their exact commands.

A GGUF is served by llama.cpp's own ``llama-server`` (built by ``scripts/build-llama-server.sh``
from the llama.cpp that llama-cpp-python vendors, found by :func:`llama_server_binary`): it has
parallel slots, ``/health``, and stops a slot's generation as soon as its client hangs up. Where
it was not built, ``python -m llama_cpp.server`` serves instead (one stream at a time, and an
abandoned stream runs to its end), and :func:`llama_server_note` says so.

:func:`build_argv` turns a spec into the argv a server is started with (paths absolute,
so two processes build the same command); :func:`argv_key` is that command's identity
without the port, by which :func:`core.models.serving.find_or_start` recognises a server to
reuse; :func:`check_deploy_argv` checks the flags against the installed swift first.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from core.base.errors import MhbenchError
from core.base.gpu import DEVICE_ORDER_ENV
from core.swift.dialects import installed_swift_version
from core.swift.flags import installed_flag_specs, validate_argv

if TYPE_CHECKING:
    from core.swift.flags import FlagSpec

HOST = "127.0.0.1"

Backend = Literal["swift", "llama_cpp"]
FlagValue = str | int | float | bool


@dataclass(frozen=True)
class SwiftDeploySpec:
    """``swift deploy`` of a base model, with any number of LoRA adapters served beside it by name."""

    model_path: Path | str
    adapters: Mapping[str, Path | str] = field(default_factory=dict)
    """served name → checkpoint directory; each is a model name in ``/v1/models``."""
    template: str | None = None
    model_type: str | None = None
    """Needed where swift cannot tell (a Qwen2 config matches ``qwen2`` and ``qwen2_gte``)."""
    infer_backend: str = "transformers"
    served_model_name: str | None = None
    """The base model's name in requests; swift's default is the model folder's name."""
    extra: Mapping[str, FlagValue | Sequence[str]] = field(default_factory=dict)
    """More ``swift deploy`` flags, checked against the installed swift before launch."""
    gpus: str | None = None
    """The server's ``CUDA_VISIBLE_DEVICES`` (indices or UUIDs); ``None``: every GPU."""

    backend: Backend = field(default="swift", init=False)

    @property
    def label(self) -> str:
        return self.served_model_name or Path(self.model_path).name


LLAMA_SERVER_SLOTS = 4
"""Parallel slots of a llama-server: streams it generates at once (continuous batching), each with its
own context, so a rater's answer never queues behind another's."""


@dataclass(frozen=True)
class LlamaCppSpec:
    """llama.cpp's ``llama-server`` (or, where it was not built, ``python -m llama_cpp.server``) over one GGUF."""

    gguf_path: Path | str
    n_gpu_layers: int = 0
    """Layers offloaded to the GPU; -1 for all (a CUDA build only)."""
    n_ctx: int = 4096
    """The context of one stream (one slot): llama-server's whole context is ``n_ctx × parallel``."""
    chat_format: str | None = None
    """``None``: the chat template stored in the GGUF (llama-server's ``--jinja``, as llama-cpp-python renders it)."""
    served_model_name: str | None = None
    """``--alias``; by default the GGUF's path. Any name is answered by the one model."""
    n_threads: int | None = None
    """Generation threads; ``None``: llama.cpp's default, half the CPUs."""
    gpus: str | None = None
    """The server's ``CUDA_VISIBLE_DEVICES`` (indices or UUIDs); ``None``: every GPU."""
    parallel: int = LLAMA_SERVER_SLOTS
    """llama-server's slots (``--parallel``); llama_cpp.server always has one."""

    backend: Backend = field(default="llama_cpp", init=False)

    @property
    def label(self) -> str:
        return self.served_model_name or Path(self.gguf_path).stem


ServerSpec = SwiftDeploySpec | LlamaCppSpec


ENGINE_FLAGS: Mapping[str, tuple[str, str, str]] = {
    # backend: (tensor parallel, GPU memory share, longest context), as swift 4.x's deploy arguments name them
    "vllm": ("vllm_tensor_parallel_size", "vllm_gpu_memory_utilization", "vllm_max_model_len"),
    "lmdeploy": ("lmdeploy_tp", "lmdeploy_cache_max_entry_count", "lmdeploy_session_len"),
    "sglang": ("sglang_tp_size", "sglang_mem_fraction_static", "sglang_context_length"),
}
"""``swift deploy`` flags per inference engine; the transformers engine has none of these."""

ENGINE_INSTALL: Mapping[str, str] = {
    "vllm": "pip install vllm",
    "lmdeploy": "pip install lmdeploy",
    "sglang": 'pip install "sglang[all]"',
}
"""The install line of each optional engine (into the project's .venv on the GPU box)."""


def engine_flags(
    backend: str, *, tensor_parallel: int = 1, gpu_memory: float | None = None, max_model_len: int | None = None
) -> dict[str, FlagValue]:
    """The ``swift deploy`` flags that give ``backend`` its GPUs, its memory share and its context."""
    if tensor_parallel < 1:
        raise MhbenchError(f"tensor parallel {tensor_parallel}: it needs at least one GPU.", fix="set 1 or more.")
    if gpu_memory is not None and not 0 < gpu_memory <= 1:
        raise MhbenchError(f"GPU memory share {gpu_memory} is not between 0 and 1.",
                           fix="give a share of each GPU, e.g. 0.9 (90 %).")
    names = ENGINE_FLAGS.get(backend)
    if names is None:
        if tensor_parallel > 1 or gpu_memory is not None:
            raise MhbenchError(
                f"the {backend} engine has no tensor parallelism or GPU memory share in swift deploy.",
                fix="serve with --backend vllm or lmdeploy for those, or drop --tensor-parallel/--gpu-memory.",
            )
        return {}
    tp_flag, memory_flag, length_flag = names
    flags: dict[str, FlagValue] = {tp_flag: tensor_parallel}
    if gpu_memory is not None:
        flags[memory_flag] = gpu_memory
    if max_model_len is not None:
        flags[length_flag] = max_model_len
    return flags


def _flag_value(value: FlagValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _require(path: Path, what: str, fix: str) -> Path:
    resolved = path.expanduser().resolve()
    if not resolved.exists():
        raise MhbenchError(f"{what} does not exist.", path=resolved, fix=fix)
    return resolved


def _is_hub_id(location: Path | str) -> bool:
    """``Qwen/Qwen2.5-7B-Instruct``: a hub id that swift downloads, not a folder here."""
    return (
        isinstance(location, str)
        and re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", location) is not None
        and not Path(location).exists()
    )


def _check_adapter_name(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise MhbenchError(
            f"adapter name '{name}' cannot be a served model name.",
            fix="use letters, digits, '.', '_' and '-' only, starting with a letter or digit.",
        )


# --- llama.cpp ---------------------------------------------------------------------------------

LLAMA_SERVER_ENV = "MHBENCH_LLAMA_SERVER"
"""A llama-server binary to use instead of the one beside this Python; empty: use llama_cpp.server."""

BUILD_LLAMA_SERVER = "bash scripts/build-llama-server.sh"

LLAMA_SERVER_TEMPLATES: Mapping[str, str] = {
    # llama-cpp-python's --chat_format names → llama-server's built-in --chat-template names
    "llama-3": "llama3",
    "llama-2": "llama2",
    "chatml": "chatml",
    "qwen": "chatml",
    "mistral-instruct": "mistral-v1",
    "gemma": "gemma",
    "phi3": "phi3",
    "zephyr": "zephyr",
    "vicuna": "vicuna",
}


def llama_server_binary() -> Path | None:
    """llama.cpp's ``llama-server``: ``$MHBENCH_LLAMA_SERVER``, else the one built into this Python's venv."""
    override = os.environ.get(LLAMA_SERVER_ENV)
    candidate = Path(override).expanduser() if override else None
    if override is None:
        candidate = Path(sys.executable).parent / "llama-server"
    if candidate is not None and candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate.absolute()
    return None


def llama_server_note() -> str | None:
    """One line when GGUF files are served by the slower fallback, naming the fix; ``None`` when llama-server is there."""
    if llama_server_binary() is not None:
        return None
    return (
        "llama-server is not built: GGUF models are served by llama_cpp.server (one stream at a time; "
        f"a stopped answer runs on). Build it: {BUILD_LLAMA_SERVER}"
    )


def is_llama_server(argv: Sequence[str]) -> bool:
    """The command runs llama.cpp's ``llama-server`` (not ``python -m llama_cpp.server``)."""
    return bool(argv) and Path(argv[0]).name == "llama-server"


def llama_cpp_slots(argv: Sequence[str]) -> int | None:
    """How many streams a llama.cpp server's command generates at once: llama-server's ``--parallel``,
    1 for llama_cpp.server; ``None`` for any other command (swift deploy)."""
    if is_llama_server(argv):
        parts = list(argv)
        for flag in ("--parallel", "-np"):
            if flag in parts[:-1]:
                return int(parts[parts.index(flag) + 1])
        return 1
    if list(argv[1:3]) == ["-m", "llama_cpp.server"]:
        return 1
    return None


def _gguf_on_port(gguf: Path, port: int) -> list[str]:
    """What both llama.cpp servers spell alike: the model and where to listen (loopback only)."""
    return ["--model", str(gguf), "--host", HOST, "--port", str(port)]


def _llama_server_argv(binary: Path, spec: LlamaCppSpec, gguf: Path, port: int) -> list[str]:
    if spec.parallel < 1:
        raise MhbenchError(f"{spec.parallel} parallel slots: a server needs at least one.", fix="set 1 or more.")
    argv = [
        str(binary),
        *_gguf_on_port(gguf, port),
        "--n-gpu-layers",
        "all" if spec.n_gpu_layers < 0 else str(spec.n_gpu_layers),
        # Without a unified KV cache each slot gets an equal share of the context.
        "--ctx-size",
        str(spec.n_ctx * spec.parallel),
        "--parallel",
        str(spec.parallel),
        "--flash-attn",
        "auto",
        "--no-webui",
    ]
    if spec.chat_format:
        # A built-in template is named only outside the Jinja engine (under it the name would be the template).
        argv += ["--no-jinja", "--chat-template", LLAMA_SERVER_TEMPLATES.get(spec.chat_format, spec.chat_format)]
    else:
        # The GGUF's own Jinja template, rendered as llama-cpp-python renders it (its Jinja2ChatFormatter).
        argv += ["--jinja"]
    # The answer verbatim in `content`, as llama_cpp.server sends it: no <think> part moved elsewhere.
    argv += ["--reasoning-format", "none"]
    # Named as llama_cpp.server names it (its alias, else the GGUF's path), not by the file's name alone.
    argv += ["--alias", spec.served_model_name or str(gguf)]
    if spec.n_threads is not None:
        argv += ["--threads", str(spec.n_threads)]
    return argv


def build_argv(spec: ServerSpec, port: int) -> list[str]:
    """The exact command for ``spec`` on ``port``; paths absolute, so two processes build the same argv."""
    if isinstance(spec, LlamaCppSpec):
        gguf = _require(
            Path(spec.gguf_path), "the GGUF file", "convert the model first (Models screen), or fix the path."
        )
        binary = llama_server_binary()
        if binary is not None:
            return _llama_server_argv(binary, spec, gguf, port)
        argv = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            *_gguf_on_port(gguf, port),
            "--n_gpu_layers",
            str(spec.n_gpu_layers),
            "--n_ctx",
            str(spec.n_ctx),
        ]
        if spec.chat_format:
            argv += ["--chat_format", spec.chat_format]
        if spec.served_model_name:
            argv += ["--model_alias", spec.served_model_name]
        if spec.n_threads is not None:
            argv += ["--n_threads", str(spec.n_threads)]
        # By default a second request cuts the stream in progress short (and ends it with [DONE]
        # as if complete); a shared server must queue requests instead.
        argv += ["--interrupt_requests", "false"]
        return argv
    model = spec.model_path if _is_hub_id(spec.model_path) else _require(
        Path(spec.model_path), "the model directory", "fix the model path, or download the model first."
    )
    flags: dict[str, FlagValue | Sequence[str]] = {"model": str(model)}
    if spec.model_type:
        flags["model_type"] = spec.model_type
    if spec.template:
        flags["template"] = spec.template
    if spec.adapters:
        pairs = []
        for name, checkpoint in spec.adapters.items():
            _check_adapter_name(name)
            path = _require(
                Path(checkpoint), f"adapter '{name}'", "pick a checkpoint that exists (see the run's checkpoints)."
            )
            pairs.append(f"{name}={path}")
        flags["adapters"] = pairs
    flags["infer_backend"] = spec.infer_backend
    if spec.served_model_name:
        flags["served_model_name"] = spec.served_model_name
    flags.update(spec.extra)
    flags.update({"host": HOST, "port": str(port)})  # never overridable: loopback only, our port
    argv = ["swift", "deploy"]
    for name, value in flags.items():
        argv.append(f"--{name}")
        if isinstance(value, str | int | float | bool):
            argv.append(_flag_value(value))
        else:
            argv.extend(str(item) for item in value)
    return argv


def server_env(spec: ServerSpec) -> dict[str, str]:
    """What a server runs with beyond the workbench's environment: its GPUs, numbered as NVML numbers them."""
    env = {"PYTHONUNBUFFERED": "1", **DEVICE_ORDER_ENV}
    if spec.gpus:
        env["CUDA_VISIBLE_DEVICES"] = spec.gpus
    return env


def argv_key(argv: Sequence[str]) -> str:
    """The identity of a server's command: its argv without the port's value."""
    parts = list(argv)
    kept: list[str] = []
    skip = False
    for part in parts:
        if skip:
            skip = False
            continue
        if part == "--port":
            skip = True
            continue
        kept.append(part)
    return json.dumps(kept)


def expected_served_names(spec: ServerSpec) -> dict[str, str]:
    """What the server will list in ``/v1/models``, before it can be asked (confirmed once healthy)."""
    if isinstance(spec, LlamaCppSpec):
        # The alias, else the GGUF's path (llama_cpp.server's default, which llama-server is given too).
        path = str(Path(spec.gguf_path).expanduser().resolve())
        return {spec.served_model_name or path: path}
    base = str(spec.model_path) if _is_hub_id(spec.model_path) else str(Path(spec.model_path).expanduser().resolve())
    names = {spec.served_model_name or Path(base).name: base}
    names.update({name: str(Path(path).expanduser().resolve()) for name, path in spec.adapters.items()})
    return names


# --- checking swift deploy's flags ---------------------------------------------------------------


def check_deploy_argv(argv: Sequence[str], specs: Mapping[str, FlagSpec] | None = None) -> None:
    """Fail in a second, not after model loading, when the installed swift would reject a flag."""

    if specs is None:
        specs = installed_flag_specs(command="deploy")
    problems = validate_argv(list(argv[2:]), specs)
    if problems:
        raise MhbenchError(
            f"ms-swift {installed_swift_version()} would reject this deploy command: " + " ".join(problems),
            fix="correct the deploy flag (the model's deploy settings or extra flags).",
        )
