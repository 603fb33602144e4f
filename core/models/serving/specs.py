"""What a server runs: the specs of ``swift deploy`` and llama.cpp's server, and their exact commands.

:func:`build_argv` turns a spec into the argv a server is started with (paths absolute,
so two processes build the same command); :func:`argv_key` is that command's identity
without the port, by which :func:`core.models.serving.find_or_start` recognises a server to
reuse; :func:`check_deploy_argv` checks the flags against the installed swift first.
"""

from __future__ import annotations

import json
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


@dataclass(frozen=True)
class LlamaCppSpec:
    """``python -m llama_cpp.server`` over one GGUF file."""

    gguf_path: Path | str
    n_gpu_layers: int = 0
    """Layers offloaded to the GPU; -1 for all (a CUDA build only)."""
    n_ctx: int = 4096
    chat_format: str | None = None
    """``None``: the chat template stored in the GGUF."""
    served_model_name: str | None = None
    """``--model_alias``; llama.cpp's default is the GGUF path. Any name is answered by the one model."""
    n_threads: int | None = None
    """Generation threads; ``None``: llama.cpp's default, half the CPUs."""
    gpus: str | None = None
    """The server's ``CUDA_VISIBLE_DEVICES`` (indices or UUIDs); ``None``: every GPU."""

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


def build_argv(spec: ServerSpec, port: int) -> list[str]:
    """The exact command for ``spec`` on ``port``; paths absolute, so two processes build the same argv."""
    if isinstance(spec, LlamaCppSpec):
        gguf = _require(
            Path(spec.gguf_path), "the GGUF file", "convert the model first (Models screen), or fix the path."
        )
        argv = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf),
            "--host",
            HOST,
            "--port",
            str(port),
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
