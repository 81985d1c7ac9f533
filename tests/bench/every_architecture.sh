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

# model file, and its cost in GFLOP per input megapixel where known (a
# multiply-add is 2 FLOP; see docs/benchmarks.md).
runs=(
  "$models/2x-AniScale.pth 1197"
  "$models/realesr-animevideov3-x4.param 1238"
  "$models/4x-NMKD-YandereNeo-Superlite.pth -"
  "$models/realesrgan-x4plus-anime.param -"
  "$models/4x_WTP_descreenton.pth -"
  "$models/waifu2x-upconv7-anime-noise0-x2.param -"
  "$models/realcugan-up2x-conservative.param -"
  "$fixtures/span_x2.pth -"
  "$fixtures/realplksr_x2.pth -"
  "$fixtures/dat_x2.pth -"
  "$fixtures/tiny_scripted_x2.pt -"
)
status=0
for run in "${runs[@]}"; do
  read -r model gflop <<<"$run"
  # A model left out of the folder (a GPU host's carried subset) is noted, not an error.
  if [ ! -f "$model" ]; then
    echo "$model: skipped (not found)"
    continue
  fi
  cost=()
  [ "$gflop" != "-" ] && cost=(--gflop-per-mpx "$gflop")
  "$bin/upscale_bench" --model "$model" "${cost[@]}" "$@" || { echo "$model: failed"; status=1; }
done
exit "$status"
