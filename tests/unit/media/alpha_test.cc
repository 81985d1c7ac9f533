// Alpha channels through the media layer: decoded from RGBA sources, carried
// by the PNG transport, resized, and written by the outputs that store
// alpha (PNG, WebP, ProRes 4444, FFV1), composited on white for JPEG and
// dropped with a notice by codecs without alpha.
#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/image.h"
#include "common/media/frame_convert.h"
#include "common/media/image_resize.h"
#include "common/media/image_writer.h"
#include "common/media/png_codec.h"
#include "common/media/video_writer.h"
#include "gtest/gtest.h"
#include "tests/unit/media/media_test_util.h"

namespace anifarm {
namespace {

// A picture with a gradient and an alpha plane: transparent border,
// opaque centre, half-transparent ring between.
RgbImage WithAlpha(int width, int height) {
  RgbImage image(width, height);
  image.alpha.resize(static_cast<size_t>(width) * height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = image.row(y) + 3 * x;
      p[0] = static_cast<uint8_t>(x * 255 / width);
      p[1] = static_cast<uint8_t>(y * 255 / height);
      p[2] = 90;
      const int edge = std::min({x, y, width - 1 - x, height - 1 - y});
      image.alpha[static_cast<size_t>(y) * width + x] = edge < 8 ? 0 : edge < 16 ? 128 : 255;
    }
  }
  return image;
}

uint8_t AlphaAt(const RgbImage& image, int x, int y) {
  return image.alpha[static_cast<size_t>(y) * image.width + x];
}

// The first picture of an image or video file, decoded by libavcodec.
RgbImage DecodeFirst(const std::string& path) {
  absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(path);
  EXPECT_TRUE(frames.ok() && !frames->empty()) << path;
  if (!frames.ok() || frames->empty()) return RgbImage();
  absl::StatusOr<RgbImage> rgb = FrameToRgb(*frames->front());
  EXPECT_TRUE(rgb.ok()) << rgb.status();
  return rgb.ok() ? *std::move(rgb) : RgbImage();
}

TEST(AlphaTest, PngTransportKeepsAlphaExactly) {
  const RgbImage image = WithAlpha(64, 48);
  absl::StatusOr<std::string> png = EncodePng(image);
  ASSERT_TRUE(png.ok()) << png.status();
  absl::StatusOr<RgbImage> back = DecodePng(*png);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->pixels, image.pixels);
  EXPECT_EQ(back->alpha, image.alpha);

  RgbImage opaque = image;
  opaque.alpha.clear();
  back = DecodePng(*EncodePng(opaque));
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->has_alpha()) << "an RGB picture stays RGB";
}

TEST(AlphaTest, ResizeKeepsTransparentAndOpaqueRegions) {
  const RgbImage image = WithAlpha(64, 48);
  absl::StatusOr<RgbImage> big = ResizeRgb(image, 128, 96);
  ASSERT_TRUE(big.ok()) << big.status();
  ASSERT_EQ(big->alpha.size(), 128u * 96u);
  EXPECT_EQ(AlphaAt(*big, 2, 2), 0);
  EXPECT_EQ(AlphaAt(*big, 64, 48), 255);
  EXPECT_NEAR(AlphaAt(*big, 24, 48), 128, 2);  // in the ring (source x = 12)
}

TEST(AlphaTest, ImageFilesKeepAlphaAndJpegIsCompositedOnWhite) {
  const std::string dir = testing_util::MakeScratchDir();
  const RgbImage image = WithAlpha(64, 48);
  for (const char* name : {"a.png", "a.webp"}) {
    ImageWriteOptions options;
    options.lossless = std::string(name) == "a.webp";
    const std::string path = dir + "/" + name;
    ASSERT_TRUE(WriteImageFile(image, path, options).ok()) << name;
    const RgbImage back = DecodeFirst(path);
    ASSERT_EQ(back.alpha.size(), image.alpha.size()) << name;
    EXPECT_EQ(back.alpha, image.alpha) << name;
  }
  ImageWriteOptions lossy;
  ASSERT_TRUE(WriteImageFile(image, dir + "/lossy.webp", lossy).ok());
  const RgbImage lossy_back = DecodeFirst(dir + "/lossy.webp");
  ASSERT_TRUE(lossy_back.has_alpha());
  EXPECT_EQ(AlphaAt(lossy_back, 1, 1), 0);
  EXPECT_EQ(AlphaAt(lossy_back, 32, 24), 255);

  ASSERT_TRUE(WriteImageFile(image, dir + "/a.jpg", ImageWriteOptions()).ok());
  const RgbImage jpeg = DecodeFirst(dir + "/a.jpg");
  EXPECT_FALSE(jpeg.has_alpha());
  const uint8_t* corner = jpeg.row(1) + 3;  // transparent in the source: white
  EXPECT_GE(corner[0], 245);
  EXPECT_GE(corner[1], 245);
  EXPECT_GE(corner[2], 245);
}

TEST(AlphaTest, ProRes4444AndFfv1KeepAlphaOthersDropItWithANotice) {
  const std::string dir = testing_util::MakeScratchDir();
  const RgbImage image = WithAlpha(64, 48);
  struct Case {
    const char* codec;
    const char* profile;
    const char* file;
    bool keeps;
  };
  for (const Case& c : {Case{"prores", "4444", "p.mov", true}, Case{"prores", "4444xq", "x.mov", true},
                        Case{"ffv1", "", "f.mkv", true}, Case{"h264", "", "h.mp4", false}}) {
    SCOPED_TRACE(c.file);
    VideoWriterOptions options;
    options.output_path = dir + "/" + c.file;
    options.encode.codec = c.codec;
    options.encode.profile = c.profile;
    options.width = image.width;
    options.height = image.height;
    options.alpha = true;
    absl::StatusOr<std::unique_ptr<VideoWriter>> writer = VideoWriter::Create(options);
    ASSERT_TRUE(writer.ok()) << writer.status();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*writer)->WriteFrame(image, i).ok());
    ASSERT_TRUE((*writer)->Finish().ok());
    bool noticed = false;
    for (const std::string& notice : (*writer)->notices()) {
      noticed |= notice.find("alpha") != std::string::npos;
    }
    EXPECT_EQ(noticed, !c.keeps);
    const RgbImage back = DecodeFirst(options.output_path);
    EXPECT_EQ(back.has_alpha(), c.keeps);
    if (!c.keeps || !back.has_alpha()) continue;
    int worst = 0;
    for (size_t i = 0; i < image.alpha.size(); ++i) {
      worst = std::max(worst, std::abs(int(back.alpha[i]) - int(image.alpha[i])));
    }
    EXPECT_LE(worst, 1) << "alpha off by " << worst;
  }
}

}  // namespace
}  // namespace anifarm
