#!/usr/bin/env bash
# Configures and builds AniFarm into build/ (binaries in build/bin).
# Extra arguments go to the CMake configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"${ANIFARM_JOBS:-2}"
