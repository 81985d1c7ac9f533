#include "common/media/image_writer.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "common/media/ffmpeg_ptr.h"
#include "common/media/frame_convert.h"
#include "gtest/gtest.h"
#include "tests/unit/media/media_test_util.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;

// Smooth gradients with a few soft shapes: what an upscaled anime frame
// looks like to a codec (flat areas, gentle shading, no noise).
RgbImage Smooth(int width, int height) {
  RgbImage image(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const double fx = double(x) / width, fy = double(y) / height;
      const double blob = std::exp(-((fx - 0.6) * (fx - 0.6) + (fy - 0.4) * (fy - 0.4)) * 12.0);
      uint8_t* p = image.row(y) + 3 * x;
      p[0] = static_cast<uint8_t>(std::lround(40 + 180 * fx));
      p[1] = static_cast<uint8_t>(std::lround(60 + 120 * fy + 60 * blob));
      p[2] = static_cast<uint8_t>(std::lround(200 - 100 * blob));
    }
  }
  return image;
}

using testing_util::Noise;

double Psnr(const RgbImage& a, const RgbImage& b) {
  EXPECT_EQ(a.pixels.size(), b.pixels.size());
  double squared = 0;
  for (size_t i = 0; i < a.pixels.size() && i < b.pixels.size(); ++i) {
    const double d = double(a.pixels[i]) - double(b.pixels[i]);
    squared += d * d;
  }
  if (squared == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(255.0 * 255.0 * a.pixels.size() / squared);
}

struct ReadBack {
  AVCodecID codec = AV_CODEC_ID_NONE;
  FramePtr frame;
};

// Opens `path` with libavformat (the image2 family of demuxers) and decodes
// its one picture with libavcodec.
absl::StatusOr<ReadBack> ReadImage(const std::string& path) {
  AVFormatContext* raw = nullptr;
  int err = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  if (err < 0) return absl::NotFoundError("cannot open " + path + ": " + AvErrorString(err));
  InputFormatPtr input(raw);
  if ((err = avformat_find_stream_info(input.get(), nullptr)) < 0) {
    return absl::InternalError("no stream info: " + AvErrorString(err));
  }
  if (input->nb_streams != 1) return absl::InternalError("expected one stream");
  const AVCodecParameters* par = input->streams[0]->codecpar;
  const AVCodec* codec = avcodec_find_decoder(par->codec_id);
  if (!codec) return absl::InternalError("no decoder");
  CodecContextPtr decoder(avcodec_alloc_context3(codec));
  avcodec_parameters_to_context(decoder.get(), par);
  if ((err = avcodec_open2(decoder.get(), codec, nullptr)) < 0) {
    return absl::InternalError("cannot open decoder: " + AvErrorString(err));
  }
  PacketPtr packet = MakePacket();
  if ((err = av_read_frame(input.get(), packet.get())) < 0) {
    return absl::InternalError("no packet: " + AvErrorString(err));
  }
  err = avcodec_send_packet(decoder.get(), packet.get());
  if (err >= 0) err = avcodec_send_packet(decoder.get(), nullptr);
  ReadBack result;
  result.codec = par->codec_id;
  result.frame = MakeFrame();
  if (err >= 0) err = avcodec_receive_frame(decoder.get(), result.frame.get());
  if (err < 0) return absl::InternalError("decoding failed: " + AvErrorString(err));
  return result;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

std::vector<std::string> Listing(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Writes, reads back, checks the codec and size, returns RGB24 pixels.
RgbImage WriteAndDecode(const RgbImage& image, const std::string& path,
                        const ImageWriteOptions& options, AVCodecID expected_codec) {
  absl::Status written = WriteImageFile(image, path, options);
  EXPECT_TRUE(written.ok()) << written;
  absl::StatusOr<ReadBack> back = ReadImage(path);
  EXPECT_TRUE(back.ok()) << back.status();
  if (!back.ok()) return RgbImage();
  EXPECT_EQ(back->codec, expected_codec) << avcodec_get_name(back->codec);
  EXPECT_EQ(back->frame->width, image.width);
  EXPECT_EQ(back->frame->height, image.height);
  absl::StatusOr<RgbImage> rgb = FrameToRgb(*back->frame);
  EXPECT_TRUE(rgb.ok()) << rgb.status();
  return rgb.ok() ? *rgb : RgbImage();
}

// --- PNG ---------------------------------------------------------------------

TEST(ImageWriterTest, PngIsExactAtEveryCompression) {
  const std::string dir = testing_util::MakeScratchDir();
  const RgbImage image = Noise(37, 23);  // odd sizes: no row padding may leak
  for (int compression : {-1, 0, 1, 6, 9}) {
    SCOPED_TRACE(compression);
    ImageWriteOptions options;
    options.compression = compression;
    const std::string path = dir + "/c" + std::to_string(compression + 1) + ".png";
    absl::Status written = WriteImageFile(image, path, options);
    ASSERT_TRUE(written.ok()) << written;
    absl::StatusOr<ReadBack> back = ReadImage(path);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->codec, AV_CODEC_ID_PNG);
    ASSERT_EQ(back->frame->format, AV_PIX_FMT_RGB24);
    ASSERT_EQ(back->frame->width, 37);
    ASSERT_EQ(back->frame->height, 23);
    for (int y = 0; y < 23; ++y) {
      ASSERT_EQ(
          0, std::memcmp(back->frame->data[0] + y * back->frame->linesize[0], image.row(y), 37 * 3))
          << "row " << y;
    }
  }
}

TEST(ImageWriterTest, PngDefaultCompressionIsSix) {
  const RgbImage image = Smooth(96, 64);
  ImageWriteOptions defaults, six;
  defaults.format = six.format = "png";
  six.compression = 6;
  absl::StatusOr<std::string> a = EncodeImage(image, defaults);
  absl::StatusOr<std::string> b = EncodeImage(image, six);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
}

TEST(ImageWriterTest, PngCompression9IsNoLargerThan1) {
  const std::string dir = testing_util::MakeScratchDir();
  const RgbImage image = Smooth(256, 144);
  ImageWriteOptions fast, best;
  fast.compression = 1;
  best.compression = 9;
  ASSERT_TRUE(WriteImageFile(image, dir + "/fast.png", fast).ok());
  ASSERT_TRUE(WriteImageFile(image, dir + "/best.png", best).ok());
  const auto fast_size = fs::file_size(dir + "/fast.png");
  const auto best_size = fs::file_size(dir + "/best.png");
  EXPECT_LE(best_size, fast_size);
  ImageWriteOptions stored;
  stored.compression = 0;
  ASSERT_TRUE(WriteImageFile(image, dir + "/stored.png", stored).ok());
  EXPECT_LT(fast_size, fs::file_size(dir + "/stored.png"));
}

TEST(ImageWriterTest, Png16BitDecodesAsRgb48WithValuesTimes257) {
  const std::string dir = testing_util::MakeScratchDir();
  const RgbImage image = Noise(19, 11);
  ImageWriteOptions options;
  options.bit_depth = 16;
  ASSERT_TRUE(WriteImageFile(image, dir + "/deep.png", options).ok());
  absl::StatusOr<ReadBack> back = ReadImage(dir + "/deep.png");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->codec, AV_CODEC_ID_PNG);
  ASSERT_EQ(back->frame->format, AV_PIX_FMT_RGB48BE);
  ASSERT_EQ(back->frame->width, 19);
  ASSERT_EQ(back->frame->height, 11);
  for (int y = 0; y < 11; ++y) {
    const uint8_t* row = back->frame->data[0] + y * back->frame->linesize[0];
    for (int i = 0; i < 19 * 3; ++i) {
      const int value = (row[2 * i] << 8) | row[2 * i + 1];
      ASSERT_EQ(value, image.row(y)[i] * 257) << "row " << y << " sample " << i;
    }
  }
}

// --- JPEG --------------------------------------------------------------------

TEST(ImageWriterTest, JpegQuality95IsCloseAndFullChroma) {
  const std::string dir = testing_util::MakeScratchDir();
  const RgbImage image = Smooth(96, 64);
  ImageWriteOptions options;  // default quality: 95
  const RgbImage decoded = WriteAndDecode(image, dir + "/q95.jpg", options, AV_CODEC_ID_MJPEG);
  ASSERT_EQ(decoded.pixels.size(), image.pixels.size());
  const double psnr = Psnr(image, decoded);
  EXPECT_GT(psnr, 35.0);
  std::cout << "JPEG q95 PSNR " << psnr << " dB, " << fs::file_size(dir + "/q95.jpg") << " bytes\n";
  absl::StatusOr<ReadBack> back = ReadImage(dir + "/q95.jpg");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->frame->format, AV_PIX_FMT_YUVJ444P);

  // Below 90 the chroma is subsampled, and the image stays recognisable.
  options.quality = 75;
  const RgbImage q75 = WriteAndDecode(image, dir + "/q75.jpeg", options, AV_CODEC_ID_MJPEG);
  back = ReadImage(dir + "/q75.jpeg");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->frame->format, AV_PIX_FMT_YUVJ420P);
  EXPECT_GT(Psnr(image, q75), 30.0);
}

