// The assembler and submit's check share the writer's container rules: a
// source whose audio the container refuses (FLAC into .mp4, which libavformat
// calls experimental) is announced at submit and transcoded at assembly,
// not failed after the upscaling; and a failed assembly leaves no hidden
// .partial file behind.
#include "coordinator/assembler.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/image.h"
#include "common/media/media_info.h"
#include "common/media/png_codec.h"
#include "common/media/test_clip.h"
#include "coordinator/settings.h"

extern "C" {
#include <libavformat/avformat.h>
}

namespace anifarm {
namespace {

namespace fs = std::filesystem;

constexpr int kFrames = 6;

class AssemblerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("anifarm-assemble-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "frames");
    source_ = (dir_ / "in.mkv").string();
    TestClipSpec spec;
    spec.width = 64;
    spec.height = 48;
    spec.content = DefaultTestPattern(kFrames);
    spec.audio_encoder = "flac";
    ASSERT_TRUE(WriteTestClip(source_, spec).ok());
    absl::StatusOr<MediaInfo> media = ProbeMedia(source_);
    ASSERT_TRUE(media.ok()) << media.status();
    request_.source_path = source_;
    request_.frames_dir = (dir_ / "frames").string();
    request_.media = *media;
    request_.encode.preset = "ultrafast";
    const int64_t ticks_per_frame =
        media->video.time_base.den / (24LL * media->video.time_base.num);
    RgbImage picture(128, 96);
    for (int i = 0; i < kFrames; ++i) {
      FrameRecord frame;
      frame.index = frame.source_index = i;
      frame.pts = i * ticks_per_frame;
      request_.frames.push_back(frame);
      for (size_t p = 0; p < picture.pixels.size(); ++p) picture.pixels[p] = (p + i) % 256;
      absl::StatusOr<std::string> png = EncodePng(picture);
      ASSERT_TRUE(png.ok());
      std::ofstream(UpscaledFramePath(request_.frames_dir, i), std::ios::binary) << *png;
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<std::string> Partials() const {
    std::vector<std::string> found;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      const std::string name = entry.path().filename().string();
      if (name.find(".partial") != std::string::npos) found.push_back(name);
    }
    return found;
  }

  fs::path dir_;
  std::string source_;
  AssemblyRequest request_;
};

TEST_F(AssemblerTest, FlacIntoMp4IsAnnouncedAtSubmitAndTranscoded) {
  request_.output_path = (dir_ / "out.mp4").string();
  v1::ProcessingSettings settings;
  settings.set_codec("h264");
  std::vector<std::string> notices;
  absl::Status checked =
      CheckOutputSettings(settings, request_.output_path, &request_.media, &notices);
  ASSERT_TRUE(checked.ok()) << checked;
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_NE(notices[0].find("transcoded to AAC"), std::string::npos) << notices[0];
  EXPECT_NE(notices[0].find(request_.output_path), std::string::npos) << notices[0];
  settings.set_no_audio(true);
  ASSERT_TRUE(CheckOutputSettings(settings, request_.output_path, &request_.media, &notices).ok());
  EXPECT_TRUE(notices.empty());

  absl::StatusOr<AssemblyResult> result = AssembleOutput(request_);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->frames_written, kFrames);
  EXPECT_TRUE(Partials().empty());
  AVFormatContext* raw = nullptr;
  ASSERT_EQ(avformat_open_input(&raw, request_.output_path.c_str(), nullptr, nullptr), 0);
  ASSERT_GE(avformat_find_stream_info(raw, nullptr), 0);
  int aac = 0;
  for (unsigned i = 0; i < raw->nb_streams; ++i) {
    aac += raw->streams[i]->codecpar->codec_id == AV_CODEC_ID_AAC;
  }
  avformat_close_input(&raw);
  EXPECT_EQ(aac, 1);
}

TEST_F(AssemblerTest, FailedEncodeLeavesNoPartialFile) {
  request_.output_path = (dir_ / "out.mkv").string();
  fs::remove(UpscaledFramePath(request_.frames_dir, kFrames - 1));  // the writer is open by then
  EXPECT_FALSE(AssembleOutput(request_).ok());
  EXPECT_TRUE(Partials().empty());
  EXPECT_FALSE(fs::exists(request_.output_path));
}

TEST_F(AssemblerTest, FailedRenameLeavesNoPartialFile) {
  // The output's name is taken by a folder with something in it.
  request_.output_path = (dir_ / "out.mkv").string();
  fs::create_directories(dir_ / "out.mkv" / "inside");
  absl::StatusOr<AssemblyResult> result = AssembleOutput(request_);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("cannot move"), std::string::npos) << result.status();
  EXPECT_TRUE(Partials().empty());
}

}  // namespace
}  // namespace anifarm
