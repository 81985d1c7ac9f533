// Planner on a real clip: keyframe-aligned chunks, MD5 dedup across the
// whole video, and payloads that list only first occurrences.
#include "coordinator/planner.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "common/media/test_clip.h"
#include "common/media/video_writer.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;

TEST(PlannerTest, DedupsAcrossTheWholeVideoAndCutsOnKeyframes) {
  const fs::path dir = fs::temp_directory_path() / ("anifarm-plan-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "chunks");
  TestClipSpec spec;
  spec.width = 64;
  spec.height = 48;
  spec.gop = 12;
  spec.content = DefaultTestPattern(48);
  ASSERT_TRUE(WriteTestClip((dir / "in.mp4").string(), spec).ok());

  PlanOptions options;
  options.chunk_frames = 12;
  auto plan = PlanJob("job-x", (dir / "in.mp4").string(), (dir / "chunks").string(), options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->frames.size(), 48u);
  ASSERT_EQ(plan->chunks.size(), 4u);

  // Expected map from the content ids alone.
  std::map<int, int64_t> first_of_content;
  for (size_t i = 0; i < spec.content.size(); ++i) first_of_content.emplace(spec.content[i], i);
  int64_t upscale_total = 0;
  for (const FrameRecord& frame : plan->frames) {
    EXPECT_EQ(frame.source_index, first_of_content[spec.content[frame.index]]) << frame.index;
    EXPECT_EQ(frame.chunk_index, frame.index / 12) << frame.index;
  }
  for (const ChunkRecord& chunk : plan->chunks) {
    EXPECT_EQ(chunk.frame_count, 12);
    auto payload = ReadChunkPayload(ChunkPayloadPath((dir / "chunks").string(), chunk.index));
    ASSERT_TRUE(payload.ok());
    EXPECT_TRUE(payload->packets(0).keyframe());
    EXPECT_EQ(payload->frames_size(), chunk.unique_count);
    upscale_total += payload->frames_size();
  }
  EXPECT_EQ(upscale_total, static_cast<int64_t>(first_of_content.size()));
  fs::remove_all(dir);
}

TEST(PlannerTest, RefusesFilesThatAreNotVideoNamingThem) {
  const fs::path text = fs::temp_directory_path() / "anifarm-not-video.txt";
  { std::ofstream(text) << "hello"; }
  auto plan = PlanJob("job-y", text.string(), fs::temp_directory_path().string(), PlanOptions());
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find(text.string()), std::string::npos);
  fs::remove(text);
}

// Held frames of anime that differ only by compression noise: two pictures,
// each shown four times with 0/+1 noise (about 51 dB apart) (lossless FFV1, so the noise stays).
std::string WriteNoisyHeldClip(const fs::path& dir) {
  const std::string path = (dir / "held.mkv").string();
  VideoWriterOptions options;
  options.output_path = path;
  options.encode.codec = "ffv1";
  options.width = 64;
  options.height = 48;
  options.time_base = {1, 24};
  options.frame_rate = {24, 1};
  auto writer = VideoWriter::Create(options);
  EXPECT_TRUE(writer.ok()) << writer.status();
  uint32_t seed = 7;
  for (int i = 0; i < 8; ++i) {
    RgbImage image;
    image.width = 64;
    image.height = 48;
    image.pixels.resize(64 * 48 * 3);
    const int picture = i / 4;
    for (size_t p = 0; p < image.pixels.size(); ++p) {
      seed = seed * 1664525u + 1013904223u;
      const int base = picture == 0 ? 60 + int(p % 97) : 200 - int(p % 89);
      image.pixels[p] = static_cast<uint8_t>(base + int(seed >> 31));  // base or base+1
    }
    EXPECT_TRUE((*writer)->WriteFrame(image, i).ok());
  }
  EXPECT_TRUE((*writer)->Finish().ok());
  return path;
}

TEST(PlannerTest, DedupModesOffExactAndNear) {
  const fs::path dir = fs::temp_directory_path() / ("anifarm-plan-near-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "chunks");
  const std::string clip = WriteNoisyHeldClip(dir);
  auto unique_sources = [](const Plan& plan) {
    std::set<int64_t> sources;
    for (const FrameRecord& frame : plan.frames) sources.insert(frame.source_index);
    return sources.size();
  };

  PlanOptions options;
  options.dedup = v1::DEDUP_EXACT;
  auto exact = PlanJob("job-e", clip, (dir / "chunks").string(), options);
  ASSERT_TRUE(exact.ok()) << exact.status();
  ASSERT_EQ(exact->frames.size(), 8u);
  EXPECT_EQ(unique_sources(*exact), 8u) << "noise makes every frame distinct to MD5";

  options.dedup = v1::DEDUP_NEAR;
  auto near = PlanJob("job-n", clip, (dir / "chunks").string(), options);
  ASSERT_TRUE(near.ok()) << near.status();
  ASSERT_EQ(near->frames.size(), 8u);
  EXPECT_EQ(unique_sources(*near), 2u);
  for (const FrameRecord& frame : near->frames) {
    EXPECT_EQ(frame.source_index, frame.index < 4 ? 0 : 4) << frame.index;
  }
  EXPECT_EQ(near->chunks[0].unique_count, 2);

  // A threshold above the noise's PSNR keeps every frame.
  options.near_dedup_psnr = 70;
  auto strict = PlanJob("job-s", clip, (dir / "chunks").string(), options);
  ASSERT_TRUE(strict.ok());
  EXPECT_EQ(unique_sources(*strict), 8u);

  options.dedup = v1::DEDUP_OFF;
  auto off = PlanJob("job-o", clip, (dir / "chunks").string(), options);
  ASSERT_TRUE(off.ok());
  for (const FrameRecord& frame : off->frames) EXPECT_EQ(frame.source_index, frame.index);
  fs::remove_all(dir);
}

TEST(PlannerTest, DedupOffUpscalesRepeatedPicturesToo) {
  const fs::path dir = fs::temp_directory_path() / ("anifarm-plan-off-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "chunks");
  TestClipSpec spec;
  spec.width = 64;
  spec.height = 48;
  spec.content = DefaultTestPattern(24);
  ASSERT_TRUE(WriteTestClip((dir / "in.mp4").string(), spec).ok());
  PlanOptions options;
  options.dedup = v1::DEDUP_OFF;
  auto plan = PlanJob("job-o", (dir / "in.mp4").string(), (dir / "chunks").string(), options);
  ASSERT_TRUE(plan.ok());
  int64_t listed = 0;
  for (const ChunkRecord& chunk : plan->chunks) listed += chunk.unique_count;
  EXPECT_EQ(listed, 24);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace anifarm