TEST(ImageWriterTest, JpegOddSizesAt420) {
  const std::string dir = testing_util::MakeScratchDir();
  const RgbImage image = Smooth(37, 23);
  ImageWriteOptions options;
  options.quality = 60;
  const RgbImage decoded = WriteAndDecode(image, dir + "/odd.jpg", options, AV_CODEC_ID_MJPEG);
  ASSERT_EQ(decoded.pixels.size(), image.pixels.size());
  EXPECT_GT(Psnr(image, decoded), 28.0);
}

TEST(ImageWriterTest, JpegHigherQualityGivesLargerFile) {
  const RgbImage image = Smooth(256, 144);
  size_t previous = 0;
  for (int quality : {10, 30, 50, 75, 90, 95, 100}) {
    SCOPED_TRACE(quality);
    ImageWriteOptions options;
    options.format = "jpeg";
    options.quality = quality;
    absl::StatusOr<std::string> bytes = EncodeImage(image, options);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    EXPECT_GT(bytes->size(), previous);
    previous = bytes->size();
  }
}

// Quality scales the Annex K tables as libjpeg does: q50 writes them as is
// (AC terms; FFmpeg fixes the DC quantiser at 8), q100 writes all ones.
std::vector<int> FirstDqt(const std::string& jpeg) {
  for (size_t i = 0; i + 4 < jpeg.size(); ++i) {
    if (uint8_t(jpeg[i]) == 0xFF && uint8_t(jpeg[i + 1]) == 0xDB) {
      std::vector<int> table;
      for (size_t k = 0; k < 64 && i + 5 + k < jpeg.size(); ++k) {
        table.push_back(uint8_t(jpeg[i + 5 + k]));  // after length and Pq/Tq
      }
      return table;
    }
  }
  return {};
}

