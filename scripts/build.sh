#!/usr/bin/env bash
# Configures and builds gemma-serve in build/ (Release, Ninja). Extra arguments go to cmake's
# configure step, e.g. -DGS_CUDA=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" > /dev/null
cmake --build build -j "$(nproc)"
ln -sf build/compile_commands.json compile_commands.json
