// PathPolicy on a real folder tree: `..` and symbolic links cannot escape
// the roots; files to be created inside them are allowed.
#include "coordinator/path_policy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace anifarm {
namespace {

namespace fs = std::filesystem;

TEST(PathPolicyTest, OnlyPathsInsideTheRootsPass) {
  const fs::path base = fs::temp_directory_path() / ("anifarm-roots-" + std::to_string(getpid()));
  fs::remove_all(base);
  fs::create_directories(base / "media" / "season1");
  fs::create_directories(base / "secret");
  std::ofstream(base / "media" / "season1" / "ep1.mkv") << "x";
  std::ofstream(base / "secret" / "key") << "x";
  fs::create_symlink(base / "secret", base / "media" / "link-out");

  auto policy = PathPolicy::WithRoots({(base / "media").string()});
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_TRUE(policy->restricted());
  EXPECT_TRUE(policy->Check((base / "media/season1/ep1.mkv").string()).ok());
  EXPECT_TRUE(policy->Check((base / "media/season1/ep1-2x.mp4").string()).ok());  // to be written
  EXPECT_TRUE(policy->Check((base / "media/season1/../season1/ep1.mkv").string()).ok());

  const absl::Status dotdot = policy->Check((base / "media/../secret/key").string());
  EXPECT_EQ(dotdot.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(dotdot.message().find("outside the coordinator's roots"), std::string::npos);
  EXPECT_EQ(policy->Check((base / "media/link-out/key").string()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(policy->Check((base / "media-evil/x.mp4").string()).code(),
            absl::StatusCode::kInvalidArgument);  // a sibling sharing the prefix
  EXPECT_EQ(policy->Check((base / "media").string()).code(),
            absl::StatusCode::kInvalidArgument);  // the root itself is not a file

  EXPECT_FALSE(PathPolicy::WithRoots({(base / "nope").string()}).ok());
  EXPECT_TRUE(PathPolicy().Check("/etc/passwd").ok());  // unrestricted by default
  fs::remove_all(base);
}

}  // namespace
}  // namespace anifarm
