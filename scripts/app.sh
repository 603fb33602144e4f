#!/usr/bin/env bash
# README command (a): set up, create the demo workspace if missing, open the TUI on it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
workspace=${MHBENCH_DEMO:-$PWD/demo-workspace}
[ -f "$workspace/mhbench.db" ] || .venv/bin/mhbench demo "$workspace"
exec .venv/bin/mhbench --workspace "$workspace" "$@"
