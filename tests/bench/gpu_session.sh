#!/usr/bin/env bash
# Everything that needs a GPU, in one call: build the engine against the
# host's CUDA LibTorch, run the CUDA tests, and measure — inference only for
# the speed target, every architecture at 1080p in fp16 and fp32, and one
# `anifarm run` end to end. Made for the device machine of docs/benchmarks.md
# ("Running the GPU checks"): a GPU host with CUDA and PyTorch but no gRPC,
# Abseil or FFmpeg, whose time is short, so every step has a deadline and
# writes its log as it goes.
#
#   bash tests/bench/gpu_session.sh --prepare   # here: fill .deps/ to carry
#   bash tests/bench/gpu_session.sh             # there, from the repository root
#
# --prepare copies the offline dependency prefix, packs the project's other
# build dependencies (scripts/make-gpu-extras.sh: the prefix has no spdlog,
# CLI11, cpp-httplib, toml++ or OpenSSL headers) and copies the model files
# the checks use into .deps/ (git-ignored; about 58 MB, under the device's
# 64 MiB carry). The run unpacks the prefix into /opt/deps unless ANIFARM_DEPS_ENV
# names an env.sh already set up, builds into build-gpu/, and writes one log
# per step plus summary.txt into $OUT (./gpu-session-out without it; the logs
# end up in one logs.tar.gz, as the device returns only a few files). The
# whole run stays under $ANIFARM_GPU_DEADLINE seconds (default 540).
#
# A dry run of the script itself on a machine without a GPU, with binaries
# already built (CTest's gpu_session_dry_run_test does this; fp16 has no CPU
# kernels, so the inference-only runs use fp32 there):
#   ANIFARM_DEPS_ENV=/dev/null ANIFARM_GPU_BIN=build/bin ANIFARM_GPU_DEVICE=cpu ANIFARM_GPU_HALF=fp32 \
#   ANIFARM_GPU_SIZE=64x48 ANIFARM_GPU_MODELS=build/models bash tests/bench/gpu_session.sh
# Every step's status is in summary.txt; the script exits non-zero when one
# failed.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
deps="$root/.deps"
models="$(realpath -m "${ANIFARM_GPU_MODELS:-$deps/models}")"
device="${ANIFARM_GPU_DEVICE:-cuda:0}"
frame="${ANIFARM_GPU_SIZE:-1920x1080}"

# The models the CUDA tests (tests/unit/engine/architectures.h) and
# every_architecture.sh use; the largest RRDB (realesrgan-x4plus-anime) is
# left out to stay under the carry limit (YandereNeo covers RRDBNet).
carried_models=(
  2x-AniScale.pth 4x-NMKD-YandereNeo-Superlite.pth 4x_WTP_descreenton.pth
  realesr-animevideov3-x2.param realesr-animevideov3-x2.bin
  realesr-animevideov3-x4.param realesr-animevideov3-x4.bin
  waifu2x-upconv7-anime-noise0-x2.param waifu2x-upconv7-anime-noise0-x2.bin
  realcugan-up2x-conservative.param realcugan-up2x-conservative.bin
)

if [ "${1:-}" = "--prepare" ]; then
  set -e
  prefix="${ANIFARM_OFFLINE_PREFIX:-$root/../shared/offline-deps/prefix-ubuntu2404-cuda.tar.xz}"
  from="${ANIFARM_MODELS_DIR:-$root/build/models}"
  mkdir -p "$models"
  cp "$prefix" "$deps/"
  # What the project builds with beyond that prefix (spdlog, CLI11, httplib,
  # toml++, OpenSSL headers): packed from Debian 12 packages here.
  bash "$root/scripts/make-gpu-extras.sh" "$deps/anifarm-extras.tar.xz"
  for m in "${carried_models[@]}"; do cp "$from/$m" "$models/"; done
  # cuDNN's headers, for the cuDNN fusion, in case the GPU host's PyTorch
  # came without them (a pip PyTorch usually has them in nvidia/cudnn).
  for dir in /usr/local/cuda/include /usr/local/cuda-*/include /usr/include; do
    if [ -f "$dir/cudnn_graph.h" ]; then
      mkdir -p "$deps/cudnn/include" && cp "$dir"/cudnn*.h "$deps/cudnn/include/"
      break
    fi
  done
  du -sh "$deps"
  echo "carry: [\".deps\"]; command: bash tests/bench/gpu_session.sh"
  exit 0
