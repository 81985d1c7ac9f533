#include "coordinator/access_control.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/hashing.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;

class AccessControlTest : public ::testing::Test {
 protected:
  absl::StatusOr<AccessControl> Load(const std::string& text) {
    path_ = (fs::temp_directory_path() / ("anifarm-tokens-" + std::to_string(getpid()))).string();
    std::ofstream(path_) << text;
    return AccessControl::FromTokenFile(path_);
  }
  void TearDown() override { fs::remove(path_); }
  std::string path_;
};

constexpr int64_t kNow = 1800000000;  // 2027-01-15

TEST_F(AccessControlTest, TokensMapToTheirNamesAndRoles) {
  absl::StatusOr<AccessControl> access = Load(
      "# comment\n"
      "\n"
      "admin  alice  alice-token-0123456789\n"
      "submitter bob sha256:" + Sha256Hex("bob-token-0123456789") + "  # hashed\n"
      "viewer wall wall-token-0123456789 2027-06-01T00:00:00Z\n"
      "node gpu-01 node-token-0123456789\n");
  ASSERT_TRUE(access.ok()) << access.status();
  EXPECT_TRUE(access->enabled());
  auto alice = access->Authenticate("alice-token-0123456789", std::nullopt, kNow);
  ASSERT_TRUE(alice.ok());
  EXPECT_EQ(alice->name, "alice");
  EXPECT_TRUE(alice->IsAdmin());
  EXPECT_FALSE(alice->IsNode());
  auto bob = access->Authenticate("bob-token-0123456789", std::nullopt, kNow);
  ASSERT_TRUE(bob.ok()) << bob.status();
  EXPECT_EQ(bob->role, Role::kSubmitter);
  EXPECT_TRUE(bob->CanSee("bob"));
  EXPECT_FALSE(bob->CanSee("alice"));
  EXPECT_FALSE(bob->CanChange("alice"));
  auto wall = access->Authenticate("wall-token-0123456789", std::nullopt, kNow);
  ASSERT_TRUE(wall.ok());
  EXPECT_TRUE(wall->CanSee("bob"));
  EXPECT_FALSE(wall->CanChange("bob"));
  EXPECT_FALSE(wall->CanSubmit());
  auto node = access->Authenticate("node-token-0123456789", std::nullopt, kNow);
  ASSERT_TRUE(node.ok());
  EXPECT_TRUE(node->IsNode());
  EXPECT_FALSE(node->CanView());
}

TEST_F(AccessControlTest, UnknownExpiredAndMissingCredentialsAreUnauthenticated) {
  absl::StatusOr<AccessControl> access =
      Load("viewer wall wall-token-0123456789 2027-01-01T00:00:00Z\n");
  ASSERT_TRUE(access.ok()) << access.status();
  EXPECT_EQ(access->Authenticate("nope-nope-nope-nope", std::nullopt, kNow).status().code(),
            absl::StatusCode::kUnauthenticated);
  absl::Status expired = access->Authenticate("wall-token-0123456789", std::nullopt, kNow).status();
  EXPECT_EQ(expired.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(expired.message().find("expired at 2027-01-01T00:00:00"), std::string::npos)
      << expired;
  EXPECT_TRUE(access->Authenticate("wall-token-0123456789", std::nullopt, kNow - 86400 * 30).ok());
  EXPECT_EQ(access->Authenticate(std::nullopt, std::nullopt, kNow).status().code(),
            absl::StatusCode::kUnauthenticated);
  // A verified client certificate is a node named by its common name.
  auto node = access->Authenticate(std::nullopt, "gpu-07", kNow);
  ASSERT_TRUE(node.ok());
  EXPECT_EQ(node->name, "gpu-07");
  EXPECT_EQ(node->role, Role::kNode);
}

TEST_F(AccessControlTest, BadLinesNameTheFileAndLine) {
  struct Case {
    std::string text;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {"root alice alice-token-0123456789\n", ":1: unknown role 'root'"},
           {"admin alice\n", ":1: expected"},
           {"\nadmin alice short\n", ":2: token of alice is shorter than 16"},
           {"admin alice sha256:abc\n", "64 hex digits"},
           {"admin alice alice-token-0123456789 tomorrow\n", "expiry 'tomorrow'"},
           {"admin a alice-token-0123456789\nviewer b alice-token-0123456789\n",
            ":2: this token is listed twice"}}) {
    absl::StatusOr<AccessControl> access = Load(c.text);
    ASSERT_FALSE(access.ok()) << c.text;
    EXPECT_EQ(access.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(access.status().message().find(path_), std::string::npos) << access.status();
    EXPECT_NE(access.status().message().find(c.expected), std::string::npos) << access.status();
  }
  EXPECT_FALSE(AccessControl::FromTokenFile("/nonexistent/tokens").ok());
}

TEST_F(AccessControlTest, WithoutATokenFileEveryoneIsUnrestricted) {
  AccessControl open;
  EXPECT_FALSE(open.enabled());
  auto anyone = open.Authenticate(std::nullopt, std::nullopt, kNow);
  ASSERT_TRUE(anyone.ok());
  EXPECT_TRUE(anyone->unrestricted);
  EXPECT_TRUE(anyone->IsAdmin());
  EXPECT_TRUE(anyone->IsNode());
}

TEST(BearerTokenTest, ParsesTheAuthorizationHeader) {
  EXPECT_EQ(BearerToken("Bearer abc"), std::optional<std::string_view>("abc"));
  EXPECT_EQ(BearerToken("bearer   abc  "), std::optional<std::string_view>("abc"));
  EXPECT_EQ(BearerToken("Basic abc"), std::nullopt);
  EXPECT_EQ(BearerToken("Bearer "), std::nullopt);
}

}  // namespace
}  // namespace anifarm
