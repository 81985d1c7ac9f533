// Probing, demuxing and decoding of synthetic clips, and the clips themselves.
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "common/media/frame_convert.h"
#include "common/media/media_info.h"
#include "common/media/source_reader.h"
#include "common/media/test_clip.h"
#include "gtest/gtest.h"
#include "tests/unit/media/media_test_util.h"

namespace anifarm {
namespace {

constexpr int kWidth = 160;
constexpr int kHeight = 96;
constexpr int kFps = 24;
constexpr int kFrames = 48;
constexpr int kGop = 12;

class TestClipTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(testing_util::MakeScratchDir());
    path_ = new std::string(*dir_ + "/clip.mp4");
    TestClipSpec spec;
    spec.width = kWidth;
    spec.height = kHeight;
    spec.fps = kFps;
    spec.gop = kGop;
    spec.content = DefaultTestPattern(kFrames);
    const absl::Status status = WriteTestClip(*path_, spec);
    ASSERT_TRUE(status.ok()) << status;
  }
  static void TearDownTestSuite() {
    delete path_;
    delete dir_;
  }
  static std::string* dir_;
  static std::string* path_;
};
std::string* TestClipTest::dir_ = nullptr;
std::string* TestClipTest::path_ = nullptr;

TEST(DefaultTestPatternTest, HeldOnTwosWithTheOpeningRepeatedAtTheEnd) {
  const std::vector<int> pattern = DefaultTestPattern(48);
  ASSERT_EQ(pattern.size(), 48u);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(pattern[i], i / 2) << i;
  EXPECT_EQ(std::vector<int>(pattern.begin() + 40, pattern.end()),
            (std::vector<int>{0, 0, 1, 1, 2, 2, 3, 3}));
  EXPECT_EQ(DefaultTestPattern(6), (std::vector<int>{0, 0, 1, 1, 2, 2}));
}

TEST_F(TestClipTest, ProbeReportsTheClip) {
  absl::StatusOr<MediaInfo> info = ProbeMedia(*path_);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->path, *path_);
  EXPECT_NE(info->container.find("mp4"), std::string::npos) << info->container;
  EXPECT_GE(info->video_stream, 0);
  EXPECT_EQ(info->video.codec_id, AV_CODEC_ID_H264);
  EXPECT_FALSE(info->video.extradata.empty());  // avcC in MP4
  EXPECT_EQ(info->video.width, kWidth);
  EXPECT_EQ(info->video.height, kHeight);
  EXPECT_EQ(info->video.pixel_format, AV_PIX_FMT_YUV420P);
  EXPECT_GT(info->video.time_base.den, 0);
  EXPECT_EQ(info->video.color_space, AVCOL_SPC_SMPTE170M);
  EXPECT_EQ(info->video.color_range, AVCOL_RANGE_MPEG);
  EXPECT_EQ(av_cmp_q(info->frame_rate, AVRational{kFps, 1}), 0)
      << info->frame_rate.num << "/" << info->frame_rate.den;
  EXPECT_EQ(info->audio_stream_count, 1);
  const double video_seconds = static_cast<double>(kFrames) / kFps;
  EXPECT_NEAR(info->duration_seconds, video_seconds, 1.0 / kFps);
  EXPECT_NEAR(info->audio_duration_seconds, video_seconds, 1.0 / kFps);
}

TEST_F(TestClipTest, CountsEveryFrame) {
  absl::StatusOr<int64_t> count = CountVideoFrames(*path_);
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, kFrames);
}

TEST_F(TestClipTest, ReaderYieldsOnlyVideoWithKeyframesEveryGop) {
  absl::StatusOr<std::unique_ptr<SourceReader>> reader = SourceReader::Open(*path_);
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::vector<int> keyframes;
  int packets = 0;
  while (true) {
    absl::StatusOr<PacketPtr> packet = (*reader)->NextVideoPacket();
    ASSERT_TRUE(packet.ok()) << packet.status();
    if (!*packet) break;
    EXPECT_EQ((*packet)->stream_index, (*reader)->info().video_stream);
    if ((*packet)->flags & AV_PKT_FLAG_KEY) keyframes.push_back(packets);
    ++packets;
  }
  EXPECT_EQ(packets, kFrames);
  EXPECT_EQ(keyframes, (std::vector<int>{0, 12, 24, 36}));
  // At end of file it stays at end of file.
  absl::StatusOr<PacketPtr> again = (*reader)->NextVideoPacket();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, nullptr);
}

