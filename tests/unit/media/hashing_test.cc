#include "common/hashing.h"

#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/unit/media/media_test_util.h"

namespace anifarm {
namespace {

TEST(HashingTest, KnownDigests) {
  // FIPS 180-2 and RFC 1321 test vectors.
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Md5Hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(Md5Hex(""), "d41d8cd98f00b204e9800998ecf8427e");
}

TEST(HashingTest, FileHashMatchesDataHash) {
  const std::string path = testing_util::MakeScratchDir() + "/data.bin";
  std::string data;
  // Over one read buffer (1 MiB), so chunked reading is exercised.
  for (int i = 0; i < (3 << 19) + 17; ++i) data.push_back(static_cast<char>(i * 31 + 7));
  std::ofstream(path, std::ios::binary) << data;
  absl::StatusOr<std::string> sha = Sha256OfFile(path);
  ASSERT_TRUE(sha.ok()) << sha.status();
  EXPECT_EQ(*sha, Sha256Hex(data));
}

TEST(HashingTest, MissingFileIsNotFoundNamingIt) {
  const std::string path = testing_util::MakeScratchDir() + "/absent.pth";
  absl::StatusOr<std::string> sha = Sha256OfFile(path);
  ASSERT_FALSE(sha.ok());
  EXPECT_EQ(sha.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(sha.status().message().find(path), std::string::npos) << sha.status();
}

}  // namespace
}  // namespace anifarm
