// libFuzzer harness for the checkpoint pickle reader and the legacy
// (pre-1.6) checkpoint splitter built on it: any byte string must give a
// result or an error, never a crash, a hang, a leak or a read out of bounds
// (built with -fsanitize=fuzzer,address,undefined by
// tests/fuzz/run_fuzzers.sh).
#include <cstddef>
#include <cstdint>

#include "node/engine/legacy_checkpoint.h"
#include "node/engine/pickle_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto doc = anifarm::engine::ParsePickle(bytes, "fuzz.pkl");
  if (doc.ok()) (void)anifarm::engine::ExtractStateDict(*doc, "fuzz.pkl");
  (void)anifarm::engine::ParseLegacyCheckpoint(bytes, "fuzz.pth");
  return 0;
}
