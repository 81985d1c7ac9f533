// Damaged sources fail at planning with one line that names the file and
// where the damage starts, before any node works on them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "coordinator/planner.h"
#include "tests/corpus/lossy_clip.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;

TEST(DamagedInputTest, AnMp4CutAfterItsIndexFailsAtPlanningNamingFileAndTime) {
  const fs::path dir = fs::temp_directory_path() / ("anifarm-damaged-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "chunks");
  LossyClipSpec spec;
  spec.width = 96;
  spec.height = 64;
  spec.frames = 24;
  spec.index_first = true;
  const std::string whole = (dir / "whole.mp4").string();
  ASSERT_TRUE(WriteLossyClip(whole, spec).ok());
  PlanOptions options;
  auto intact = PlanJob("job", whole, (dir / "chunks").string(), options);
  ASSERT_TRUE(intact.ok()) << intact.status();
  EXPECT_EQ(intact->frames.size(), 24u);

  // The same file cut in the middle of its frames, as an interrupted
  // download leaves it: it still opens, and declares 24 frames.
  const std::string cut = (dir / "cut.mp4").string();
  fs::copy_file(whole, cut);
  fs::resize_file(cut, fs::file_size(whole) * 6 / 10);
  auto plan = PlanJob("job", cut, (dir / "chunks").string(), options);
  ASSERT_FALSE(plan.ok()) << "a cut file planned " << plan->frames.size() << " frames";
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(plan.status().message());
  EXPECT_NE(message.find(cut), std::string::npos) << message;
  EXPECT_NE(message.find("damaged"), std::string::npos) << message;
  EXPECT_NE(message.find(" s"), std::string::npos) << "says where: " << message;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace anifarm