TEST_F(TestClipTest, EqualContentDecodesToIdenticalPixelsAndOnlyThen) {
  absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(*path_);
  ASSERT_TRUE(frames.ok()) << frames.status();
  ASSERT_EQ(frames->size(), static_cast<size_t>(kFrames));
  const std::vector<int> content = DefaultTestPattern(kFrames);
  std::vector<std::string> md5;
  for (const FramePtr& frame : *frames) {
    EXPECT_EQ(frame->width, kWidth);
    EXPECT_EQ(frame->height, kHeight);
    md5.push_back(FramePixelsMd5(*frame));
    EXPECT_EQ(md5.back().size(), 32u);
  }
  for (int i = 0; i < kFrames; ++i) {
    for (int j = i + 1; j < kFrames; ++j) {
      if (content[i] == content[j]) {
        EXPECT_EQ(md5[i], md5[j]) << "frames " << i << " and " << j;
      } else {
        EXPECT_NE(md5[i], md5[j]) << "frames " << i << " and " << j;
      }
    }
  }
  // Timestamps: one tick apart in presentation order, in the stream's time base.
  absl::StatusOr<MediaInfo> info = ProbeMedia(*path_);
  ASSERT_TRUE(info.ok());
  for (int i = 1; i < kFrames; ++i) {
    const double delta =
        static_cast<double>((*frames)[i]->best_effort_timestamp -
                            (*frames)[i - 1]->best_effort_timestamp) *
        av_q2d(info->video.time_base);
    EXPECT_NEAR(delta, 1.0 / kFps, 1e-6) << i;
  }
}

TEST_F(TestClipTest, RgbConversionKeepsColours) {
  absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(*path_);
  ASSERT_TRUE(frames.ok()) << frames.status();
  absl::StatusOr<RgbImage> first = FrameToRgb(*frames->front());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->width, kWidth);
  EXPECT_EQ(first->height, kHeight);
  ASSERT_EQ(first->pixels.size(), static_cast<size_t>(kWidth * kHeight * 3));
  // Picture 0's background is (250, 220, 180); the corner is background.
  const uint8_t* corner = first->row(0);
  EXPECT_NEAR(corner[0], 250, 4);
  EXPECT_NEAR(corner[1], 220, 4);
  EXPECT_NEAR(corner[2], 180, 4);
  // The same picture later in the clip converts to the same RGB.
  absl::StatusOr<RgbImage> repeat = FrameToRgb(*(*frames)[kFrames - 8]);
  ASSERT_TRUE(repeat.ok());
  EXPECT_TRUE(repeat->pixels == first->pixels);
  absl::StatusOr<RgbImage> other = FrameToRgb(*(*frames)[2]);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->pixels == first->pixels);
}

TEST(TestClipVariantsTest, MatroskaWithoutAudio) {
  const std::string path = testing_util::MakeScratchDir() + "/clip.mkv";
  TestClipSpec spec;
  spec.width = 64;
  spec.height = 48;
  spec.content = {0, 1, 1, 2, 0, 3};
  spec.gop = 3;
  spec.audio = false;
  ASSERT_TRUE(WriteTestClip(path, spec).ok());
  absl::StatusOr<MediaInfo> info = ProbeMedia(path);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_NE(info->container.find("matroska"), std::string::npos) << info->container;
  EXPECT_EQ(info->video.width, 64);
  EXPECT_EQ(info->audio_stream_count, 0);
  EXPECT_EQ(info->audio_duration_seconds, 0);
  absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(path);
  ASSERT_TRUE(frames.ok()) << frames.status();
  ASSERT_EQ(frames->size(), 6u);
  EXPECT_EQ(FramePixelsMd5(*(*frames)[0]), FramePixelsMd5(*(*frames)[4]));
  EXPECT_EQ(FramePixelsMd5(*(*frames)[1]), FramePixelsMd5(*(*frames)[2]));
  EXPECT_NE(FramePixelsMd5(*(*frames)[0]), FramePixelsMd5(*(*frames)[1]));
}

