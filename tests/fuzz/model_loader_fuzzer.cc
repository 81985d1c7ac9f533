// libFuzzer harness for the two model loaders that build LibTorch tensors:
// ParseSafetensors (node/engine/safetensors.cc) and ParseNcnnParam
// (node/engine/ncnn_model.cc with its shape inference, ncnn_shapes.cc, and
// family matching, ncnn_families.cc). Any byte string must give a result or
// an error, never a crash, a hang, a leak or a read out of bounds.
//
// Input: the first byte picks the loader, the rest is the file:
//   odd  (e.g. 'S')  ParseSafetensors (and LooksLikeSafetensors) on the rest;
//                    c10::Error is caught as LoadSafetensors does.
//   even (e.g. 'N')  ParseNcnnParam on the rest; nothing more when it parses
//                    (no weights, no run).
//
// Built by tests/fuzz/fuzzers.mk with -fsanitize=fuzzer,address,undefined
// like the others; only these sources are instrumented, LibTorch is
// Debian's, linked as is (ASan's runtime runs it without complaint).
//
// Seeds: `ANIFARM_FUZZ_WRITE_SEEDS=DIR ./model_loader_fuzzer` writes a tiny
// valid safetensors file ('S' + file) into DIR and exits;
// tests/fuzz/loader_seeds/ keeps it, along with real .param files ('N' +
// file) from the test models.
#include <c10/util/Exception.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/string_view.h"
#include "node/engine/ncnn_model.h"
#include "node/engine/safetensors.h"

namespace {

void Put(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// 'S' + a safetensors file with an F32 [2,2], an F16 [3] and a BF16 [1,2]
// tensor and __metadata__, under a common "module." prefix.
std::string TinySafetensors() {
  const std::string header =
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"module.conv.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
      "\"module.conv.bias\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[16,22]},"
      "\"module.prelu\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[22,26]}}";
  std::string file = "S";
  Put(&file, header.size(), 8);
  file += header;
  for (uint32_t f : {0x3f800000u, 0x40000000u, 0xbf800000u, 0x3e800000u}) Put(&file, f, 4);  // 1 2 -1 .25
  for (uint16_t h : {0x3c00, 0x4000, 0xbc00}) Put(&file, h, 2);                                // 1 2 -1
  for (uint16_t b : {0x3f80, 0x4040}) Put(&file, b, 2);                                        // 1 3
  return file;
}

int WriteSeeds(const std::string& dir) {
  std::ofstream out(dir + "/tiny.safetensors", std::ios::binary | std::ios::trunc);
  const std::string bytes = TinySafetensors();
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return out ? 0 : 1;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("ANIFARM_FUZZ_WRITE_SEEDS")) std::exit(WriteSeeds(dir));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view file(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    (void)anifarm::engine::LooksLikeSafetensors(file);
    try {
      (void)anifarm::engine::ParseSafetensors(file, "fuzz.safetensors");
    } catch (const c10::Error&) {
    }
  } else {
    (void)anifarm::engine::ParseNcnnParam(file, "fuzz.param");
  }
  return 0;
}
