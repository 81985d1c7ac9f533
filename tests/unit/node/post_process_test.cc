#include "node/post_process.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "tests/unit/node/pillow_fixtures.h"

namespace anifarm {
namespace {

using pillow_fixtures::FixtureImage;
using pillow_fixtures::kImages;
using pillow_fixtures::Op;

RgbImage MakeImage(const FixtureImage& f) {
  RgbImage image(f.width, f.height);
  image.pixels.assign(f.source, f.source + size_t(f.width) * f.height * 3);
  return image;
}

std::vector<uint8_t> Bytes(const uint8_t* data, const FixtureImage& f) {
  return std::vector<uint8_t>(data, data + size_t(f.width) * f.height * 3);
}

// Points at the first differing byte so a mismatch is easy to read.
::testing::AssertionResult SameBytes(const std::vector<uint8_t>& expected,
                                     const std::vector<uint8_t>& actual, int width) {
  if (expected.size() != actual.size()) {
    return ::testing::AssertionFailure() << "size " << actual.size() << " != " << expected.size();
  }
  int mismatches = 0;
  std::string first;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (expected[i] == actual[i]) continue;
    if (mismatches++ == 0) {
      const size_t px = i / 3;
      first = "pixel (" + std::to_string(px % width) + ", " + std::to_string(px / width) +
              ") channel " + std::to_string(i % 3) + ": got " + std::to_string(actual[i]) +
              ", Pillow " + std::to_string(expected[i]);
    }
  }
  if (mismatches == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << mismatches << " bytes differ; first at " << first;
}

const char* OpName(Op op) {
  switch (op) {
    case Op::kSharpness: return "Sharpness";
    case Op::kContrast: return "Contrast";
    case Op::kColor: return "Color";
  }
  return "?";
}

TEST(PostProcessPillowTest, SmoothFilterMatchesPillow) {
  for (const FixtureImage& f : kImages) {
    SCOPED_TRACE(f.name);
    const RgbImage smooth = PillowSmooth(MakeImage(f));
    EXPECT_TRUE(SameBytes(Bytes(f.smooth, f), smooth.pixels, f.width));
  }
}

TEST(PostProcessPillowTest, LumaAndContrastMeanMatchPillow) {
  for (const FixtureImage& f : kImages) {
    SCOPED_TRACE(f.name);
    const RgbImage image = MakeImage(f);
    for (int i = 0; i < f.width * f.height; ++i) {
      const uint8_t* p = &image.pixels[size_t(i) * 3];
      ASSERT_EQ(PillowLuma(p[0], p[1], p[2]), f.luma[i]) << "pixel " << i;
    }
    EXPECT_EQ(PillowContrastMean(image), f.contrast_mean);
  }
}

TEST(PostProcessPillowTest, EnhancersAreBitExactWithPillow) {
  for (const FixtureImage& f : kImages) {
    for (int c = 0; c < f.num_cases; ++c) {
      const pillow_fixtures::EnhanceCase& tc = f.cases[c];
      SCOPED_TRACE(std::string(f.name) + " " + OpName(tc.op) + "(" + std::to_string(tc.factor) +
                   ")");
      RgbImage image = MakeImage(f);
      switch (tc.op) {
        case Op::kSharpness: EnhanceSharpness(image, tc.factor); break;
        case Op::kContrast: EnhanceContrast(image, tc.factor); break;
        case Op::kColor: EnhanceColor(image, tc.factor); break;
      }
      EXPECT_EQ(image.width, f.width);
      EXPECT_EQ(image.height, f.height);
      EXPECT_TRUE(SameBytes(Bytes(tc.expected, f), image.pixels, f.width));
    }
  }
}

TEST(PostProcessPillowTest, GuideChainIsBitExactWithPillow) {
  for (const FixtureImage& f : kImages) {
    for (int c = 0; c < f.num_chains; ++c) {
      const pillow_fixtures::ChainCase& tc = f.chains[c];
      SCOPED_TRACE(std::string(f.name) + " sharpen " + std::to_string(tc.sharpen) +
                   " contrast " + std::to_string(tc.contrast) + " saturation " +
                   std::to_string(tc.saturation));
      PostProcessOptions options;
      options.sharpen = tc.sharpen;
      options.contrast = tc.contrast;
      options.saturation = tc.saturation;
      RgbImage image = MakeImage(f);
      ASSERT_TRUE(ApplyPostProcess(options, image).ok());
      EXPECT_TRUE(SameBytes(Bytes(tc.expected, f), image.pixels, f.width));
    }
  }
}

TEST(PostProcessTest, FactorOneIsTheIdentity) {
  for (const FixtureImage& f : kImages) {
    SCOPED_TRACE(f.name);
    const std::vector<uint8_t> source = Bytes(f.source, f);
    RgbImage image = MakeImage(f);
    EnhanceSharpness(image, 1.0f);
    EnhanceContrast(image, 1.0f);
    EnhanceColor(image, 1.0f);
    EXPECT_EQ(image.pixels, source);

    PostProcessOptions options;
    EXPECT_TRUE(options.IsIdentity());
    ASSERT_TRUE(ApplyPostProcess(options, image).ok());
    EXPECT_EQ(image.pixels, source);
  }
  // A blend of an image with itself changes nothing for any factor.
  const FixtureImage& f = kImages[0];
  RgbImage image = MakeImage(f);
  for (float alpha : {0.3f, 1.7f, 4.0f}) {
    PillowBlendInto(MakeImage(f), alpha, image);
    EXPECT_EQ(image.pixels, Bytes(f.source, f));
  }
}

TEST(PostProcessTest, IsIdentityOnlyAtNeutralValues) {
  PostProcessOptions options;
  options.sharpen = 0.3f;
  EXPECT_FALSE(options.IsIdentity());
  options = {};
  options.contrast = 1.2f;
  EXPECT_FALSE(options.IsIdentity());
  options = {};
  options.saturation = 0.8f;
  EXPECT_FALSE(options.IsIdentity());
}

TEST(PostProcessTest, ValidationNamesTheBadValue) {
  EXPECT_TRUE(ValidatePostProcess({}).ok());
  PostProcessOptions edge;
  edge.sharpen = 5.0f;
  edge.contrast = 0.0f;
  edge.saturation = 5.0f;
  EXPECT_TRUE(ValidatePostProcess(edge).ok());

  struct Bad {
    float sharpen, contrast, saturation;
    const char* field;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (const Bad& bad : {Bad{-0.1f, 1, 1, "sharpen"}, Bad{5.5f, 1, 1, "sharpen"},
                         Bad{nan, 1, 1, "sharpen"}, Bad{0, -1, 1, "contrast"},
                         Bad{0, inf, 1, "contrast"}, Bad{0, 1, 7, "saturation"},
                         Bad{0, 1, -inf, "saturation"}}) {
    PostProcessOptions options;
    options.sharpen = bad.sharpen;
    options.contrast = bad.contrast;
    options.saturation = bad.saturation;
    const absl::Status status = ValidatePostProcess(options);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad.field;
    EXPECT_NE(std::string(status.message()).find(bad.field), std::string::npos)
        << status.message();

    // ApplyPostProcess refuses too, and leaves the image alone.
    RgbImage image = MakeImage(kImages[0]);
    EXPECT_EQ(ApplyPostProcess(options, image).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(image.pixels, Bytes(kImages[0].source, kImages[0]));
  }
}

TEST(PostProcessTest, EmptyImageIsFine) {
  RgbImage empty;
  PostProcessOptions options;
  options.sharpen = 1.0f;
  options.contrast = 1.2f;
  options.saturation = 1.3f;
  EXPECT_TRUE(ApplyPostProcess(options, empty).ok());
  EXPECT_TRUE(empty.pixels.empty());
}

}  // namespace
}  // namespace anifarm
