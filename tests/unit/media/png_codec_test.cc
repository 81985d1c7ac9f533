#include "common/media/png_codec.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/unit/media/media_test_util.h"

namespace anifarm {
namespace {

using testing_util::Noise;

TEST(PngCodecTest, RoundTripIsBitExact) {
  // Odd sizes: no row padding may leak into the image.
  const RgbImage image = Noise(37, 23);
  absl::StatusOr<std::string> png = EncodePng(image);
  ASSERT_TRUE(png.ok()) << png.status();
  ASSERT_GT(png->size(), 8u);
  EXPECT_EQ(png->substr(1, 3), "PNG");
  absl::StatusOr<RgbImage> decoded = DecodePng(*png);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->width, 37);
  EXPECT_EQ(decoded->height, 23);
  EXPECT_TRUE(decoded->pixels == image.pixels);
}

TEST(PngCodecTest, GarbageIsRejected) {
  absl::StatusOr<RgbImage> decoded = DecodePng("this is not a png at all");
  EXPECT_FALSE(decoded.ok());
  EXPECT_FALSE(DecodePng("").ok());
}

TEST(PngCodecTest, EmptyImageIsRejected) {
  EXPECT_EQ(EncodePng(RgbImage()).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace anifarm
