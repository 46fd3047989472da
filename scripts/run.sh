#!/usr/bin/env bash
# Installs what is missing, builds, and runs the default model (Gemma 3 270M) on a sample
# prompt. Extra arguments go to `gemma-serve generate`, e.g. --prompt "Once upon a time".
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
if [ $# -eq 0 ]; then
  set -- --prompt "The history of the printing press begins" --max-tokens 128
fi
exec ./build/server/gemma-serve generate --model "$(cat .model-path)" "$@"
