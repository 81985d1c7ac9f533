// Open-GOP sources (libx264 open-gop=1, libx265's default, MPEG-2 open GOPs):
// a keyframe that is not an IDR is followed in decode order by leading
// pictures, shown before it and predicted from the previous GOP. The plan
// gives them to the previous chunk (by pts) while their packets follow the
// next chunk's keyframe, so each chunk's payload must carry them: every
// chunk, decoded alone, gives every frame the plan assigns it, bit-exact with
// the planner's sequential decode. Closed-GOP sources get nothing appended.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/chunk_payload.h"
#include "common/media/frame_convert.h"
#include "coordinator/open_gop.h"
#include "coordinator/planner.h"
#include "tests/corpus/lossy_clip.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;

// A payload of packets (pts, keyframe), in decode order; each packet's data
// names it, so the test can tell which ones come back.
v1::ChunkPayload Packets(const std::vector<std::pair<int64_t, bool>>& packets) {
  v1::ChunkPayload payload;
  for (const auto& [pts, keyframe] : packets) {
    v1::SourcePacket* packet = payload.add_packets();
    packet->set_data("p" + std::to_string(pts));
    packet->set_pts(pts);
    packet->set_dts(pts);
    packet->set_keyframe(keyframe);
  }
  return payload;
}

std::vector<int64_t> PtsOf(const std::vector<v1::SourcePacket>& packets) {
  std::vector<int64_t> pts;
  for (const v1::SourcePacket& packet : packets) {
    EXPECT_EQ(packet.data(), "p" + std::to_string(packet.pts()));
    pts.push_back(packet.pts());
  }
  return pts;
}

TEST(OpenGopTailTest, TheKeyframeAndTheLeadingPicturesRightAfterIt) {
  // I12 B10 B11 P15 B13 B14 (a later B below 12 is no leading picture: the
  // run ends at the first picture shown after the keyframe).
  EXPECT_EQ(PtsOf(OpenGopTail(Packets(
                {{12, true}, {10, false}, {11, false}, {15, false}, {13, false}, {9, false}}))),
            (std::vector<int64_t>{12, 10, 11}));
}

TEST(OpenGopTailTest, NothingForAClosedGopOrAKeyframeAlone) {
  EXPECT_TRUE(OpenGopTail(Packets({{12, true}, {15, false}, {13, false}, {14, false}})).empty());
  EXPECT_TRUE(OpenGopTail(Packets({{12, true}})).empty());
  EXPECT_TRUE(OpenGopTail(v1::ChunkPayload()).empty());
  // The next keyframe ends the run, whatever its pts.
  EXPECT_TRUE(OpenGopTail(Packets({{12, true}, {11, true}, {10, false}})).empty());
}

TEST(OpenGopTailTest, UnknownTimestampsAppendNothing) {
  EXPECT_TRUE(OpenGopTail(Packets({{AV_NOPTS_VALUE, true}, {10, false}})).empty());
  EXPECT_EQ(PtsOf(OpenGopTail(Packets({{12, true}, {10, false}, {AV_NOPTS_VALUE, false}}))),
            (std::vector<int64_t>{12, 10}));
}

class OpenGopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("anifarm-open-gop-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "chunks");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string chunk_dir() const { return (dir_ / "chunks").string(); }

  // What a clip's plan and payloads hold, for the open-GOP assertions.
  struct Result {
    int chunks = 0;
    // Chunks whose own packets start with a keyframe followed by leading
    // pictures (pts below the keyframe's): the clip really has open GOPs.
    int keyframes_with_leading_pictures = 0;
    // Chunks whose payload carries more packets than frames it owns: the
    // next chunk's keyframe and leading pictures were appended.
    int chunks_with_appended_packets = 0;
  };

  // Writes `spec` to `name` in the test folder, plans it in chunks of 12
  // frames (no scene cuts, no dedup; with the clips' keyint of 15 to 25 every
  // keyframe then starts a chunk, also the few the encoders give leading
  // pictures) and decodes every chunk's payload alone:
  // each frame the plan assigns to a chunk comes out of it exactly once, at
  // its pts, with the pixels the planner hashed.
  void PlanAndDecodeEveryChunk(const LossyClipSpec& spec, const std::string& name,
                               Result* result) {
    const std::string clip = (dir_ / name).string();
    const absl::Status written = WriteLossyClip(clip, spec);
    ASSERT_TRUE(written.ok()) << written;
    PlanOptions options;
    options.chunk_frames = 12;
    options.scene_cut_threshold = 0;
    options.dedup = v1::DEDUP_OFF;
    auto plan = PlanJob("job-og", clip, chunk_dir(), options);
    ASSERT_TRUE(plan.ok()) << plan.status();
    ASSERT_EQ(plan->frames.size(), static_cast<size_t>(spec.frames));
    ASSERT_GE(plan->chunks.size(), 3u);
    result->chunks = static_cast<int>(plan->chunks.size());
    for (size_t i = 0; i < plan->frames.size(); ++i) {
      EXPECT_EQ(plan->frames[i].index, static_cast<int64_t>(i));
      if (i > 0) EXPECT_GT(plan->frames[i].pts, plan->frames[i - 1].pts) << i;
    }
    for (const ChunkRecord& chunk : plan->chunks) {
      auto payload = ReadChunkPayload(ChunkPayloadPath(chunk_dir(), chunk.index));
      ASSERT_TRUE(payload.ok()) << payload.status();
      ASSERT_GT(payload->packets_size(), 0);
      EXPECT_TRUE(payload->packets(0).keyframe()) << "chunk " << chunk.index;
      const int64_t start_pts = payload->packets(0).pts();
      if (payload->packets_size() > 1 && payload->packets(1).pts() < start_pts) {
        ++result->keyframes_with_leading_pictures;
      }
      if (payload->packets_size() > chunk.frame_count) ++result->chunks_with_appended_packets;

      std::map<int64_t, int> times_decoded;
      std::map<int64_t, std::string> md5_by_pts;
      const absl::Status decoded = DecodeChunk(*payload, [&](const AVFrame& frame, int64_t pts) {
        if (++times_decoded[pts] == 1) md5_by_pts[pts] = FramePixelsMd5(frame);
        return absl::OkStatus();
      });
      EXPECT_TRUE(decoded.ok()) << "chunk " << chunk.index << ": " << decoded;
      int owned = 0;
      for (const FrameRecord& frame : plan->frames) {
        if (frame.chunk_index != chunk.index) continue;
        ++owned;
        EXPECT_EQ(times_decoded[frame.pts], 1)
            << "chunk " << chunk.index << " frame " << frame.index << " pts " << frame.pts;
        EXPECT_EQ(md5_by_pts[frame.pts], frame.md5)
            << "chunk " << chunk.index << " frame " << frame.index << " pts " << frame.pts;
      }
      EXPECT_EQ(owned, chunk.frame_count) << "chunk " << chunk.index;
    }
  }

  fs::path dir_;
};

TEST_F(OpenGopTest, H264OpenGopChunksDecodeTheirLeadingPictures) {
  LossyClipSpec spec;
  spec.encoder = "libx264";
  spec.open_gop = true;
  spec.keyint = 25;  // x264 then gives 2 of its 3 later keyframes leading pictures
  spec.frames = 96;
  spec.audio = true;  // the planner reads past the AAC track
  Result result;
  ASSERT_NO_FATAL_FAILURE(PlanAndDecodeEveryChunk(spec, "open.mp4", &result));
  EXPECT_GT(result.keyframes_with_leading_pictures, 0) << "the clip came out closed-GOP";
  EXPECT_GT(result.chunks_with_appended_packets, 0);
}

TEST_F(OpenGopTest, HevcDefaultOpenGopChunksDecodeTheirLeadingPictures) {
  LossyClipSpec spec;
  spec.encoder = "libx265";
  spec.open_gop = true;  // x265's default
  spec.keyint = 24;
  spec.frames = 96;
  Result result;
  ASSERT_NO_FATAL_FAILURE(PlanAndDecodeEveryChunk(spec, "open.mkv", &result));
  EXPECT_GT(result.keyframes_with_leading_pictures, 0) << "the clip came out closed-GOP";
  EXPECT_GT(result.chunks_with_appended_packets, 0);
}

TEST_F(OpenGopTest, Mpeg2OpenGopChunksDecodeTheirLeadingPictures) {
  LossyClipSpec spec;
  spec.encoder = "mpeg2video";
  spec.open_gop = true;
  spec.keyint = 15;
  spec.frames = 90;
  Result result;
  ASSERT_NO_FATAL_FAILURE(PlanAndDecodeEveryChunk(spec, "open.ts", &result));
  EXPECT_GT(result.keyframes_with_leading_pictures, 0) << "the clip came out closed-GOP";
  EXPECT_GT(result.chunks_with_appended_packets, 0);
}

TEST_F(OpenGopTest, ClosedGopPayloadsGetNothingAppended) {
  LossyClipSpec spec;  // libx264's default: closed GOPs
  spec.keyint = 24;
  spec.frames = 96;
  Result result;
  ASSERT_NO_FATAL_FAILURE(PlanAndDecodeEveryChunk(spec, "closed.mp4", &result));
  EXPECT_EQ(result.keyframes_with_leading_pictures, 0);
  EXPECT_EQ(result.chunks_with_appended_packets, 0);
}

TEST_F(OpenGopTest, ClosedMpeg2GopPayloadsGetNothingAppended) {
  LossyClipSpec spec;
  spec.encoder = "mpeg2video";
  spec.open_gop = false;
  spec.keyint = 15;
  spec.frames = 60;
  spec.audio = true;
  Result result;
  ASSERT_NO_FATAL_FAILURE(PlanAndDecodeEveryChunk(spec, "closed.ts", &result));
  EXPECT_EQ(result.keyframes_with_leading_pictures, 0);
  EXPECT_EQ(result.chunks_with_appended_packets, 0);
}

}  // namespace
}  // namespace anifarm