fi

out="${OUT:-$root/gpu-session-out}"
mkdir -p "$out"
summary="$out/summary.txt"
: >"$summary"
started=$(date +%s)
deadline=$((started + ${ANIFARM_GPU_DEADLINE:-540}))

# step NAME SECONDS COMMAND...: runs COMMAND with its output in NAME.log, for
# at most SECONDS and never past the deadline; records its exit status.
step() {
  local name="$1" limit="$2"
  shift 2
  local left=$((deadline - $(date +%s)))
  if [ "$left" -lt 15 ]; then
    echo "$name: not run (deadline)" | tee -a "$summary"
    return 1
  fi
  [ "$limit" -gt "$left" ] && limit="$left"
  local t0=$(date +%s)
  if declare -F "$1" >/dev/null; then  # a function of this script: timeout needs a program
    timeout --kill-after=5 "$limit" bash -c "$(declare -f "$1"); \"\$@\"" "$name" "$@" >"$out/$name.log" 2>&1
  else
    timeout --kill-after=5 "$limit" "$@" >"$out/$name.log" 2>&1
  fi
  local rc=$?
  echo "$name: rc $rc in $(($(date +%s) - t0)) s" | tee -a "$summary"
  return "$rc"
}

if [ -n "${ANIFARM_DEPS_ENV:-}" ]; then
  source "$ANIFARM_DEPS_ENV"
else
  step unpack 60 bash -c "mkdir -p /opt/deps && tar -xJf '$deps/prefix-ubuntu2404-cuda.tar.xz' -C /opt/deps &&
    tar -xJf '$deps/anifarm-extras.tar.xz' -C /opt/deps"
  source /opt/deps/env.sh
fi
{
  nvidia-smi
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'
  nproc
} >"$out/machine.txt" 2>&1

# The carried cuDNN headers only where PyTorch has none beside it.
if [ -f "$deps/cudnn/include/cudnn_graph.h" ] && [ -z "${ANIFARM_CUDNN_ROOT:-}" ] &&
   ! python3 -c 'import glob, os, sys, torch
sys.exit(0 if glob.glob(os.path.dirname(os.path.dirname(torch.__file__)) + "/nvidia/*/include/cudnn_graph.h") else 1)' 2>/dev/null; then
  export ANIFARM_CUDNN_ROOT="$deps/cudnn"
fi

if [ -n "${ANIFARM_GPU_BIN:-}" ]; then
  # Binaries already built (the dry run in CTest): no configure, no build.
  bin="$(realpath -m "$ANIFARM_GPU_BIN")"
  gpu_build="$out/build"
  mkdir -p "$gpu_build"
else
  gpu_build="$(realpath -m "${ANIFARM_GPU_BUILD:-build-gpu}")"
  configure=(cmake -S . -B "$gpu_build" -G "${ANIFARM_GPU_GENERATOR:-Ninja}" -DCMAKE_BUILD_TYPE=Release
             -DANIFARM_BUILD_TESTS=ON -DANIFARM_TEST_MODEL_DIR="$models")
  # AniFarm's own CUDA kernels have never been built on this host before: if
  # they are what fails, the rest is still worth measuring without them.
  if ! step configure 90 "${configure[@]}"; then
    tail -30 "$out/configure.log"
    step configure_no_kernels 90 "${configure[@]}" -DANIFARM_CUDA_KERNELS=OFF || { cat "$summary"; exit 1; }
  fi
  grep -h 'AniFarm engine:' "$out"/configure*.log | sed 's/^-- /info: /' | tee -a "$summary"
  # The engine's targets first: the speed figures need nothing else. The CLI
  # (gRPC, FFmpeg) builds in the background while they run.
  targets=(engine_tests upscale_bench network_bench)
  if ! step build 300 cmake --build "$gpu_build" -j"$(nproc)" --target "${targets[@]}"; then
    tail -40 "$out/build.log"
    step configure_no_kernels 60 cmake "$gpu_build" -DANIFARM_CUDA_KERNELS=OFF || { cat "$summary"; exit 1; }
    step build_no_kernels 240 cmake --build "$gpu_build" -j"$(nproc)" --target "${targets[@]}" \
      || { tail -40 "$out/build_no_kernels.log"; cat "$summary"; exit 1; }
  fi
  (nice -n 10 timeout 300 cmake --build "$gpu_build" -j"$(( $(nproc) / 2 ))" --target anifarm \
     >"$out/build_cli.log" 2>&1; echo $? >"$out/build_cli.rc") &
  cli_build=$!
  bin="$gpu_build/bin"
