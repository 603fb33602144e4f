#!/usr/bin/env bash
# README command (b): set up, lint, type-check core (strict) and tui, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The browser test of the rater door drives Debian's headless Chromium: install it when we can
# and a CJK font for its screenshot (root with apt-get), quietly; where we cannot, that test skips and says why.
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && ! command -v chromedriver >/dev/null 2>&1; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei; } \
    >/dev/null 2>&1 || echo "mhbench: could not install chromium (the browser test will skip)" >&2
fi
# The door's TLS test puts Debian's nginx (self-signed certificate by openssl) in front of it: the same, where we can.
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && ! { command -v nginx || [ -x /usr/sbin/nginx ]; } >/dev/null 2>&1; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx openssl; } \
    >/dev/null 2>&1 || echo "mhbench: could not install nginx (the TLS proxy test will skip)" >&2
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 MODELSCOPE_OFFLINE=1
.venv/bin/ruff check core tui tests
.venv/bin/mypy core
.venv/bin/mypy tui
.venv/bin/python -m pytest -q -ra "$@"