TEST(TestClipVariantsTest, OddSizeIsRejected) {
  TestClipSpec spec;
  spec.width = 65;
  const std::string path = testing_util::MakeScratchDir() + "/odd.mp4";
  EXPECT_EQ(WriteTestClip(path, spec).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ProbeErrorsTest, MissingFileIsNotFoundNamingIt) {
  const std::string path = testing_util::MakeScratchDir() + "/no-such-video.mp4";
  absl::StatusOr<MediaInfo> info = ProbeMedia(path);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), absl::StatusCode::kNotFound) << info.status();
  EXPECT_NE(info.status().message().find(path), std::string::npos) << info.status();
  EXPECT_EQ(CountVideoFrames(path).status().code(), absl::StatusCode::kNotFound);
}

// A playlist (or a concat list) would make FFmpeg read other files, which
// may lie outside the coordinator's roots: refused, naming the file.
TEST(ProbeErrorsTest, ListsOfOtherFilesAreRefused) {
  const std::string dir = testing_util::MakeScratchDir();
  TestClipSpec spec;
  spec.width = 32;
  spec.height = 32;
  spec.content = {0, 1, 2, 3};
  spec.gop = 2;
  ASSERT_TRUE(WriteTestClip(dir + "/secret.mp4", spec).ok());
  ASSERT_TRUE(ProbeMedia(dir + "/secret.mp4").ok());
  const std::string playlist = dir + "/episode.m3u8";
  std::ofstream(playlist) << "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n" << dir
                          << "/secret.mp4\n#EXT-X-ENDLIST\n";
  const std::string concat = dir + "/episode.ffconcat";
  std::ofstream(concat) << "ffconcat version 1.0\nfile secret.mp4\n";
  for (const std::string& path : {playlist, concat}) {
    absl::StatusOr<MediaInfo> info = ProbeMedia(path);
    ASSERT_FALSE(info.ok()) << path;
    EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument) << info.status();
    EXPECT_NE(info.status().message().find(path), std::string::npos) << info.status();
  }
  // Other protocols are not opened at all.
  EXPECT_FALSE(ProbeMedia("concat:" + dir + "/secret.mp4|" + dir + "/secret.mp4").ok());
}

TEST(ProbeErrorsTest, TextFileIsNotMedia) {
  const std::string dir = testing_util::MakeScratchDir();
  // Also .nfo, which libavformat's tty demuxer claims as "ANSI art video".
  for (const std::string name : {"notes.txt", "notes.mp4", "notes.nfo"}) {
    const std::string path = dir + "/" + name;
    std::ofstream(path) << "Episode 1 notes: upscale to 4K, keep the grain.\n"
                           "Nothing in this file is video at all.\n";
    absl::StatusOr<MediaInfo> info = ProbeMedia(path);
    ASSERT_FALSE(info.ok()) << name;
    EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument) << info.status();
    EXPECT_NE(info.status().message().find(path), std::string::npos) << info.status();
  }
}

TEST(ProbeErrorsTest, AudioOnlyFileHasNoVideoStream) {
  const std::string path = testing_util::MakeScratchDir() + "/tone.wav";
  // A minimal PCM WAV (mono, 8 kHz, 16-bit, 800 samples of silence).
  constexpr uint32_t kSamples = 800;
  std::string wav = "RIFF";
  auto put32 = [&wav](uint32_t v) {
    for (int i = 0; i < 4; ++i) wav.push_back(static_cast<char>(v >> (8 * i)));
  };
  auto put16 = [&wav](uint16_t v) {
    wav.push_back(static_cast<char>(v & 0xff));
    wav.push_back(static_cast<char>(v >> 8));
  };
  put32(36 + kSamples * 2);
  wav += "WAVEfmt ";
  put32(16);
  put16(1);         // PCM
  put16(1);         // mono
  put32(8000);      // sample rate
  put32(8000 * 2);  // byte rate
  put16(2);         // block align
  put16(16);        // bits per sample
  wav += "data";
  put32(kSamples * 2);
  wav.append(kSamples * 2, '\0');
  std::ofstream(path, std::ios::binary) << wav;
  absl::StatusOr<MediaInfo> info = ProbeMedia(path);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument) << info.status();
  EXPECT_NE(info.status().message().find(path), std::string::npos) << info.status();
  EXPECT_NE(info.status().message().find("no video stream"), std::string::npos)
      << info.status();
}

}  // namespace
}  // namespace anifarm
