#!/usr/bin/env bash
# README command (b): set up, lint, type-check core, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 MODELSCOPE_OFFLINE=1
.venv/bin/ruff check core tui tests
.venv/bin/mypy core
.venv/bin/python -m pytest -q -ra "$@"
