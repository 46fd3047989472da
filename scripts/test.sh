#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: unit tests, the goldens against llama.cpp
# and jinja2, the CLI, and the server end to end (the real process on loopback with the real
# model, through the openai SDK and raw sockets). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
export GS_MODEL_PATH="$(cat .model-path)"
export GS_REQUIRE_MODEL=1  # a missing model fails the goldens instead of skipping them
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 1200
