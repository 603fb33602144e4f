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

# What this box needs (CUDA build for the driver, GPU architecture, nvcc, the gpu extra) is decided
# by scripts/setup_plan.py, which tests run with stub nvidia-smi and nvcc; here it is only carried out.
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
want="$(cat pyproject.toml constraints.txt scripts/setup.sh scripts/setup_plan.py | sha256sum | cut -c1-16)-$accel"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

echo "mhbench: setting up .venv for $accel (first time: about 15 to 20 minutes on 2 cores, most of it building llama.cpp twice: llama-cpp-python and llama-server)"
"$VPY" -m pip install --quiet --upgrade pip

step() { echo "mhbench: $*"; }

warn() { echo "mhbench: WARNING: $*" >&2; }

# The venv's own answers, for the plan: which torch build, whether llama.cpp offloads, flash-attn.
torch_cuda=$("$VPY" -c 'import torch; print(torch.version.cuda or "none")' 2>/dev/null || echo absent)
llama_offload=$("$VPY" -c 'import llama_cpp; print("yes" if llama_cpp.llama_supports_gpu_offload() else "no")' \
  2>/dev/null || echo absent)
flash_imports=$("$VPY" -c 'import flash_attn' >/dev/null 2>&1 && echo yes || echo no)
notes=()
eval "$("$PYTHON" scripts/setup_plan.py --torch-cuda "$torch_cuda" --llama-offload "$llama_offload" \
  --flash-attn "$flash_imports")"
for note in "${notes[@]}"; do warn "$note"; done

if [ "$torch_install" = yes ]; then
  step "installing torch 2.13.0 ($torch_index${driver:+, driver $driver})"
  if [ "$torch_index" != cpu ]; then
    # The build for this driver, named with its local label: a 2.13.0+cpu already here satisfies a
    # plain ==2.13.0 and would stay.
    "$VPY" -m pip install --quiet "torch==2.13.0+$torch_index" \
      --index-url "https://download.pytorch.org/whl/$torch_index" --extra-index-url https://pypi.org/simple
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
fi

if [ "$llama_install" = yes ]; then
  step "building llama-cpp-python from source ($llama_cmake), about 5 minutes"
  if ! CMAKE_ARGS="$llama_cmake" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$VPY" -m pip install --quiet \
       --force-reinstall --no-cache-dir -c constraints.txt "llama-cpp-python[server]==0.3.36"; then
    [ "$llama_cmake" != "$llama_cpu_cmake" ] || exit 1
    warn "the CUDA build of llama.cpp failed: building it for the CPU (GGUF models will not use the GPU)."
    CMAKE_ARGS="$llama_cpu_cmake" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
      "$VPY" -m pip install --quiet --force-reinstall --no-cache-dir -c constraints.txt "llama-cpp-python[server]==0.3.36"
  fi
fi

step "installing mhbench with the train, gguf and dev extras"
"$VPY" -m pip install --quiet -c constraints.txt -e ".[train,gguf,dev]"
bash scripts/build-llama-server.sh  # llama.cpp's llama-server serves GGUF files (parallel slots, cancel frees a slot)

# The gpu extra, never as `-e '.[gpu]'` (that needs hatchling in the venv and would compile
# flash-attn in an isolated build without torch). The constraints keep torch and peft where they
# are: pip refuses rather than downgrades. A part that fails is named; the rest of the box works.
if [ "$gpu_extra" = yes ]; then
  step "installing the gpu extra: bitsandbytes, deepspeed, liger-kernel"
  DS_BUILD_OPS=0 "$VPY" -m pip install --quiet -c constraints.txt \
    "bitsandbytes>=0.45,<1" "deepspeed>=0.16,<0.19" "liger-kernel>=0.5,<1" \
    || warn "the gpu extra did not install: QLoRA and DeepSpeed are refused before launch until it does."
fi
flash_note="flash-attn is not installed: profiles with attn_impl = flash_attn train with sdpa and packing off (the dry run says so)."
case "$flash_attn" in
  build)
    step "building flash-attn against torch (nvcc $nvcc), 10 to 30 minutes"
    "$VPY" -m pip install --quiet wheel ninja packaging
    MAX_JOBS="$(nproc)" "$VPY" -m pip install --quiet -c constraints.txt --no-build-isolation "flash-attn>=2.7,<3" \
      || warn "$flash_note The build failed; its log: rerun the pip line above without --quiet."
    ;;
  wheel)
    # No nvcc: only a prebuilt wheel for this torch, CUDA and Python will do (FLASH_ATTN_WHEEL, or find-links).
    "$VPY" -m pip install --quiet wheel ninja packaging
    "$VPY" -m pip install --quiet -c constraints.txt --no-build-isolation --only-binary flash-attn \
      "${FLASH_ATTN_WHEEL:-flash-attn>=2.7,<3}" 2>/dev/null \
      || warn "$flash_note No nvcc and no matching wheel: install the CUDA toolkit, or set FLASH_ATTN_WHEEL to a wheel."
    ;;
esac

echo "$want" > "$stamp"
step "environment ready (.venv)"