TEST(ImageWriterTest, JpegQualityScalesTheStandardTables) {
  const RgbImage image = Smooth(32, 32);
  ImageWriteOptions options;
  options.format = "jpg";
  options.quality = 50;
  absl::StatusOr<std::string> q50 = EncodeImage(image, options);
  ASSERT_TRUE(q50.ok()) << q50.status();
  const std::vector<int> table = FirstDqt(*q50);
  ASSERT_EQ(table.size(), 64u);
  // Zig-zag order: raster 1, 8, 16, 9, 2 -> 11 12 14 12 10.
  EXPECT_EQ(std::vector<int>(table.begin() + 1, table.begin() + 6),
            (std::vector<int>{11, 12, 14, 12, 10}));
  EXPECT_EQ(table[63], 99);
  options.quality = 100;
  absl::StatusOr<std::string> q100 = EncodeImage(image, options);
  ASSERT_TRUE(q100.ok());
  const std::vector<int> ones = FirstDqt(*q100);
  ASSERT_EQ(ones.size(), 64u);
  for (size_t i = 1; i < 64; ++i) EXPECT_EQ(ones[i], 1) << i;
}

// --- WebP --------------------------------------------------------------------

TEST(ImageWriterTest, WebpEncoderIsAvailable) {
  EXPECT_NE(avcodec_find_encoder_by_name("libwebp"), nullptr);
}

TEST(ImageWriterTest, WebpLosslessIsExact) {
  const std::string dir = testing_util::MakeScratchDir();
  for (const RgbImage& image : {Noise(37, 23), Smooth(96, 64)}) {
    for (int method : {0, -1}) {
      SCOPED_TRACE(method);
      ImageWriteOptions options;
      options.lossless = true;
      options.compression = method;
      const RgbImage decoded =
          WriteAndDecode(image, dir + "/lossless.webp", options, AV_CODEC_ID_WEBP);
      EXPECT_TRUE(decoded.pixels == image.pixels);
    }
  }
}

TEST(ImageWriterTest, WebpLossyIsClose) {
  const std::string dir = testing_util::MakeScratchDir();
  const RgbImage image = Smooth(96, 64);
  size_t previous = std::numeric_limits<size_t>::max();
  for (int quality : {-1, 50}) {  // default 95, then 50 (method 6 both)
    SCOPED_TRACE(quality);
    ImageWriteOptions options;
    options.quality = quality;
    const std::string path = dir + "/q" + std::to_string(quality + 1) + ".WEBP";
    const RgbImage decoded = WriteAndDecode(image, path, options, AV_CODEC_ID_WEBP);
    ASSERT_EQ(decoded.pixels.size(), image.pixels.size());
    const double psnr = Psnr(image, decoded);
    EXPECT_GT(psnr, 30.0);
    std::cout << "WebP quality " << quality << " PSNR " << psnr << " dB, " << fs::file_size(path)
              << " bytes\n";
    EXPECT_LT(fs::file_size(path), previous);
    previous = fs::file_size(path);
  }
  ImageWriteOptions fast;
  fast.format = "webp";
  fast.compression = 0;
  fast.quality = 80;
  const RgbImage decoded = WriteAndDecode(image, dir + "/fast.tmp", fast, AV_CODEC_ID_WEBP);
  EXPECT_GT(Psnr(image, decoded), 30.0);
}

