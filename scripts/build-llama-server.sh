#!/usr/bin/env bash
# Builds llama.cpp's own `llama-server` into .venv/bin from the llama.cpp source that the installed
# llama-cpp-python vendors (its sdist, same version), so the server and the Python bindings read
# GGUF files and chat templates alike. Why a second llama.cpp: `python -m llama_cpp.server` serves
# one stream at a time and keeps generating for a client that hung up; llama-server has parallel
# slots, /health, and stops a slot's generation when its client closes the connection.
#   CPU: AMX off (the native build crashed on quantised models on AMX CPUs).
#   CUDA: where nvidia-smi sees a GPU and nvcc is there; a GPU without nvcc builds for the CPU, with a warning.
# Idempotent: a binary of that version and accelerator (its stamp) is kept, and this takes a second.
#   LLAMA_SERVER_ACCEL=cpu|cuda   force the accelerator;   LLAMA_SERVER_JOBS=N   compile jobs (default: cores)
#   MHBENCH_VENV=DIR (default .venv), LLAMA_SERVER_DEST=FILE (default its bin/llama-server),
#   LLAMA_SERVER_WORK=DIR (the source and build, default its .llama-server-build)
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${MHBENCH_VENV:-.venv}
VPY=$venv/bin/python
[ -x "$VPY" ] || { echo "build-llama-server: no $venv yet; run scripts/setup.sh first." >&2; exit 1; }
version=$("$VPY" -c 'import importlib.metadata as m; print(m.version("llama_cpp_python"))' 2>/dev/null) || {
  echo "build-llama-server: llama-cpp-python is not installed in .venv; run scripts/setup.sh first." >&2; exit 1; }

accel=${LLAMA_SERVER_ACCEL:-}
if [ -z "$accel" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    if command -v nvcc >/dev/null 2>&1; then
      accel=cuda
    else
      echo "build-llama-server: WARNING: a GPU but no nvcc (CUDA toolkit): building llama-server for the CPU." >&2
      echo "build-llama-server: install the CUDA toolkit, then: LLAMA_SERVER_ACCEL=cuda bash scripts/build-llama-server.sh" >&2
      accel=cpu
    fi
  else
    accel=cpu
  fi
fi

binary=${LLAMA_SERVER_DEST:-$venv/bin/llama-server}
stamp=$binary.version
want="llama-cpp-python $version $accel"
if [ -x "$binary" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

work=${LLAMA_SERVER_WORK:-$venv/.llama-server-build}
mkdir -p "$work"
sdist="$work/llama_cpp_python-$version.tar.gz"
if [ ! -f "$sdist" ]; then
  echo "build-llama-server: fetching the llama-cpp-python $version source"
  "$VPY" -m pip download --quiet --no-binary :all: --no-deps -d "$work" "llama-cpp-python==$version"
fi
src="$work/llama_cpp_python-$version"
[ -d "$src/vendor/llama.cpp/tools/server" ] || tar xzf "$sdist" -C "$work"

cmake_args=(
  -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON
  # No network at build or run time: no curl downloads, no prebuilt web UI fetched from a hub.
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF
)
if [ "$accel" = cuda ]; then
  arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')
  cmake_args+=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=${arch:-native}")
else
  cmake_args+=(-DGGML_NATIVE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_BF16=OFF)
fi

jobs=${LLAMA_SERVER_JOBS:-$(nproc)}
build="$work/build-$version-$accel"
echo "mhbench: building llama-server $version ($accel, $jobs jobs): a few minutes"
started=$(date +%s)
cmake -S "$src/vendor/llama.cpp" -B "$build" "${cmake_args[@]}" >"$work/cmake.log" 2>&1 \
  || { tail -30 "$work/cmake.log" >&2; echo "build-llama-server: cmake failed; the whole log: $work/cmake.log" >&2; exit 1; }
cmake --build "$build" --target llama-server -j "$jobs" >"$work/build.log" 2>&1 \
  || { tail -30 "$work/build.log" >&2; echo "build-llama-server: the build failed; the whole log: $work/build.log" >&2; exit 1; }
mkdir -p "$(dirname "$binary")"
install -m 755 "$build/bin/llama-server" "$binary"
echo "$want" > "$stamp"
rm -rf "$build"  # hundreds of MB of objects that only a rebuild of this exact version would reuse
echo "mhbench: llama-server $version ($accel) installed as $binary in $(( $(date +%s) - started )) s"
