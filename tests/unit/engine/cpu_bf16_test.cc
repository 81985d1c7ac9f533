// bf16 on the CPU: where the CPU computes bf16 itself (AVX512-BF16 or AMX),
// the engine honours --precision bf16 there, and every architecture must
// then stay within the bf16 bound of its fp32 output (precision_bounds.h),
// including the ops that take an fp32 detour on the CPU (ncnn transposed
// convolutions, RealPLKSR's mish). Where the CPU lacks it, a bf16 request
// runs fp32 and says so.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "node/engine/torch_engine.h"
#include "tests/unit/engine/architectures.h"
#include "tests/unit/engine/engine_test_util.h"
#include "tests/unit/engine/precision_bounds.h"

namespace anifarm::engine {
namespace {

using testutil::AllArchitectures;
using testutil::Architecture;
using testutil::BytePsnr;
using testutil::MinPsnrFor;
using testutil::TexturedImage;
using testutil::UpscaleFrame;

bool Advertises(const UpscalerEngine& engine, const std::string& precision) {
  for (const std::string& p : engine.precisions()) {
    if (p == precision) return true;
  }
  return false;
}

// What a node advertises and what a bf16 request then runs agree, on any CPU.
TEST(CpuBf16Test, RunsBf16ExactlyWhereItIsAdvertised) {
  std::unique_ptr<UpscalerEngine> cpu = testutil::CpuEngine();
  ASSERT_NE(cpu, nullptr);
  std::string description;
  absl::StatusOr<RgbImage> out = UpscaleFrame(*cpu, testutil::ModelPath("2x-AniScale.pth"), "bf16",
                                              TexturedImage(32, 24), 0, 16, &description);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->width, 64);
  if (Advertises(*cpu, "bf16")) {
    EXPECT_TRUE(absl::StrContains(description, " bf16 on cpu")) << description;
  } else {
    EXPECT_TRUE(absl::StrContains(description, "(bf16 requested, not used on this CPU (no native bf16))"))
        << description;
  }
  EXPECT_FALSE(Advertises(*cpu, "fp16"));  // no fp16 convolutions on a CPU
}

class CpuBf16PrecisionTest : public testing::TestWithParam<Architecture> {};

TEST_P(CpuBf16PrecisionTest, StaysCloseToFp32) {
  std::unique_ptr<UpscalerEngine> cpu = testutil::CpuEngine();
  ASSERT_NE(cpu, nullptr);
  if (!Advertises(*cpu, "bf16")) GTEST_SKIP() << "this CPU has no native bf16 (AVX512-BF16 or AMX)";
  const Architecture& arch = GetParam();
  const RgbImage input = TexturedImage(96, 80);
  absl::StatusOr<RgbImage> reference = UpscaleFrame(*cpu, arch.path, "fp32", input);
  ASSERT_TRUE(reference.ok()) << reference.status();
  std::string description;
  absl::StatusOr<RgbImage> out = UpscaleFrame(*cpu, arch.path, "bf16", input, 0, 16, &description);
  ASSERT_TRUE(out.ok()) << arch.label << ": " << out.status();
  // bf16 really ran, unless the architecture is fp32-only.
  if (!absl::StrContains(description, "fp32 only")) {
    EXPECT_TRUE(absl::StrContains(description, " bf16 on cpu")) << description;
  }
  const double psnr = BytePsnr(*out, *reference);
  std::printf("%s bf16 vs fp32 on the CPU: %.2f dB (%s)\n", arch.label, psnr, description.c_str());
  EXPECT_GE(psnr, MinPsnrFor("bf16", description)) << arch.label;
}

INSTANTIATE_TEST_SUITE_P(EveryArchitecture, CpuBf16PrecisionTest, testing::ValuesIn(AllArchitectures()),
                         [](const testing::TestParamInfo<Architecture>& info) { return info.param.label; });

}  // namespace
}  // namespace anifarm::engine
