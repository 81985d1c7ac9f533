// The device post-processing (node/engine/device_post_process.h) against the
// host reference (node/post_process.h) and the Pillow 9.4 fixtures: byte for
// byte. The "device" here is the CPU; TorchUpscaler runs the same tensor ops
// on CUDA when the engine is on a GPU.
#include "node/engine/device_post_process.h"

#include <torch/torch.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "node/engine/torch_engine.h"
#include "node/post_process.h"
#include "tests/unit/engine/engine_test_util.h"
#include "tests/unit/node/pillow_fixtures.h"

namespace anifarm::engine {
namespace {

using pillow_fixtures::FixtureImage;
using pillow_fixtures::kImages;
using pillow_fixtures::Op;

const char kModel[] = ANIFARM_TEST_MODEL_DIR "/2x-AniScale.pth";

// RgbImage (packed HWC) -> uint8 [3, H, W], owning its memory.
torch::Tensor ToChw(const RgbImage& image) {
  return torch::from_blob(const_cast<uint8_t*>(image.pixels.data()), {image.height, image.width, 3},
                          torch::kUInt8)
      .permute({2, 0, 1})
      .contiguous();
}

std::vector<uint8_t> ToBytes(const torch::Tensor& chw) {
  const torch::Tensor hwc = chw.permute({1, 2, 0}).contiguous().to(torch::kCPU);
  const uint8_t* p = hwc.data_ptr<uint8_t>();
  return std::vector<uint8_t>(p, p + hwc.numel());
}

RgbImage MakeImage(const FixtureImage& f) {
  RgbImage image(f.width, f.height);
  image.pixels.assign(f.source, f.source + size_t(f.width) * f.height * 3);
  return image;
}

std::vector<uint8_t> Bytes(const uint8_t* data, size_t n) { return std::vector<uint8_t>(data, data + n); }

::testing::AssertionResult SameBytes(const std::vector<uint8_t>& expected, const std::vector<uint8_t>& actual,
                                     int width) {
  if (expected.size() != actual.size()) {
    return ::testing::AssertionFailure() << "size " << actual.size() << " != " << expected.size();
  }
  int mismatches = 0;
  std::string first;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (expected[i] == actual[i]) continue;
    if (mismatches++ == 0) {
      const size_t px = i / 3;
      first = "pixel (" + std::to_string(px % width) + ", " + std::to_string(px / width) + ") channel " +
              std::to_string(i % 3) + ": device " + std::to_string(actual[i]) + ", expected " +
              std::to_string(expected[i]);
    }
  }
  if (mismatches == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << mismatches << " bytes differ; first at " << first;
}

// Random bytes with runs of 0 and 255 (clipping in the blends) and a smooth
// ramp (sums near the rounding thresholds of the smooth filter).
RgbImage RandomImage(int width, int height, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> kind(0, 9);
  RgbImage image(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = image.row(y) + 3 * x;
      const int k = kind(rng);
      for (int c = 0; c < 3; ++c) {
        if (k == 0) {
          p[c] = 0;
        } else if (k == 1) {
          p[c] = 255;
        } else if (k < 4) {
          p[c] = static_cast<uint8_t>((x * 7 + y * 3 + c * 50) & 0xFF);
        } else {
          p[c] = static_cast<uint8_t>(byte(rng));
        }
      }
    }
  }
  return image;
}

TEST(DevicePostProcessPillowTest, BuildingBlocksMatchPillowFixtures) {
  for (const FixtureImage& f : kImages) {
    SCOPED_TRACE(f.name);
    const RgbImage image = MakeImage(f);
    const size_t n = size_t(f.width) * f.height;
    const torch::Tensor chw = ToChw(image);
    EXPECT_TRUE(SameBytes(Bytes(f.smooth, n * 3), ToBytes(DeviceSmooth(chw)), f.width));
    const torch::Tensor luma = DeviceLuma(chw).contiguous();
    ASSERT_EQ(luma.numel(), static_cast<int64_t>(n));
    EXPECT_EQ(Bytes(luma.data_ptr<uint8_t>(), n), Bytes(f.luma, n));
    EXPECT_EQ(DeviceContrastMean(chw).item<int>(), f.contrast_mean);
  }
}

TEST(DevicePostProcessPillowTest, EnhancersMatchPillowFixtures) {
  for (const FixtureImage& f : kImages) {
    const torch::Tensor chw = ToChw(MakeImage(f));
    const size_t bytes = size_t(f.width) * f.height * 3;
    for (int c = 0; c < f.num_cases; ++c) {
      const pillow_fixtures::EnhanceCase& tc = f.cases[c];
      SCOPED_TRACE(std::string(f.name) + " op " + std::to_string(static_cast<int>(tc.op)) + " factor " +
                   std::to_string(tc.factor));
      torch::Tensor out;
      switch (tc.op) {
        case Op::kSharpness: out = DeviceSharpness(chw, tc.factor); break;
        case Op::kContrast: out = DeviceContrast(chw, tc.factor); break;
        case Op::kColor: out = DeviceColor(chw, tc.factor); break;
      }
      EXPECT_TRUE(SameBytes(Bytes(tc.expected, bytes), ToBytes(out), f.width));
    }
    for (int c = 0; c < f.num_chains; ++c) {
      const pillow_fixtures::ChainCase& tc = f.chains[c];
      SCOPED_TRACE(std::string(f.name) + " chain " + std::to_string(tc.sharpen) + " " +
                   std::to_string(tc.contrast) + " " + std::to_string(tc.saturation));
      const torch::Tensor out = DevicePostProcess(chw, tc.sharpen, tc.contrast, tc.saturation);
      EXPECT_TRUE(SameBytes(Bytes(tc.expected, bytes), ToBytes(out), f.width));
    }
  }
}

// Every (degenerate, image) byte pair, for factors inside and outside [0, 1].
TEST(DevicePostProcessTest, BlendMatchesHostForEveryBytePair) {
  RgbImage degenerate(256, 256);
  RgbImage image(256, 256);
  for (int d = 0; d < 256; ++d) {
    for (int v = 0; v < 256; ++v) {
      for (int c = 0; c < 3; ++c) {
        degenerate.row(d)[3 * v + c] = static_cast<uint8_t>(d);
        image.row(d)[3 * v + c] = static_cast<uint8_t>(v);
      }
    }
  }
  const torch::Tensor d_chw = ToChw(degenerate);
  const torch::Tensor v_chw = ToChw(image);
  for (float alpha : {0.0f, 0.1f, 0.3f, 0.5f, 0.7f, 0.99f, 1.0f, 1.01f, 1.3f, 1.5f, 1.7f, 2.5f, 3.5f,
                      4.9f, 6.0f, -0.5f}) {
    SCOPED_TRACE(alpha);
    RgbImage expected = image;
    PillowBlendInto(degenerate, alpha, expected);
    EXPECT_TRUE(SameBytes(expected.pixels, ToBytes(DeviceBlend(d_chw, v_chw, alpha)), 256));
  }
}

// The whole chain on random images of odd sizes (1xN, Nx1, 2x2 and others
// under the 3x3 kernel included), for every combination of the brief's
// factor sets, against the host's ApplyPostProcess.
TEST(DevicePostProcessTest, ChainMatchesHostOnRandomImages) {
  struct Size {
    int w, h;
  };
  const std::vector<Size> sizes = {{1, 1}, {1, 9}, {9, 1}, {2, 2}, {3, 3}, {2, 5},
                                   {5, 3}, {17, 13}, {64, 37}, {131, 71}};
  int checked = 0;
  uint32_t seed = 1;
  for (const Size& size : sizes) {
    const RgbImage source = RandomImage(size.w, size.h, seed++);
    const torch::Tensor chw = ToChw(source);
    for (float sharpen : {0.0f, 0.5f, 1.0f, 2.5f}) {
      for (float contrast : {0.5f, 1.0f, 1.7f}) {
        for (float saturation : {0.0f, 1.0f, 1.3f}) {
          SCOPED_TRACE(std::to_string(size.w) + "x" + std::to_string(size.h) + " sharpen " +
                       std::to_string(sharpen) + " contrast " + std::to_string(contrast) + " saturation " +
                       std::to_string(saturation));
          PostProcessOptions options;
          options.sharpen = sharpen;
          options.contrast = contrast;
          options.saturation = saturation;
          RgbImage expected = source;
          ASSERT_TRUE(ApplyPostProcess(options, expected).ok());
          const torch::Tensor out = DevicePostProcess(chw, sharpen, contrast, saturation);
          ASSERT_EQ(out.sizes(), chw.sizes());
          ASSERT_EQ(out.scalar_type(), torch::kUInt8);
          EXPECT_TRUE(SameBytes(expected.pixels, ToBytes(out), size.w));
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 10 * 36);
}

// Each step on its own with random factors across the whole valid range.
TEST(DevicePostProcessTest, StepsMatchHostForRandomFactors) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> factor(0.0f, 5.0f);
  for (int i = 0; i < 12; ++i) {
    const RgbImage source = RandomImage(23 + i, 11 + 2 * i, 100 + i);
    const torch::Tensor chw = ToChw(source);
    const float f = factor(rng);
    SCOPED_TRACE(f);
    RgbImage sharp = source, contrast = source, color = source;
    EnhanceSharpness(sharp, f);
    EnhanceContrast(contrast, f);
    EnhanceColor(color, f);
    EXPECT_TRUE(SameBytes(sharp.pixels, ToBytes(DeviceSharpness(chw, f)), source.width));
    EXPECT_TRUE(SameBytes(contrast.pixels, ToBytes(DeviceContrast(chw, f)), source.width));
    EXPECT_TRUE(SameBytes(color.pixels, ToBytes(DeviceColor(chw, f)), source.width));
    EXPECT_EQ(DeviceContrastMean(chw).item<int>(), PillowContrastMean(source));
    EXPECT_TRUE(SameBytes(PillowSmooth(source).pixels, ToBytes(DeviceSmooth(chw)), source.width));
  }
}

TEST(DevicePostProcessTest, FactorOneIsTheIdentityAndInputIsUntouched) {
  const RgbImage source = RandomImage(19, 7, 5);
  const torch::Tensor chw = ToChw(source);
  const std::vector<uint8_t> before = ToBytes(chw);
  EXPECT_EQ(ToBytes(DevicePostProcess(chw, 0.0f, 1.0f, 1.0f)), source.pixels);
  EXPECT_EQ(ToBytes(DeviceSharpness(chw, 1.0f)), source.pixels);
  EXPECT_EQ(ToBytes(DeviceContrast(chw, 1.0f)), source.pixels);
  EXPECT_EQ(ToBytes(DeviceColor(chw, 1.0f)), source.pixels);
  (void)DevicePostProcess(chw, 2.5f, 1.7f, 0.0f);
  EXPECT_EQ(ToBytes(chw), before);  // never modified in place
}

TEST(DevicePostProcessTest, RefusesBadInput) {
  const torch::Tensor chw = ToChw(RandomImage(4, 4, 9));
  EXPECT_THROW(DevicePostProcess(chw.to(torch::kFloat32), 0.5f, 1.0f, 1.0f), c10::Error);
  EXPECT_THROW(DevicePostProcess(chw.permute({1, 2, 0}), 0.5f, 1.0f, 1.0f), c10::Error);
  EXPECT_THROW(DevicePostProcess(chw, std::numeric_limits<float>::quiet_NaN(), 1.0f, 1.0f), c10::Error);
}

// The plumbing: TorchUpscaler::UpscaleAndPostProcess gives the bytes of
// Upscale followed by the host's ApplyPostProcess, whole-frame and tiled.
TEST(DevicePostProcessTest, UpscalerPostProcessesOnItsDevice) {
  std::unique_ptr<UpscalerEngine> engine = testutil::CpuEngine();
  ASSERT_NE(engine, nullptr);
  UpscaleOptions tiled_options;
  tiled_options.tile = 24;
  tiled_options.tile_overlap = 8;
  for (const UpscaleOptions& options : {UpscaleOptions{}, tiled_options}) {
    absl::StatusOr<std::shared_ptr<Upscaler>> up = engine->GetUpscaler(kModel, "aniscale-post", options);
    ASSERT_TRUE(up.ok()) << up.status();
    EXPECT_TRUE((*up)->post_processes_on_device());
    const RgbImage in = RandomImage(41, 29, 77);
    absl::StatusOr<RgbImage> plain = (*up)->Upscale(in);
    ASSERT_TRUE(plain.ok()) << plain.status();
    for (const PostProcessOptions& post :
         {PostProcessOptions{0.5f, 1.0f, 0.0f}, PostProcessOptions{2.5f, 1.7f, 1.3f},
          PostProcessOptions{0.0f, 0.5f, 1.0f}, PostProcessOptions{}}) {
      SCOPED_TRACE(std::to_string(post.sharpen) + " " + std::to_string(post.contrast) + " " +
                   std::to_string(post.saturation));
      RgbImage expected = *plain;
      ASSERT_TRUE(ApplyPostProcess(post, expected).ok());
      absl::StatusOr<RgbImage> device = (*up)->UpscaleAndPostProcess(in, post);
      ASSERT_TRUE(device.ok()) << device.status();
      ASSERT_EQ(device->width, 82);
      ASSERT_EQ(device->height, 58);
      EXPECT_TRUE(SameBytes(expected.pixels, device->pixels, 82));
    }
    PostProcessOptions bad;
    bad.contrast = std::numeric_limits<float>::infinity();
    EXPECT_EQ((*up)->UpscaleAndPostProcess(in, bad).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace anifarm::engine
