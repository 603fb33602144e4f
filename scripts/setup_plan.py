"""The decisions of scripts/setup.sh, apart from the installing: what this box needs, as shell assignments.

    python3 scripts/setup_plan.py [--torch-cuda VERSION|none|absent] [--llama-offload yes|no|absent]
                                  [--flash-attn yes|no]

It asks ``nvidia-smi`` (the driver version and each GPU's compute capability) and looks for ``nvcc``
on PATH or in CUDA_HOME; the venv's probes (torch's CUDA version, llama.cpp's GPU offload,
whether flash-attn imports) come in as options, because the venv may not exist yet. It prints
``name='value'`` lines that setup.sh evaluates, and ``notes+=('…')`` lines to show. Standard library
only: it runs before the venv exists, and tests run it with stub ``nvidia-smi``/``nvcc`` on PATH.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

TORCH_VERSION = "2.13.0"
CUDA_WHEELS: tuple[tuple[tuple[int, ...], str], ...] = (
    # (lowest driver, PyTorch wheel index): CUDA 13 needs a 580 driver, 12.8 a 570; 12.6 runs on
    # any 525.60+ driver through CUDA's minor-version compatibility.
    ((580, 65), "cu130"),
    ((570, 26), "cu128"),
    ((525, 60), "cu126"),
)
NO_AMX = "-DGGML_NATIVE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_BF16=OFF"
"""The native build crashes on quantised models on AMX CPUs (ggml_backend_amx_mul_mat); H100 hosts
often have them, and partial offload runs those layers on the CPU."""


@dataclass
class Plan:
    accel: str = "cpu"
    driver: str = ""
    torch_index: str = "cpu"
    """The PyTorch wheel index: ``cpu``, or the CUDA build the driver runs (``cu128``)."""
    torch_install: str = "no"
    """``yes``: install or reinstall torch from :attr:`torch_index` (absent, or the wrong build)."""
    cuda_archs: str = ""
    """``CMAKE_CUDA_ARCHITECTURES``: each GPU's compute capability, ``90`` for an H100."""
    nvcc: str = ""
    llama_cmake: str = NO_AMX
    llama_cpu_cmake: str = NO_AMX
    """The fallback when the CUDA build fails."""
    llama_install: str = "no"
    gpu_extra: str = "no"
    """``yes``: bitsandbytes, deepspeed and liger-kernel, with the constraints (torch stays)."""
    flash_attn: str = "no"
    """``build`` (nvcc is here), ``wheel`` (only a prebuilt wheel will do), or ``no``."""
    notes: list[str] = field(default_factory=list)

    def shell(self) -> str:
        lines = [f"{name}={shlex.quote(str(value))}" for name, value in vars(self).items() if name != "notes"]
        lines += [f"notes+=({shlex.quote(note)})" for note in self.notes]
        return "\n".join(lines)


def _run(argv: list[str]) -> str | None:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.strip().split(".") if part.isdigit())


def find_nvcc() -> str:
    """``nvcc`` under CUDA_HOME (where set), on PATH, else in /usr/local/cuda; empty when there is none.

    CUDA_HOME first, because it is what flash-attn's and llama.cpp's builds use.
    """
    home = os.environ.get("CUDA_HOME") or "/usr/local/cuda"
    candidate = os.path.join(home, "bin", "nvcc")
    if os.environ.get("CUDA_HOME"):
        return candidate if os.access(candidate, os.X_OK) else shutil.which("nvcc") or ""
    return shutil.which("nvcc") or (candidate if os.access(candidate, os.X_OK) else "")


def torch_index_for(driver: str) -> str | None:
    """The newest CUDA wheel index the driver runs; ``None`` for a driver older than any."""
    version = _version(driver)
    return next((index for lowest, index in CUDA_WHEELS if version >= lowest), None)


def plan(torch_cuda: str, llama_offload: str, flash_attn_imports: bool) -> Plan:
    result = Plan()
    if _run(["nvidia-smi", "-L"]) is None:
        result.torch_install = "yes" if torch_cuda == "absent" else "no"
        result.llama_install = "yes" if llama_offload == "absent" else "no"
        return result
    result.accel = "cuda"
    query = _run(["nvidia-smi", "--query-gpu=driver_version,compute_cap", "--format=csv,noheader"]) or ""
    rows = [[cell.strip() for cell in line.split(",")] for line in query.splitlines() if line.strip()]
    result.driver = rows[0][0] if rows else ""
    result.cuda_archs = ";".join(dict.fromkeys(row[1].replace(".", "") for row in rows if len(row) > 1))
    index = torch_index_for(result.driver)
    if index is None:
        result.notes.append(f"driver {result.driver or '?'} is older than any CUDA build of torch {TORCH_VERSION} "
                            "(525.60 or newer needed): installing the CPU build; upgrade the NVIDIA driver.")
        result.accel, result.torch_index = "cpu", "cpu"
    else:
        result.torch_index = index
    wanted = result.torch_index.removeprefix("cu")
    have = torch_cuda.replace(".", "")
    if torch_cuda == "absent" or (result.accel == "cuda" and have != wanted):
        result.torch_install = "yes"
        if torch_cuda not in ("absent", "none"):
            result.notes.append(f"torch is built for CUDA {torch_cuda}, the driver {result.driver} wants "
                                f"{result.torch_index}: reinstalling.")
        elif torch_cuda == "none" and result.accel == "cuda":
            result.notes.append("torch is a CPU build on a GPU box: reinstalling the CUDA build.")
    if result.accel == "cpu":
        result.llama_install = "yes" if llama_offload == "absent" else "no"
        return result
    result.gpu_extra = "yes"
    result.nvcc = find_nvcc()
    if result.nvcc:
        archs = f" -DCMAKE_CUDA_ARCHITECTURES={result.cuda_archs}" if result.cuda_archs else ""
        result.llama_cmake = f"-DGGML_CUDA=on{archs} {NO_AMX}"
        result.llama_install = "yes" if llama_offload != "yes" else "no"
        if llama_offload == "no":
            result.notes.append("llama-cpp-python cannot offload to the GPU: rebuilding it with CUDA.")
        result.flash_attn = "no" if flash_attn_imports else "build"
    else:
        result.llama_install = "yes" if llama_offload == "absent" else "no"
        result.notes.append("no nvcc (CUDA toolkit): llama.cpp is built for the CPU (GGUF models run on the CPU). "
                            "Install the CUDA toolkit and run setup again for GPU offload.")
        result.flash_attn = "no" if flash_attn_imports else "wheel"
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-cuda", default="absent", help="torch.version.cuda in the venv: 12.8, none, absent")
    parser.add_argument("--llama-offload", default="absent", choices=("yes", "no", "absent"))
    parser.add_argument("--flash-attn", default="no", choices=("yes", "no"), help="whether flash_attn imports")
    args = parser.parse_args(argv)
    print(plan(args.torch_cuda, args.llama_offload, args.flash_attn == "yes").shell())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
