"""The GPU smoke script without a GPU: a SKIP line for every GPU step with the reason, exit 0, quickly."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from core.base.gpu import sample_gpus

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu-smoke.sh"
STEPS = ("gpu", "setup", "cuda-torch", "tiny-models", "sft-lora", "nvml-run", "sft-qlora", "queue", "merge", "gguf",
         "serve-gpu", "stream", "cancel",
         # the seed profiles' paths on the box (issue 20)
         "flash-packing", "model-type", "deploy-transformers", "deploy-vllm", "two-servers", "torchrun-stop",
         "nvml-torchrun", "qlora-merge", "waves")


@pytest.mark.skipif(sample_gpus().available, reason="this box has a GPU: tests/integration/test_gpu_paths.py runs it")
def test_without_a_gpu_every_step_is_a_skip_line_with_the_reason() -> None:
    started = time.monotonic()
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[1] for line in lines[:-1]] == list(STEPS)
    for line in lines[:-1]:
        assert re.fullmatch(r"SKIP  \S+ +\d+\.\d s  no NVIDIA GPU.*", line), line
    assert lines[-1].startswith(f"gpu smoke: 0 pass, 0 fail, {len(STEPS)} skip in ")
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 60


def test_the_dry_run_lists_every_step_with_its_budget_and_starts_nothing() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    done = subprocess.run(["bash", str(SCRIPT), "--dry-run"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == list(STEPS)
    for line in lines[:-1]:
        assert re.fullmatch(r"\S+ +\d+ s  \S.*", line), line
    budget = sum(int(line.split()[1]) for line in lines[:-1] if not line.startswith("setup "))
    assert lines[-1].startswith(f"budget: {budget} s") and "stopped before the next step" in lines[-1]