fi
export bin models device frame gpu_build out

# The fused epilogue against LibTorch's ops first, and the cuDNN fusion
# against the unfused layers: the speed figures below mean little if they
# are wrong.
step fused_epilogue_test 90 "$bin/engine_tests" --gtest_filter='FusedEpilogue*:CudnnFusion*:CompactEnds*'

# The speed target's case: Compact 2x (AniScale: 64 features, 16 convs) at
# 1080p, inference only; then what batches and tiles do to it.
network_runs() {
  local compact="$models/2x-AniScale.pth" half="${ANIFARM_GPU_HALF:-fp16}" failed=0 args tile variables
  # The default, then the opt-in kernels that could take it to the target
  # (first, so that a deadline cuts the other runs, not these): AniFarm's
  # kernels for the first and last layers, cuDNN's fused body layers, both.
  for variables in "" "ANIFARM_COMPACT_ENDS=1" "ANIFARM_CUDNN_FUSION=1" "ANIFARM_COMPACT_ENDS=1 ANIFARM_CUDNN_FUSION=1"; do
    echo "== network_bench ${variables:-default}"
    # shellcheck disable=SC2086
    env $variables "$bin/network_bench" --model "$compact" --size "$frame" --device "$device" --frames 20 \
      --gflop-per-mpx 1197 --precision "$half" || { echo "network_bench $variables: failed"; failed=1; }
  done
  ANIFARM_COMPACT_ENDS=1 ANIFARM_CUDNN_FUSION=1 "$bin/upscale_bench" --model "$compact" --size "$frame" \
    --device "$device" --precision "$half" --frames 30 --tile 0 --gflop-per-mpx 1197 \
    || { echo "upscale_bench compact ends + cudnn fusion: failed"; failed=1; }
  local runs=("--precision $half --batch 2" "--precision $half --batch 4"
              "--precision $half --tile 512" "--precision $half --tile 256" "--precision fp32")
  [ "$half" = fp16 ] && runs+=("--precision bf16")
  for args in "${runs[@]}"; do
    # shellcheck disable=SC2086
    "$bin/network_bench" --model "$compact" --size "$frame" --device "$device" --frames 20 \
      --gflop-per-mpx 1197 $args || { echo "network_bench $args: failed"; failed=1; }
  done
  # The fused bias+PReLU epilogue (on by default where built) against
  # LibTorch's separate bias add and PReLU.
  ANIFARM_FUSED_EPILOGUE=0 "$bin/network_bench" --model "$compact" --size "$frame" --device "$device" --frames 20 \
    --gflop-per-mpx 1197 --precision "$half" || { echo "network_bench eager epilogue: failed"; failed=1; }
  # The first and last convolutions' channels padded to multiples of 8
  # (conv_ceiling.py times those layers alone, padded and not).
  ANIFARM_PAD_CHANNELS=1 "$bin/network_bench" --model "$compact" --size "$frame" --device "$device" --frames 20 \
    --gflop-per-mpx 1197 --precision "$half" || { echo "network_bench padded ends: failed"; failed=1; }
  # cuDNN runtime fusion (its log says which layers kept a fused plan, with
  # every candidate's time) with the padded ends (3 -> 8 input channels may
  # let the first layer fuse).
  ANIFARM_CUDNN_FUSION=1 ANIFARM_PAD_CHANNELS=1 "$bin/network_bench" --model "$compact" --size "$frame" \
    --device "$device" --frames 20 --gflop-per-mpx 1197 --precision "$half" \
    || { echo "network_bench cudnn fusion, padded ends: failed"; failed=1; }
  ANIFARM_CUDNN_FUSION=1 "$bin/upscale_bench" --model "$compact" --size "$frame" --device "$device" \
    --precision "$half" --frames 30 --tile 0 --gflop-per-mpx 1197 || { echo "upscale_bench cudnn fusion: failed"; failed=1; }
  # The same through the engine (copies, 8-bit conversion): --tile auto
  # (2048 px, the whole frame, on a 40 GB+ card) against the guide's 1024 px.
  for tile in 0 1024; do
    "$bin/upscale_bench" --model "$compact" --size "$frame" --device "$device" --precision "$half" --frames 20 \
      --tile "$tile" --gflop-per-mpx 1197 || { echo "upscale_bench --tile $tile: failed"; failed=1; }
  done
  # Frames in flight, each on its own thread and CUDA stream: one frame's
  # copies under another's kernels (the engine's default is 2 on 16 GB+).
  local n
  for n in 1 3; do
    "$bin/upscale_bench" --model "$compact" --size "$frame" --device "$device" --precision "$half" --frames 30 \
      --in-flight "$n" --gflop-per-mpx 1197 || { echo "upscale_bench --in-flight $n: failed"; failed=1; }
  done
  return "$failed"
}
step network_bench 240 network_runs
# The same network shape in PyTorch: eager, without activations, convolutions
# only (the ceiling a fused epilogue works toward).
[ "$device" != cpu ] && step conv_ceiling 60 python3 tests/bench/conv_ceiling.py --size "$frame" --dtype "${ANIFARM_GPU_HALF:-fp16}"

