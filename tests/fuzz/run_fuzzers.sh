#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (fuzzer + address + undefined
# sanitizers; tests/fuzz/fuzzers.mk, incremental in WORK_DIR) and runs each
# for a bounded time on the seeds kept in tests/fuzz/*_seeds (plus the real
# checkpoint's pickle for the pickle reader):
#   pickle_reader_fuzzer    model checkpoint pickles (node/engine)
#   media_probe_fuzzer      a submitted input file: probe, packets, decode
#   coordinator_rpc_fuzzer  coordinator request handlers + chunk payloads
#   model_loader_fuzzer     safetensors and ncnn .param parsing (LibTorch)
# The four run side by side (SECONDS each, not one after the other) so the
# CTest entry stays short on a 2-core machine. A crash fails the test and
# leaves its input in WORK_DIR as <fuzzer>-crash-*; keep it as a seed in the
# fuzzer's *_seeds folder once fixed. tests/fuzz/README.md: longer runs.
#
# usage: run_fuzzers.sh SOURCE_DIR WORK_DIR MODELS_DIR [SECONDS]
# Exit 77 (skipped) when clang's libFuzzer runtime is not installed.
set -euo pipefail
src="$1"; work="$2"; models="$3"; seconds="${4:-30}"
if ! command -v clang++ >/dev/null 2>&1; then
  echo "SKIP: clang++ not installed (Debian: clang, libclang-rt-14-dev)"; exit 77
fi
if ! echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long){return 0;}' |
     clang++ -x c++ -fsanitize=fuzzer - -o /dev/null 2>/dev/null; then
  echo "SKIP: clang's libFuzzer runtime is missing (Debian: libclang-rt-14-dev)"; exit 77
fi
fuzzers=(pickle_reader_fuzzer media_probe_fuzzer coordinator_rpc_fuzzer model_loader_fuzzer)
# The loader harness links Debian's LibTorch with lld; without either it is
# left out (the three others still run).
if [ ! -f /usr/include/torch/csrc/api/include/torch/types.h ] || ! command -v ld.lld >/dev/null 2>&1; then
  echo "NOTE: model_loader_fuzzer left out (needs LibTorch headers in /usr/include/torch and lld)"
  fuzzers=(pickle_reader_fuzzer media_probe_fuzzer coordinator_rpc_fuzzer)
fi
mkdir -p "$work"
jobs=$(nproc 2>/dev/null || echo 2)
build_start=$SECONDS
if [ -z "${ANIFARM_FUZZ_NO_BUILD:-}" ]; then  # set it to rerun the binaries already in WORK_DIR
  make -s -f "$src/tests/fuzz/fuzzers.mk" SRC="$src" WORK="$work" -j"$jobs" \
    "${fuzzers[@]/#/$work/}"
  echo "fuzzers built in $((SECONDS - build_start)) s"
fi

fresh_corpus() {  # NAME SEED_DIR: a scratch copy, so runs do not grow the repo
  rm -rf "$work/$1"; mkdir -p "$work/$1"
  cp "$2"/* "$work/$1"/ 2>/dev/null || true
}
fresh_corpus pickle_corpus "$src/tests/fuzz/pickle_seeds"
fresh_corpus media_corpus "$src/tests/fuzz/media_seeds"
fresh_corpus coordinator_corpus "$src/tests/fuzz/coordinator_seeds"
fresh_corpus loader_corpus "$src/tests/fuzz/loader_seeds"
# The real checkpoint's pickle: the best seed there is (python3's zipfile
# only reads the archive; nothing in it is executed).
if [ -f "$models/2x-AniScale.pth" ]; then
  python3 - "$models/2x-AniScale.pth" "$work/pickle_corpus/aniscale.pkl" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    name = next(n for n in z.namelist() if n.endswith("data.pkl"))
    open(sys.argv[2], "wb").write(z.read(name))
PY
fi

cd "$work"
rm -f ./*-crash-* ./*-leak-* ./*-timeout-* ./*-oom-*
declare -A max_len=([pickle_reader_fuzzer]=65536 [media_probe_fuzzer]=32768
                    [coordinator_rpc_fuzzer]=16384 [model_loader_fuzzer]=16384)
declare -A corpus=([pickle_reader_fuzzer]=pickle_corpus [media_probe_fuzzer]=media_corpus
                   [coordinator_rpc_fuzzer]=coordinator_corpus [model_loader_fuzzer]=loader_corpus)
declare -A pid
for fuzzer in "${fuzzers[@]}"; do
  ./"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len="${max_len[$fuzzer]}" -print_final_stats=1 -artifact_prefix="$work/$fuzzer-" \
    "${corpus[$fuzzer]}" >"$fuzzer.log" 2>&1 &
  pid[$fuzzer]=$!
done
failed=0
for fuzzer in "${fuzzers[@]}"; do
  if wait "${pid[$fuzzer]}"; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$fuzzer.log")
    echo "$fuzzer: no crash in ${seconds} s (${runs:-?} runs)"
  else
    failed=1
    echo "=== $fuzzer FAILED; its log ($work/$fuzzer.log) ends with:"
    grep -v '^\[' "$fuzzer.log" | tail -n 60
    ls -1 "$work/$fuzzer"-* 2>/dev/null | sed 's/^/input kept: /' || true
  fi
done
exit "$failed"
