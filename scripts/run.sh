#!/usr/bin/env bash
# Installs what is missing, builds, and runs the default model (Gemma 3 270M) on a sample chat
# message. Extra arguments go to `gemma-serve generate`, e.g. --chat "Tell me a joke".
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
if [ $# -eq 0 ]; then
  set -- --chat "Explain in two sentences why the sky is blue." --max-tokens 128
fi
exec ./build/server/gemma-serve generate --model "$(cat .model-path)" "$@"
