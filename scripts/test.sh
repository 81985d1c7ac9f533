#!/usr/bin/env bash
# Installs what is missing, builds everything with the tests, fetches the
# real model weights the tests use, and runs the whole suite with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --tests
models="$PWD/build/models"
bash scripts/build.sh -DANIFARM_BUILD_TESTS=ON -DANIFARM_TEST_MODEL_DIR="$models"
build/bin/anifarm models fetch --models-dir "$models"
# The browser test drives Debian's Chromium with playwright-core from npm.
[ -d build/web/node_modules/playwright-core ] ||
  npm install --silent --no-audit --no-fund --prefix build/web playwright-core@1
cd build
# CTest runs tests side by side, so each runs LibTorch on one thread (a CPU
# engine otherwise takes every CPU, torch_engine.h) rather than all of them
# fighting over the cores.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
ctest --output-on-failure -j"${ANIFARM_JOBS:-2}"
