// The coordinator's source prepass on clips as NTSC DVDs hold them: a
// telecined 720x480 29.97 MPEG-2 (TFF, 3:2 pulldown, AAC) becomes a
// progressive 23.976 intermediate with no combed frame, each frame 1001/24000
// s after the previous one, spanning the source's audio within one frame; the
// planner takes it as it takes any source. Interlaced video is deinterlaced
// one frame per field; a progressive source and --deinterlace off are left
// alone (no intermediate).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "common/media/field_filter.h"
#include "common/media/source_reader.h"
#include "common/media/video_decoder.h"
#include "coordinator/planner.h"
#include "coordinator/source_prepass.h"
#include "tests/corpus/field_clips.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;

struct Span {
  double start = 1e30;
  double end = -1e30;
};

// First and last time of the first audio stream's packets (end: pts +
// duration), in seconds.
Span AudioSpan(const std::string& path) {
  Span span;
  AVFormatContext* raw = nullptr;
  EXPECT_GE(OpenLocalInput(&raw, path), 0);
  InputFormatPtr format(raw);
  EXPECT_GE(avformat_find_stream_info(format.get(), nullptr), 0);
  const int audio = av_find_best_stream(format.get(), AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
  EXPECT_GE(audio, 0);
  if (audio < 0) return span;
  const AVRational tb = format->streams[audio]->time_base;
  PacketPtr packet = MakePacket();
  while (av_read_frame(format.get(), packet.get()) >= 0) {
    if (packet->stream_index == audio && packet->pts != AV_NOPTS_VALUE) {
      span.start = std::min(span.start, packet->pts * av_q2d(tb));
      span.end = std::max(span.end, (packet->pts + packet->duration) * av_q2d(tb));
    }
    av_packet_unref(packet.get());
  }
  return span;
}

struct Decoded {
  MediaInfo info;
  std::vector<FramePtr> frames;
};

Decoded DecodeAll(const std::string& path) {
  Decoded out;
  auto reader = SourceReader::Open(path);
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return out;
  out.info = (*reader)->info();
  auto decoder = VideoDecoder::Create(out.info.video);
  EXPECT_TRUE(decoder.ok()) << decoder.status();
  while (true) {
    auto packet = (*reader)->NextVideoPacket();
    EXPECT_TRUE(packet.ok());
    if (!packet.ok() || !*packet) break;
    EXPECT_TRUE((*decoder)->Decode(**packet, &out.frames).ok());
  }
  EXPECT_TRUE((*decoder)->Flush(&out.frames).ok());
  return out;
}

class SourcePrepassTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("anifarm_prepass_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "job");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const LossyClipSpec& spec) {
    const std::string path = (dir_ / name).string();
    const absl::Status written = WriteLossyClip(path, spec);
    EXPECT_TRUE(written.ok()) << written;
    return path;
  }
  std::string job_dir() const { return (dir_ / "job").string(); }
  fs::path dir_;
};

