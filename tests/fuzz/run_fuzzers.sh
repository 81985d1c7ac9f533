#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (fuzzer + address + undefined
# sanitizers) and runs each for a bounded time on the seeds kept in
# tests/fuzz/*_seeds plus the real checkpoint's pickle. A crash fails the
# test and leaves its input in the work folder; keep it as a seed once fixed.
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
mkdir -p "$work"
absl_libs=$(pkg-config --libs absl_status absl_statusor absl_strings absl_str_format)
clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$src" "$src/tests/fuzz/pickle_reader_fuzzer.cc" "$src/node/engine/pickle_reader.cc" \
  "$src/node/engine/legacy_checkpoint.cc" \
  $absl_libs -o "$work/pickle_reader_fuzzer"

corpus="$work/pickle_corpus"
rm -rf "$corpus"; mkdir -p "$corpus"
cp "$src"/tests/fuzz/pickle_seeds/* "$corpus"/ 2>/dev/null || true
# The real checkpoint's pickle: the best seed there is (python3's zipfile
# only reads the archive; nothing in it is executed).
if [ -f "$models/2x-AniScale.pth" ]; then
  python3 - "$models/2x-AniScale.pth" "$corpus/aniscale.pkl" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    name = next(n for n in z.namelist() if n.endswith("data.pkl"))
    open(sys.argv[2], "wb").write(z.read(name))
PY
fi
cd "$work"
./pickle_reader_fuzzer -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -max_len=65536 -print_final_stats=1 "$corpus"
echo "pickle_reader_fuzzer: no crash in ${seconds} s"