// --- Validation and files ----------------------------------------------------

void ExpectRefused(const ImageWriteOptions& options, const std::string& path,
                   const std::string& named) {
  absl::Status status = ValidateImageWriteOptions(options, path);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find(named), std::string::npos)
      << "\"" << status.message() << "\" does not name " << named;
}

TEST(ImageWriterTest, InvalidValuesAreRefusedByName) {
  ImageWriteOptions o;
  o.quality = 0;
  ExpectRefused(o, "a.jpg", "quality 0");
  o.quality = 101;
  ExpectRefused(o, "a.jpg", "quality 101");
  ExpectRefused(o, "a.webp", "quality 101");
  ExpectRefused(o, "a.png", "quality 101");  // PNG has no quality
  o = {};
  o.compression = 10;
  ExpectRefused(o, "a.png", "compression 10");
  o.compression = 7;
  ExpectRefused(o, "a.webp", "7");
  o.compression = 5;
  ExpectRefused(o, "a.jpg", "compression 5");
  o = {};
  o.format = "gif";
  ExpectRefused(o, "a.gif", "\"gif\"");
  o.format = "png";
  ExpectRefused(o, "a.jpg", "\"png\"");
  ExpectRefused(o, "a.jpg", ".jpg");
  o = {};
  ExpectRefused(o, "a.bmp", ".bmp");
  ExpectRefused(o, "noextension", "noextension");
  ExpectRefused(o, "", "path");
  o.bit_depth = 12;
  ExpectRefused(o, "a.png", "12");
  o.bit_depth = 16;
  ExpectRefused(o, "a.jpg", "16");
  ExpectRefused(o, "a.webp", "16");
  o = {};
  o.lossless = true;
  ExpectRefused(o, "a.jpeg", "lossless");
}

TEST(ImageWriterTest, ValidValuesAreAccepted) {
  ImageWriteOptions o;
  for (const char* path : {"a.png", "a.PNG", "a.jpg", "a.JPEG", "a.webp", "dir/a.Webp"}) {
    EXPECT_TRUE(ValidateImageWriteOptions(o, path).ok()) << path;
  }
  o.quality = 0;  // WebP's range starts at 0
  EXPECT_TRUE(ValidateImageWriteOptions(o, "a.webp").ok());
  o.quality = 100;
  o.compression = 6;
  o.lossless = true;
  EXPECT_TRUE(ValidateImageWriteOptions(o, "a.webp").ok());
  o = {};
  o.quality = 1;
  EXPECT_TRUE(ValidateImageWriteOptions(o, "a.jpg").ok());
  o = {};
  o.format = "png";  // explicit format, extension says nothing
  o.compression = 0;
  o.bit_depth = 16;
  EXPECT_TRUE(ValidateImageWriteOptions(o, "frame.tmp").ok());
  o.format = "jpg";
  o.compression = -1;
  o.bit_depth = 8;
  EXPECT_TRUE(ValidateImageWriteOptions(o, "frame.jpeg").ok());
}

TEST(ImageWriterTest, WritesAtomicallyAndLeavesNoTemporary) {
  const std::string dir = testing_util::MakeScratchDir();
  const std::string path = dir + "/out.png";
  ASSERT_TRUE(WriteImageFile(Smooth(40, 30), path, {}).ok());
  ASSERT_TRUE(WriteImageFile(Noise(20, 10), path, {}).ok());  // replaces
  EXPECT_EQ(Listing(dir), std::vector<std::string>{"out.png"});
  absl::StatusOr<ReadBack> back = ReadImage(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->frame->width, 20);

  // Refused options and bad images write nothing.
  ImageWriteOptions bad;
  bad.quality = 101;
  EXPECT_FALSE(WriteImageFile(Smooth(8, 8), dir + "/bad.jpg", bad).ok());
  EXPECT_EQ(WriteImageFile(RgbImage(), dir + "/empty.png", {}).code(),
            absl::StatusCode::kInvalidArgument);
  // A missing folder is an error, not a crash.
  EXPECT_FALSE(WriteImageFile(Smooth(8, 8), dir + "/missing/x.png", {}).ok());
  EXPECT_EQ(Listing(dir), std::vector<std::string>{"out.png"});
  EXPECT_EQ(Slurp(path).substr(1, 3), "PNG");
}

}  // namespace
}  // namespace anifarm
