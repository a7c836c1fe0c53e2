#!/usr/bin/env bash
# Build KenLM's lmplz and build_binary (not on PyPI as binaries) from the pinned PyPI kenlm sdist.
#
#   scripts/build_kenlm_tools.sh [CACHE_DIR]      # default: <repo>/.cache/kenlm-tools
#
# The binaries land in CACHE_DIR/bin; `llamacorpus train-lm` looks there (or in $LLAMACORPUS_KENLM_BIN,
# or on PATH) and runs this script itself when they are missing. Idempotent: nothing is rebuilt when
# both binaries exist. About 75 s on 2 cores.
#
# Needs a C++ compiler, cmake and Debian's libboost-program-options-dev libboost-system-dev
# libboost-thread-dev libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev, and a Python with pip and
# setuptools to fetch the sdist ($PYTHON, default the project's .venv/bin/python, else python3).
set -euo pipefail

KENLM_VERSION=0.3.0
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${1:-$ROOT/.cache/kenlm-tools}"
BIN="$CACHE/bin"
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
JOBS="${JOBS:-2}"

if [ -x "$BIN/lmplz" ] && [ -x "$BIN/build_binary" ]; then
  echo "kenlm tools already built in $BIN"
  exit 0
fi

missing=()
for tool in cmake make c++; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
for header in boost/program_options.hpp boost/thread.hpp boost/test/unit_test.hpp zlib.h bzlib.h lzma.h; do
  [ -e "/usr/include/$header" ] || missing+=("/usr/include/$header")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "error: missing ${missing[*]}; on Debian/Ubuntu install them with:" >&2
  echo "  apt-get install cmake g++ libboost-program-options-dev libboost-system-dev libboost-thread-dev" \
       "libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev" >&2
  exit 2
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
started=$SECONDS
# --no-build-isolation: pip only reads the sdist's metadata with this Python's setuptools instead
# of compiling the build requirements (cmake among them) from source.
"$PYTHON" -m pip download --quiet --no-deps --no-binary :all: --no-build-isolation \
  "kenlm==$KENLM_VERSION" -d "$WORK"
tar -xzf "$WORK/kenlm-$KENLM_VERSION.tar.gz" -C "$WORK"
cmake -S "$WORK/kenlm-$KENLM_VERSION" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release >"$WORK/cmake.log" 2>&1 \
  || { cat "$WORK/cmake.log" >&2; exit 1; }
make -C "$WORK/build" -j"$JOBS" lmplz build_binary >"$WORK/make.log" 2>&1 \
  || { tail -50 "$WORK/make.log" >&2; exit 1; }

mkdir -p "$BIN"
for tool in lmplz build_binary; do
  install -m 755 "$WORK/build/bin/$tool" "$BIN/$tool.tmp"
  mv "$BIN/$tool.tmp" "$BIN/$tool"
done
echo "kenlm $KENLM_VERSION" >"$CACHE/VERSION"
echo "built lmplz and build_binary (kenlm $KENLM_VERSION) into $BIN in $((SECONDS - started)) s"
