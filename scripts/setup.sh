#!/usr/bin/env bash
# Sets up .venv with everything mhbench needs: CPU or CUDA torch, ms-swift, llama-cpp-python
# built from source (AMX off on CPU-only boxes, CUDA on GPU boxes), the converter and dev tools.
# Idempotent: a stamp of the inputs makes a second run take a second.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
"$PYTHON" - <<'PY' || { echo "mhbench needs Python >= 3.11 (set PYTHON=/path/to/python3.11)." >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  accel=cuda
else
  accel=cpu
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
VPY=.venv/bin/python
# Byte-compile the project's own modules: where PYTHONDONTWRITEBYTECODE is set, nothing else
# would cache them, and every start of the app would compile them again.
"$VPY" -m compileall -q core tui >/dev/null 2>&1 || true

stamp=.venv/.mhbench-setup
want="$(cat pyproject.toml constraints.txt scripts/setup.sh | sha256sum | cut -c1-16)-$accel"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

echo "mhbench: setting up .venv for $accel (first time: about 10 minutes, most of it building llama.cpp)"
"$VPY" -m pip install --quiet --upgrade pip

step() { echo "mhbench: $*"; }

step "installing torch 2.13.0 ($accel)"
if [ "$accel" = cuda ]; then
  "$VPY" -m pip install --quiet "torch==2.13.0"
else
  # A CPU wheel that pip can already see (find-links) first; else PyTorch's CPU index.
  # Never plain PyPI here: its Linux wheel is the CUDA build with several GB of CUDA packages.
  wheel_dir=$(mktemp -d)
  if "$VPY" -m pip download --quiet --no-deps --no-index -d "$wheel_dir" "torch==2.13.0" 2>/dev/null \
     && ls "$wheel_dir"/torch-2.13.0+cpu-*.whl >/dev/null 2>&1; then
    "$VPY" -m pip install --quiet "$wheel_dir"/torch-2.13.0+cpu-*.whl
  else
    "$VPY" -m pip install --quiet "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu \
      --extra-index-url https://pypi.org/simple
  fi
  rm -rf "$wheel_dir"
fi

if ! "$VPY" -c 'import llama_cpp' 2>/dev/null; then
  if [ "$accel" = cuda ]; then
    cmake_args="-DGGML_CUDA=on"
  else
    # The native build crashes on quantised models on AMX CPUs (ggml_backend_amx_mul_mat).
    cmake_args="-DGGML_NATIVE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_BF16=OFF"
  fi
  step "building llama-cpp-python from source ($cmake_args), about 5 minutes"
  CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "$VPY" -m pip install --quiet --no-cache-dir -c constraints.txt "llama-cpp-python[server]==0.3.36"
fi

step "installing mhbench with the train, gguf and dev extras"
"$VPY" -m pip install --quiet -c constraints.txt -e ".[train,gguf,dev]"
bash scripts/build-llama-server.sh  # llama.cpp's llama-server serves GGUF files (parallel slots, cancel frees a slot)

echo "$want" > "$stamp"
step "environment ready (.venv)"
