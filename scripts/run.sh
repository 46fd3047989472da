#!/usr/bin/env bash
# Installs what is missing, builds, and starts the OpenAI-compatible server on the default model
# (Gemma 3 270M) at http://127.0.0.1:8080. Extra arguments go to `gemma-serve serve`, e.g.
# --port 9000 or --config configs/server.json. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
exec ./build/server/gemma-serve serve --model "$(cat .model-path)" "$@"
