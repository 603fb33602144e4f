"""The GPU paths on a real device: NVML, a QLoRA dry run and launch. Skipped without an NVIDIA GPU.

``tests/conftest.py`` skips every ``gpu`` test with the reason "needs an NVIDIA GPU" where
NVML sees none; ``scripts/gpu-smoke.sh`` runs the longer path (merge, GGUF, serving) too.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.base.gpu import map_processes_to_runs, sample_gpus
from core.demo import create_demo
from core.profiles import apply_overrides, find_profile, load_profiles
from core.swift.dialects import installed_swift_version
from core.train.launch import LaunchRequest, launch, plan_run
from core.train.runs import get_run

pytestmark = [pytest.mark.gpu, pytest.mark.integration]
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def test_nvml_reads_a_real_device_and_a_process_holding_its_memory() -> None:
    report = sample_gpus()
    assert report.available and report.driver, report.problem
    gpu = report.gpus[0]
    assert gpu.memory_total > 2**30 and 0 <= gpu.memory_used <= gpu.memory_total and gpu.name
    holder = subprocess.Popen(
        [sys.executable, "-c", "import torch, time; x = torch.ones(256, 2**20, device='cuda'); print('ok', flush=True);"
         " time.sleep(60)"], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        deadline = time.monotonic() + 30
        seen = None
        while seen is None and time.monotonic() < deadline:
            pids = sample_gpus().pids
            seen = map_processes_to_runs(pids, {"holder": holder.pid}).get(holder.pid)
            time.sleep(0.5)
        assert seen == "holder", "NVML did not list the process that holds 1 GiB of the GPU"
    finally:
        holder.kill()
        holder.wait(timeout=30)


@pytest.mark.skipif(installed_swift_version() is None, reason="ms-swift not installed")
@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None, reason="bitsandbytes not installed")
def test_a_qlora_run_plans_checks_and_trains_on_the_gpu(tmp_path: Path) -> None:
    workspace = create_demo(tmp_path / "ws").workspace
    profile = apply_overrides(find_profile(load_profiles(workspace.profiles_dir), "demo-tiny-qwen2"),
                              ["train.max_steps=4", "train.save_steps=4", "train.eval_steps=4", 'train.dtype="bf16"'])
    request = LaunchRequest(profile=profile, name="qlora-gpu", tuner="qlora", cuda_visible_devices="0")
    shown = plan_run(workspace, request, dry_run=True)  # checked against the installed swift's parser
    argv = list(shown.command.argv)
    assert argv[argv.index("--quant_method") + 1] == "bnb" and argv[argv.index("--quant_bits") + 1] == "4"
    assert shown.command.env["CUDA_VISIBLE_DEVICES"] == "0"
    record = launch(workspace, plan_run(workspace, request))
    deadline = time.monotonic() + 600
    while get_run(workspace, record.id).active and time.monotonic() < deadline:
        time.sleep(1)
    finished = get_run(workspace, record.id)
    assert finished.status == "finished", (finished.diagnosis, finished.stdout_path.read_text(errors="replace")[-3000:])
    assert finished.last_step == 4 and "memory(GiB)" in finished.logging_path.read_text()


def test_the_smoke_script_passes_on_this_gpu() -> None:
    done = subprocess.run(["bash", str(SCRIPTS / "gpu-smoke.sh"), "--no-setup"], capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "FAIL" not in done.stdout and "PASS  sft-lora" in done.stdout and "PASS  stream" in done.stdout