TEST_F(SourcePrepassTest, TelecinedDvdBecomesProgressiveFilmRateInSyncWithItsAudio) {
  if (!FieldFiltersAvailable()) GTEST_SKIP() << "built without libavfilter";
  const std::string input = Write("in.ts", TelecinedClip(720, 480, 96));  // 120 frames
  auto result = PrepareVideoSource(input, job_dir(), v1::DEINTERLACE_AUTO);
  ASSERT_TRUE(result.ok()) << result.status();
  std::cout << "notice: " << result->notice << "\n";
  EXPECT_EQ(result->analysis.structure, FieldStructure::kTelecined);
  EXPECT_NE(result->notice.find(input + ": telecined (3:2 pulldown"), std::string::npos);
  EXPECT_NE(result->notice.find("→ inverse telecine to 23.976 frames/s (120 frames → 96)"),
            std::string::npos)
      << result->notice;
  EXPECT_EQ(result->video_path, IntermediatePath(job_dir()));
  EXPECT_EQ(VideoSourceOf(input, job_dir()), IntermediatePath(job_dir()));

  const Decoded source = DecodeAll(input);
  ASSERT_EQ(source.frames.size(), 120u);
  const Decoded out = DecodeAll(result->video_path);
  ASSERT_EQ(out.frames.size(), 96u);  // 4/5 of the source
  EXPECT_EQ(av_cmp_q(out.info.frame_rate, AVRational{24000, 1001}), 0)
      << out.info.frame_rate.num << "/" << out.info.frame_rate.den;
  EXPECT_EQ(out.info.field_order, AV_FIELD_PROGRESSIVE);
  EXPECT_EQ(out.info.video.width, 720);
  EXPECT_EQ(out.info.video.height, 480);
  EXPECT_EQ(out.info.video.color_space, source.info.video.color_space);
  // Anamorphic DVDs keep their pixel aspect (the output geometry needs it).
  EXPECT_EQ(av_cmp_q(source.info.video.sample_aspect_ratio, AVRational{8, 9}), 0);
  EXPECT_EQ(av_cmp_q(out.info.video.sample_aspect_ratio, AVRational{8, 9}), 0)
      << out.info.video.sample_aspect_ratio.num << ":" << out.info.video.sample_aspect_ratio.den;
  const AVRational tb = out.info.video.time_base;
  const double frame_s = 1001.0 / 24000.0;
  double max_comb = 0;
  for (size_t k = 0; k < out.frames.size(); ++k) {
    EXPECT_FALSE(out.frames[k]->interlaced_frame) << k;
    max_comb = std::max(max_comb, CombFraction(*out.frames[k]));
    if (k > 0) {
      EXPECT_NEAR((out.frames[k]->pts - out.frames[k - 1]->pts) * av_q2d(tb), frame_s,
                  1.5 * av_q2d(tb))
          << k;
    }
  }
  EXPECT_LT(max_comb, kCombedFrameFraction);
  // The source's own audio (the assembler copies it) spans the new video
  // within one frame at both ends.
  const Span audio = AudioSpan(input);
  const double video_start = out.frames.front()->pts * av_q2d(tb);
  const double video_end = out.frames.back()->pts * av_q2d(tb) + frame_s;
  const double source_start = source.frames.front()->pts * av_q2d(source.info.video.time_base);
  EXPECT_NEAR(video_start, source_start, 0.0005);  // Matroska's millisecond
  EXPECT_NEAR(video_start, audio.start, frame_s);
  EXPECT_NEAR(video_end, audio.end, frame_s);
  std::cout << "ivtc 720x480: 120 -> 96 frames, max comb " << max_comb << "; video "
            << video_start << ".." << video_end << " s, audio " << audio.start << ".."
            << audio.end << " s\n";

  // The planner takes the intermediate like any source: one frame per
  // picture, at the intermediate's timestamps.
  const std::string chunks = (dir_ / "job" / "chunks").string();
  fs::create_directories(chunks);
  PlanOptions options;
  options.chunk_frames = 48;
  options.dedup = v1::DEDUP_OFF;
  auto plan = PlanJob("job-ivtc", result->video_path, chunks, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->frames.size(), 96u);
  for (size_t k = 0; k < plan->frames.size(); ++k) {
    EXPECT_EQ(plan->frames[k].pts, out.frames[k]->pts);
  }

  // Planned again (a restart in PLANNING): the same file, no stale partial.
  auto again = PrepareVideoSource(input, job_dir(), v1::DEINTERLACE_AUTO);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->frames_out, 96);
  for (const auto& entry : fs::directory_iterator(job_dir())) {
    EXPECT_EQ(entry.path().filename().string().find(".partial"), std::string::npos);
  }
}

