"""scripts/setup.sh's decisions on a simulated GPU box (issue 20): stub nvidia-smi and nvcc on PATH,
the venv's torch and llama.cpp as setup.sh's probes would report them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "scripts" / "setup_plan.py"


def stub(folder: Path, name: str, script: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    path.chmod(0o755)


def h100_box(tmp_path: Path, driver: str = "570.86.15", *, nvcc: bool = True, gpus: int = 1) -> Path:
    """A PATH folder whose nvidia-smi answers like an H100 box's, and (if asked) an nvcc."""
    bin_dir = tmp_path / "bin"
    rows = "\\n".join(f"{driver}, 9.0" for _ in range(gpus))
    stub(bin_dir, "nvidia-smi", f"""case "$1" in
  -L) echo "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-8c3a5f2e-1d4b-4c1e-9f0a-2b7d6e5c4a31)";;
  --query-gpu=driver_version,compute_cap) printf '{rows}\\n';;
  *) exit 2;;
esac
""")
    if nvcc:
        stub(bin_dir, "nvcc", 'echo "Cuda compilation tools, release 12.8, V12.8.93"\n')
    return bin_dir


def plan(bin_dir: Path | None, tmp_path: Path, *options: str) -> dict[str, object]:
    """Run the plan as setup.sh does (eval in bash) and read back its variables."""
    path = f"{bin_dir}:/usr/bin:/bin" if bin_dir else "/usr/bin:/bin"
    env = {**os.environ, "PATH": path, "CUDA_HOME": str(tmp_path / "no-cuda")}
    script = (f'notes=(); eval "$({sys.executable} {PLAN} {" ".join(options)})"; '
              'for v in accel driver torch_index torch_install cuda_archs nvcc llama_cmake llama_install gpu_extra '
              'flash_attn; do echo "$v=${!v}"; done; for n in "${notes[@]}"; do echo "note=$n"; done')
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True).stdout
    values: dict[str, object] = {"notes": []}
    for line in out.splitlines():
        name, _, value = line.partition("=")
        if name == "note":
            values["notes"].append(value)  # type: ignore[union-attr]
        else:
            values[name] = value
    return values


def test_setup_sh_parses() -> None:
    subprocess.run(["bash", "-n", str(ROOT / "scripts" / "setup.sh")], check=True)


def test_a_box_without_a_gpu_keeps_its_cpu_build(tmp_path: Path) -> None:
    got = plan(None, tmp_path, "--torch-cuda", "none", "--llama-offload", "no")
    assert got["accel"] == "cpu" and got["torch_install"] == "no" and got["llama_install"] == "no"
    assert "AMX_INT8=OFF" in str(got["llama_cmake"]) and got["gpu_extra"] == "no"


@pytest.mark.parametrize(("driver", "index"), [("580.95.05", "cu130"), ("570.86.15", "cu128"), ("535.183.01", "cu126")])
def test_the_torch_build_matches_the_driver(tmp_path: Path, driver: str, index: str) -> None:
    got = plan(h100_box(tmp_path, driver), tmp_path)
    assert got["accel"] == "cuda" and got["torch_index"] == index and got["torch_install"] == "yes"


def test_a_driver_older_than_any_cuda_build_gets_the_cpu_build_and_says_so(tmp_path: Path) -> None:
    got = plan(h100_box(tmp_path, "470.256.02"), tmp_path)
    assert got["torch_index"] == "cpu" and any("upgrade the NVIDIA driver" in note for note in got["notes"])  # type: ignore[union-attr]


def test_a_cpu_torch_on_a_gpu_box_is_reinstalled(tmp_path: Path) -> None:
    got = plan(h100_box(tmp_path), tmp_path, "--torch-cuda", "none")
    assert got["torch_install"] == "yes" and any("CPU build on a GPU box" in n for n in got["notes"])  # type: ignore[union-attr]
    kept = plan(h100_box(tmp_path / "again"), tmp_path, "--torch-cuda", "12.8")
    assert kept["torch_install"] == "no"


def test_with_nvcc_llama_cpp_builds_for_cuda_with_the_gpus_architecture_and_amx_off(tmp_path: Path) -> None:
    got = plan(h100_box(tmp_path, gpus=2), tmp_path, "--torch-cuda", "12.8", "--llama-offload", "no")
    cmake = str(got["llama_cmake"])
    assert "-DGGML_CUDA=on" in cmake and "-DCMAKE_CUDA_ARCHITECTURES=90 " in cmake and "-DGGML_AMX_TILE=OFF" in cmake
    assert got["llama_install"] == "yes"  # a CPU build that cannot offload is rebuilt
    assert got["gpu_extra"] == "yes" and got["flash_attn"] == "build" and str(got["nvcc"]).endswith("/nvcc")
    built = plan(h100_box(tmp_path / "b"), tmp_path, "--torch-cuda", "12.8", "--llama-offload", "yes",
                 "--flash-attn", "yes")
    assert built["llama_install"] == "no" and built["flash_attn"] == "no"


def test_without_nvcc_llama_cpp_falls_back_to_the_cpu_and_flash_attn_needs_a_wheel(tmp_path: Path) -> None:
    got = plan(h100_box(tmp_path, nvcc=False), tmp_path, "--torch-cuda", "12.8")
    assert "GGML_CUDA" not in str(got["llama_cmake"]) and got["llama_install"] == "yes"
    assert got["flash_attn"] == "wheel" and got["gpu_extra"] == "yes"
    assert any("no nvcc" in note for note in got["notes"])  # type: ignore[union-attr]
