// How close a reduced-precision or other-device run must come to fp32 on
// the CPU: PSNR of the 8-bit output frames (peak 255). Shared by the CPU
// bf16 test and the CUDA test.
//   fp32 on another device (cuDNN may use TF32)   >= 50 dB
//   fp16                                          >= 40 dB
//   bf16 (8 mantissa bits)                        >= 32 dB
// An fp32-only architecture (DAT) runs fp32 whatever is asked, and must then
// meet the fp32 bound.
#ifndef ANIFARM_TESTS_UNIT_ENGINE_PRECISION_BOUNDS_H_
#define ANIFARM_TESTS_UNIT_ENGINE_PRECISION_BOUNDS_H_

#include <string>

#include "absl/strings/match.h"

namespace anifarm::engine::testutil {

constexpr double kFp32MinPsnr = 50.0;
constexpr double kFp16MinPsnr = 40.0;
constexpr double kBf16MinPsnr = 32.0;

// The bound for a run asked for `precision` whose upscaler describes itself
// as `description` (an fp32-only architecture says "[fp32 only: …]", a
// request the device does not honour says "requested, not used").
inline double MinPsnrFor(const std::string& precision, const std::string& description) {
  if (precision == "fp32" || absl::StrContains(description, "fp32 only") ||
      absl::StrContains(description, "not used on")) {
    return kFp32MinPsnr;
  }
  return precision == "fp16" ? kFp16MinPsnr : kBf16MinPsnr;
}

}  // namespace anifarm::engine::testutil

#endif  // ANIFARM_TESTS_UNIT_ENGINE_PRECISION_BOUNDS_H_
