#!/usr/bin/env bash
# mhbench's GPU smoke test: CUDA torch, swift sft LoRA and QLoRA on the GPU, NVML seeing the run,
# merge, GGUF, llama.cpp with every layer on the GPU, a streamed answer, then the seed profiles'
# paths (flash-attn with packing, model type, swift deploy with adapters, two servers on one GPU,
# torchrun stop and resume, the QLoRA merge), and a two-wave
# pre-generation; one line per step, each within its time budget.
# No download: the tiny models are made here, as `mhbench demo` makes them. Not part of CI.
#   scripts/gpu-smoke.sh              set up (CUDA torch, the gpu extra), then every step
#   scripts/gpu-smoke.sh --no-setup   the steps only (packages already installed)
#   scripts/gpu-smoke.sh --cpu        on a box without a GPU: the CPU-capable steps on the CPU
#   scripts/gpu-smoke.sh --dry-run    list the steps, each one's time budget and what it proves
# Without a GPU (and without --cpu) every GPU step is a SKIP line and the exit code is 0.
set -euo pipefail
cd "$(dirname "$0")/.."

has_gpu=no
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  has_gpu=yes
fi
# A fresh GPU box has no .venv yet: setup.sh makes it (and picks CUDA torch, since nvidia-smi sees a GPU).
if [ ! -x .venv/bin/python ] && [ "$has_gpu" = yes ] && [[ " $* " != *" --no-setup "* ]] \
   && [[ " $* " != *" --dry-run "* ]]; then
  bash scripts/setup.sh
fi
PY=.venv/bin/python
[ -x "$PY" ] || PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" scripts/gpu_smoke.py "$@"
