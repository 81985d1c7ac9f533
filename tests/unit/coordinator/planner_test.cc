// Planner on a real clip: keyframe-aligned chunks, MD5 dedup across the
// whole video, and payloads that list only first occurrences.
#include "coordinator/planner.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "common/media/test_clip.h"

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

}  // namespace
}  // namespace anifarm
