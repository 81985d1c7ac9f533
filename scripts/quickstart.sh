#!/usr/bin/env bash
# The main job, from nothing: install what is missing, build, fetch the real
# models, generate a sample clip with an audio track and upscale it 2x on
# this machine with `anifarm run`. Prints where the output is.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh -DANIFARM_BUILD_TESTS=OFF
bin=build/bin
models="${ANIFARM_MODELS_DIR:-$PWD/build/models}"
"$bin/anifarm" models fetch --models-dir "$models"
mkdir -p out
"$bin/anifarm" sample out/sample.mp4 --frames 48 --size 320x180 >/dev/null
echo "sample clip: out/sample.mp4 (320x180, 48 frames, 440 Hz audio)"
"$bin/anifarm" run out/sample.mp4 -o out/sample-2x.mp4 --models-dir "$models" \
  --state-dir out/state --model 2x-AniScale
echo "output: $PWD/out/sample-2x.mp4"
