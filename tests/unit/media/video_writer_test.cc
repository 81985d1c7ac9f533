#include "common/media/video_writer.h"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "common/media/frame_convert.h"
#include "common/media/image_resize.h"
#include "common/media/media_info.h"
#include "common/media/test_clip.h"
#include "gtest/gtest.h"
#include "tests/unit/media/media_test_util.h"

namespace anifarm {
namespace {

RgbImage Flat(int width, int height, uint8_t r, uint8_t g, uint8_t b) {
  RgbImage image(width, height);
  for (size_t i = 0; i < image.pixels.size(); i += 3) {
    image.pixels[i] = r;
    image.pixels[i + 1] = g;
    image.pixels[i + 2] = b;
  }
  return image;
}

// A picture that changes with `k` (a moving bar), for multi-frame encodes.
RgbImage Bars(int width, int height, int k) {
  RgbImage image = Flat(width, height, 40, 90, 160);
  for (int y = 0; y < height; ++y) {
    for (int x = (k * 5) % width; x < std::min(width, (k * 5) % width + 8); ++x) {
      image.row(y)[3 * x] = 240;
      image.row(y)[3 * x + 1] = 200;
      image.row(y)[3 * x + 2] = static_cast<uint8_t>(y * 2);
    }
  }
  return image;
}

int64_t Pts(const AVFrame& frame) {
  return frame.best_effort_timestamp != AV_NOPTS_VALUE ? frame.best_effort_timestamp : frame.pts;
}

TEST(VideoWriterTest, UpscaledMp4KeepsFramesTimingAndAudio) {
  const std::string dir = testing_util::MakeScratchDir();
  const std::string source = dir + "/source.mp4";
  TestClipSpec spec;
  spec.width = 96;
  spec.height = 64;
  spec.content = DefaultTestPattern(36);
  ASSERT_TRUE(WriteTestClip(source, spec).ok());
  absl::StatusOr<MediaInfo> source_info = ProbeMedia(source);
  ASSERT_TRUE(source_info.ok()) << source_info.status();
  absl::StatusOr<std::vector<FramePtr>> source_frames = testing_util::DecodeAll(source);
  ASSERT_TRUE(source_frames.ok()) << source_frames.status();

  VideoWriterOptions options;
  options.output_path = dir + "/out.mp4";
  options.width = 192;
  options.height = 128;
  options.time_base = source_info->video.time_base;
  options.frame_rate = source_info->frame_rate;
  options.audio_source_path = source;
  options.encode.preset = "ultrafast";  // the default "slow" is for real output
  absl::StatusOr<std::unique_ptr<VideoWriter>> writer = VideoWriter::Create(options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (const FramePtr& frame : *source_frames) {
    absl::StatusOr<RgbImage> rgb = FrameToRgb(*frame);
    ASSERT_TRUE(rgb.ok()) << rgb.status();
    absl::StatusOr<RgbImage> big = ResizeRgb(*rgb, 192, 128);
    ASSERT_TRUE(big.ok()) << big.status();
    absl::Status status = (*writer)->WriteFrame(*big, Pts(*frame));
    ASSERT_TRUE(status.ok()) << status;
  }
  absl::Status finished = (*writer)->Finish();
  ASSERT_TRUE(finished.ok()) << finished;
  EXPECT_TRUE((*writer)->Finish().ok());  // idempotent
  writer->reset();

  absl::StatusOr<MediaInfo> info = ProbeMedia(options.output_path);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->video.codec_id, AV_CODEC_ID_H264);
  EXPECT_EQ(info->video.width, 192);
  EXPECT_EQ(info->video.height, 128);
  EXPECT_EQ(info->video.pixel_format, AV_PIX_FMT_YUV420P);
  EXPECT_EQ(info->video.color_space, AVCOL_SPC_SMPTE170M);  // SD: BT.601
  EXPECT_EQ(info->video.color_range, AVCOL_RANGE_MPEG);
  EXPECT_EQ(av_cmp_q(info->frame_rate, source_info->frame_rate), 0);
  ASSERT_EQ(info->audio_stream_count, 1);
  const double frame_seconds = 1.0 / spec.fps;
  EXPECT_NEAR(info->audio_duration_seconds, source_info->audio_duration_seconds, frame_seconds);
  EXPECT_NEAR(info->duration_seconds, source_info->duration_seconds, frame_seconds);

  absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(options.output_path);
  ASSERT_TRUE(frames.ok()) << frames.status();
  ASSERT_EQ(frames->size(), source_frames->size());
  for (size_t i = 0; i < frames->size(); ++i) {
    EXPECT_NEAR(Pts(*(*frames)[i]) * av_q2d(info->video.time_base),
                Pts(*(*source_frames)[i]) * av_q2d(source_info->video.time_base), 1e-3)
        << "frame " << i;
  }
}

// Variable frame rate: irregular timestamps come out as they went in.
void ExpectTimestampsKept(const std::string& path) {
  const std::vector<int64_t> pts = {0, 40, 80, 200, 240, 250, 400, 1000, 1041, 1083};
  VideoWriterOptions options;
  options.output_path = path;
  options.width = 64;
  options.height = 48;
  options.time_base = AVRational{1, 1000};
  options.frame_rate = AVRational{24, 1};
  absl::StatusOr<std::unique_ptr<VideoWriter>> writer = VideoWriter::Create(options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (size_t i = 0; i < pts.size(); ++i) {
    absl::Status status = (*writer)->WriteFrame(Bars(64, 48, static_cast<int>(i)), pts[i]);
    ASSERT_TRUE(status.ok()) << status;
  }
  ASSERT_TRUE((*writer)->Finish().ok());
  absl::StatusOr<MediaInfo> info = ProbeMedia(path);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->audio_stream_count, 0);
  absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(path);
  ASSERT_TRUE(frames.ok()) << frames.status();
  ASSERT_EQ(frames->size(), pts.size());
  for (size_t i = 0; i < pts.size(); ++i) {
    EXPECT_NEAR(Pts(*(*frames)[i]) * av_q2d(info->video.time_base), pts[i] / 1000.0, 1e-4)
        << path << " frame " << i;
  }
}

TEST(VideoWriterTest, VariableFrameRateMp4) {
  ExpectTimestampsKept(testing_util::MakeScratchDir() + "/vfr.mp4");
}

TEST(VideoWriterTest, VariableFrameRateMkv) {
  ExpectTimestampsKept(testing_util::MakeScratchDir() + "/vfr.mkv");
}

// Encodes one flat colour and reads it back: the matrix the writer uses and
// tags must be the one the reader applies (BT.601 for SD, BT.709 for HD).
void ExpectColourKept(int width, int height, int colorspace) {
  const std::string path = testing_util::MakeScratchDir() + "/flat.mp4";
  VideoWriterOptions options;
  options.output_path = path;
  options.width = width;
  options.height = height;
  options.time_base = AVRational{1, 24};
  options.frame_rate = AVRational{24, 1};
  options.encode.preset = "ultrafast";
  absl::StatusOr<std::unique_ptr<VideoWriter>> writer = VideoWriter::Create(options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->WriteFrame(Flat(width, height, 200, 100, 50), 0).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  absl::StatusOr<MediaInfo> info = ProbeMedia(path);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->video.color_space, colorspace);
  absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(path);
  ASSERT_TRUE(frames.ok()) << frames.status();
  ASSERT_EQ(frames->size(), 1u);
  absl::StatusOr<RgbImage> rgb = FrameToRgb(*frames->front());
  ASSERT_TRUE(rgb.ok()) << rgb.status();
  const uint8_t* centre = rgb->row(height / 2) + 3 * (width / 2);
  EXPECT_NEAR(centre[0], 200, 3);
  EXPECT_NEAR(centre[1], 100, 3);
  EXPECT_NEAR(centre[2], 50, 3);
}

TEST(VideoWriterTest, SdColourRoundTrip) { ExpectColourKept(64, 48, AVCOL_SPC_SMPTE170M); }

TEST(VideoWriterTest, HdColourRoundTrip) { ExpectColourKept(1280, 720, AVCOL_SPC_BT709); }

TEST(VideoWriterTest, Ffv1IsLossless) {
  const std::string path = testing_util::MakeScratchDir() + "/lossless.mkv";
  VideoWriterOptions options;
  options.output_path = path;
  options.width = 62;  // not a multiple of anything in particular
  options.height = 46;
  options.time_base = AVRational{1, 24};
  options.encode.codec = "ffv1";
  absl::StatusOr<std::unique_ptr<VideoWriter>> writer = VideoWriter::Create(options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  std::vector<RgbImage> images;
  for (int i = 0; i < 3; ++i) {
    images.push_back(Bars(62, 46, i));
    ASSERT_TRUE((*writer)->WriteFrame(images.back(), i).ok());
  }
  ASSERT_TRUE((*writer)->Finish().ok());
  absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(path);
  ASSERT_TRUE(frames.ok()) << frames.status();
  ASSERT_EQ(frames->size(), images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    absl::StatusOr<RgbImage> rgb = FrameToRgb(*(*frames)[i]);
    ASSERT_TRUE(rgb.ok()) << rgb.status();
    EXPECT_TRUE(rgb->pixels == images[i].pixels) << "frame " << i;
  }
}

class H265Test : public ::testing::TestWithParam<const char*> {};

TEST_P(H265Test, WritesEveryFrame) {
  const std::string path = testing_util::MakeScratchDir() + "/out." + GetParam();
  VideoWriterOptions options;
  options.output_path = path;
  options.width = 64;
  options.height = 48;
  options.time_base = AVRational{1, 24};
  options.encode.codec = "h265";
  options.encode.preset = "ultrafast";
  absl::StatusOr<std::unique_ptr<VideoWriter>> writer = VideoWriter::Create(options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE((*writer)->WriteFrame(Bars(64, 48, i), i).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  absl::StatusOr<MediaInfo> info = ProbeMedia(path);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->video.codec_id, AV_CODEC_ID_HEVC);
  absl::StatusOr<int64_t> count = CountVideoFrames(path);
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, 4);
}

INSTANTIATE_TEST_SUITE_P(Containers, H265Test, ::testing::Values("mkv", "mp4"));

TEST(VideoWriterTest, UnknownCodecIsInvalidArgumentNamingIt) {
  VideoWriterOptions options;
  options.output_path = testing_util::MakeScratchDir() + "/out.mp4";
  options.width = 64;
  options.height = 48;
  options.encode.codec = "vp9000";
  absl::StatusOr<std::unique_ptr<VideoWriter>> writer = VideoWriter::Create(options);
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(writer.status().message().find("vp9000"), std::string::npos) << writer.status();
}

TEST(VideoWriterTest, MissingAudioSourceIsNotFound) {
  const std::string dir = testing_util::MakeScratchDir();
  VideoWriterOptions options;
  options.output_path = dir + "/out.mp4";
  options.width = 64;
  options.height = 48;
  options.audio_source_path = dir + "/gone.mp4";
  absl::StatusOr<std::unique_ptr<VideoWriter>> writer = VideoWriter::Create(options);
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.status().code(), absl::StatusCode::kNotFound) << writer.status();
  EXPECT_NE(writer.status().message().find("gone.mp4"), std::string::npos);
}

TEST(VideoWriterTest, RejectsWrongSizeAndNonIncreasingPts) {
  VideoWriterOptions options;
  options.output_path = testing_util::MakeScratchDir() + "/out.mkv";
  options.width = 64;
  options.height = 48;
  options.encode.preset = "ultrafast";
  absl::StatusOr<std::unique_ptr<VideoWriter>> writer = VideoWriter::Create(options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  EXPECT_EQ((*writer)->WriteFrame(Flat(32, 48, 1, 2, 3), 0).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE((*writer)->WriteFrame(Flat(64, 48, 1, 2, 3), 5).ok());
  EXPECT_EQ((*writer)->WriteFrame(Flat(64, 48, 1, 2, 3), 5).code(),
            absl::StatusCode::kInvalidArgument);
  // Destroyed without Finish(): resources are released, nothing crashes.
}

}  // namespace
}  // namespace anifarm