TEST_F(SourcePrepassTest, InterlacedVideoIsDeinterlacedOneFramePerField) {
  if (!FieldFiltersAvailable()) GTEST_SKIP() << "built without libavfilter";
  const std::string input = Write("in.ts", InterlacedVideoClip(352, 240, 50));
  auto result = PrepareVideoSource(input, job_dir(), v1::DEINTERLACE_AUTO);
  ASSERT_TRUE(result.ok()) << result.status();
  std::cout << "notice: " << result->notice << "\n";
  EXPECT_EQ(result->analysis.structure, FieldStructure::kInterlaced);
  EXPECT_NE(result->notice.find("interlaced (top field first"), std::string::npos);
  EXPECT_NE(result->notice.find("→ deinterlaced (bwdif, one frame per field) to 59.94 frames/s"),
            std::string::npos)
      << result->notice;
  const Decoded out = DecodeAll(result->video_path);
  ASSERT_EQ(out.frames.size(), 100u);
  // Read back from Matroska's default duration (in ns): 59.94 to 1e-6.
  EXPECT_NEAR(av_q2d(out.info.frame_rate), 60000.0 / 1001, 1e-3);
  double max_comb = 0;
  for (const FramePtr& f : out.frames) max_comb = std::max(max_comb, CombFraction(*f));
  EXPECT_LT(max_comb, kCombedFrameFraction);
  const Span audio = AudioSpan(input);
  const AVRational tb = out.info.video.time_base;
  EXPECT_NEAR(out.frames.front()->pts * av_q2d(tb), audio.start, 1001.0 / 30000);
  EXPECT_NEAR(out.frames.back()->pts * av_q2d(tb) + 1001.0 / 60000, audio.end, 1001.0 / 30000);
  std::cout << "bwdif: 50 -> 100 frames, max comb " << max_comb << "\n";
}

TEST_F(SourcePrepassTest, ProgressiveSourceIsPlannedAsItIs) {
  const std::string input = Write("in.ts", ProgressiveClip(352, 240, 48));
  // A stale intermediate from an earlier plan must not survive.
  { std::ofstream(IntermediatePath(job_dir())) << "stale"; }
  auto result = PrepareVideoSource(input, job_dir(), v1::DEINTERLACE_AUTO);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->analysis.structure, FieldStructure::kProgressive);
  EXPECT_EQ(result->analysis.frames, 48);
  EXPECT_EQ(result->video_path, input);
  EXPECT_TRUE(result->notice.empty()) << result->notice;
  EXPECT_FALSE(fs::exists(IntermediatePath(job_dir())));
  EXPECT_EQ(VideoSourceOf(input, job_dir()), input);
}

TEST_F(SourcePrepassTest, OffLeavesATelecinedSourceAlone) {
  const std::string input = Write("in.ts", TelecinedClip(352, 240, 40));
  auto result = PrepareVideoSource(input, job_dir(), v1::DEINTERLACE_OFF);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->video_path, input);
  EXPECT_EQ(result->analysis.frames, 0);  // not even analysed
  EXPECT_TRUE(result->notice.empty());
  EXPECT_FALSE(fs::exists(IntermediatePath(job_dir())));
}

TEST_F(SourcePrepassTest, ForcedIvtcSaysSo) {
  if (!FieldFiltersAvailable()) GTEST_SKIP() << "built without libavfilter";
  const std::string input = Write("in.ts", TelecinedClip(352, 240, 40));
  auto result = PrepareVideoSource(input, job_dir(), v1::DEINTERLACE_IVTC);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->frames_out, 40);
  EXPECT_NE(result->notice.find("(--deinterlace ivtc)"), std::string::npos) << result->notice;
}

TEST_F(SourcePrepassTest, WithoutLibavfilterOneNoticeAndTheSourceUnchanged) {
  if (FieldFiltersAvailable()) GTEST_SKIP() << "built with libavfilter";
  const std::string input = Write("in.ts", TelecinedClip(352, 240, 40));
  auto result = PrepareVideoSource(input, job_dir(), v1::DEINTERLACE_AUTO);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->analysis.structure, FieldStructure::kTelecined);
  EXPECT_EQ(result->video_path, input);
  EXPECT_NE(result->notice.find("passed through unchanged"), std::string::npos)
      << result->notice;
}

}  // namespace
}  // namespace anifarm