# Every architecture in fp32/fp16/bf16 against the CPU, tiles against whole
# frames, device post-processing and allocator figures on the GPU.
step cuda_tests 150 "$bin/engine_tests" --gtest_filter='*Cuda*:-FusedEpilogue*:CudnnFusion*:CompactEnds*'

# Every architecture through the engine, copies included (upscale_bench).
export ANIFARM_BIN="$bin" ANIFARM_MODELS_DIR="$models"
step every_fp16 100 bash tests/bench/every_architecture.sh --size "$frame" --device "$device" --precision fp16 --frames 10

# End to end on the GPU: decode, upscale, encode overlapping, 1080p in.
e2e() {
  local dir="$out/e2e"
  mkdir -p "$dir"
  local t0
  rm -rf "$gpu_build/e2e-state"  # a fresh job each run, not a resumed one
  "$bin/anifarm" sample "$dir/sample.mp4" --frames 96 --size "$frame" || return 1
  t0=$(date +%s%3N)
  "$bin/anifarm" run "$dir/sample.mp4" -o "$dir/sample-2x.mp4" --models-dir "$models" \
    --state-dir "$gpu_build/e2e-state" --model 2x-AniScale --device "$device" --precision fp16 || return 1
  echo "anifarm run: 96 frames in $(($(date +%s%3N) - t0)) ms"
  ls -l "$dir/sample-2x.mp4"
  rm -f "$dir/sample.mp4" "$dir/sample-2x.mp4"  # keep $OUT small: the log says enough
}
if [ -n "${cli_build:-}" ]; then
  wait "$cli_build"
  echo "build_cli: rc $(cat "$out/build_cli.rc" 2>/dev/null || echo '?') in the background" | tee -a "$summary"
fi
step e2e_run 90 e2e
# (Less the model-cache case: it needs realesr-animevideov3-x3, which the
# carry leaves out; the CPU suite runs it.)
step engine_tests 120 "$bin/engine_tests" \
  --gtest_filter='TorchEngineTest.*:SrvggCompactTest.*:-TorchEngineTest.ModelCacheStaysWithinItsMemoryBudget'
step every_fp32 90 bash tests/bench/every_architecture.sh --size "$frame" --device "$device" --precision fp32 --frames 5
# Every architecture with the cuDNN fusion against without it (last: the
# fusion is opt-in, and each fused shape's first plan compiles a kernel).
step cudnn_fusion_engine 120 "$bin/engine_tests" --gtest_filter='*CudnnFusionEngineTest*'

echo "total: $(($(date +%s) - started)) s" | tee -a "$summary"
# The device brings back only a few files from $OUT: the logs travel as one.
(cd "$out" && tar -czf logs.tar.gz --remove-files -- *.log machine.txt build_cli.rc 2>/dev/null)
# Non-zero when a step failed or was cut by the deadline (the logs say which).
! grep -qv ': rc 0 in\|^total:\|^info:' "$summary"
