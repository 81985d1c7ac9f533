// Remote clients and a coordinator's limits, on real processes: inputs
// uploaded over gRPC and outputs downloaded (the client's files are outside
// the coordinator's --roots), and every limit refused with its flag named,
// before any work, changing nothing.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/media/media_info.h"
#include "common/media/test_clip.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/subprocess.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;
using testing::FreeLoopbackPort;
using testing::Subprocess;

const std::string kBin = ANIFARM_BIN_DIR;
const std::string kModels = ANIFARM_TEST_MODEL_DIR;
constexpr char kBobToken[] = "bob-submitter-5d1e8a7c3f2b9046";
constexpr char kCarolToken[] = "carol-submitter-0b6d4e2a8c1f7935";

class TransferLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("transfer");
    fs::create_directories(dir_ / "client");  // the user's machine
    fs::create_directories(dir_ / "roots");   // what the coordinator may touch
    address_ = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
    std::ofstream(dir_ / "tokens") << "submitter bob " << kBobToken << "\n"
                                   << "submitter carol " << kCarolToken << "\n";
    std::ofstream(dir_ / "bob.token") << kBobToken << "\n";
    std::ofstream(dir_ / "carol.token") << kCarolToken << "\n";
    setenv("ANIFARM_CONFIG", (dir_ / "no-config.toml").c_str(), 1);
    unsetenv("ANIFARM_TOKEN");
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  std::string Log(const std::string& name) const { return (dir_ / name).string(); }

  std::unique_ptr<Subprocess> StartCoordinator(std::vector<std::string> extra) {
    std::vector<std::string> argv = {kBin + "/anifarm-coordinator", "--listen", address_,
                                     "--state-dir", (dir_ / "state").string(), "--models-dir",
                                     kModels, "--chunk-frames", "6", "--roots",
                                     (dir_ / "roots").string(), "--tokens",
                                     (dir_ / "tokens").string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<Subprocess>(argv, Log("coordinator"));
  }
  std::unique_ptr<Subprocess> StartNode() {
    std::ofstream(dir_ / "node.token") << "node-enrollment-token-1234\n";
    std::ofstream(dir_ / "tokens", std::ios::app) << "node gpu node-enrollment-token-1234\n";
    return std::make_unique<Subprocess>(
        std::vector<std::string>{kBin + "/anifarm-node", "--coordinator", address_,
                                 "--cache-dir", (dir_ / "cache").string(), "--device", "cpu",
                                 "--token-file", (dir_ / "node.token").string()},
        Log("node"));
  }
  testing::CommandResult Cli(std::vector<std::string> args, const std::string& user = "bob") {
    std::vector<std::string> argv = {kBin + "/anifarm"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--coordinator", address_});
    if (!user.empty()) argv.insert(argv.end(), {"--token-file", (dir_ / (user + ".token")).string()});
    return testing::RunToEnd(argv, Log("cli-" + std::to_string(++runs_)));
  }
  std::string MakeClip(const fs::path& path, int frames) {
    TestClipSpec spec;
    spec.width = 64;
    spec.height = 48;
    spec.gop = 6;
    spec.content.clear();
    for (int i = 0; i < frames; ++i) spec.content.push_back(i / 2);
    EXPECT_TRUE(WriteTestClip(path.string(), spec).ok());
    return path.string();
  }
  int JobCount() {
    testing::CommandResult jobs = Cli({"jobs", "--json"});
    EXPECT_EQ(jobs.code, 0) << jobs.err;
    int count = 0;
    for (size_t at = jobs.out.find("\"job_id\""); at != std::string::npos;
         at = jobs.out.find("\"job_id\"", at + 1)) {
      ++count;
    }
    return count;
  }
  static std::string Bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    return bytes.str();
  }

  fs::path dir_;
  std::string address_;
  int runs_ = 0;
};

TEST_F(TransferLimitsTest, UploadedInputIsUpscaledAndDownloaded) {
  const std::string clip = MakeClip(dir_ / "client" / "episode.mp4", 12);
  auto node = StartNode();
  auto coordinator = StartCoordinator({});
  const std::string output = (dir_ / "client" / "episode-2x.mp4").string();

  // The client's files are outside the roots: naming them is refused...
  testing::CommandResult named = Cli({"submit", clip, "-o", output});
  EXPECT_EQ(named.code, 3) << named.err;
  EXPECT_NE(named.err.find("outside the coordinator's roots"), std::string::npos) << named.err;
  // ...uploading them is how a remote client works.
  testing::CommandResult submitted = Cli({"submit", clip, "-o", output, "--upload", "--wait"});
  ASSERT_EQ(submitted.code, 0) << submitted.err << "\n" << coordinator->Stderr();
  EXPECT_NE(submitted.out.find(output), std::string::npos) << submitted.out;
  absl::StatusOr<MediaInfo> info = ProbeMedia(output);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->video.width, 128);
  EXPECT_EQ(info->video.height, 96);
  EXPECT_EQ(*CountVideoFrames(output), 12);
  EXPECT_EQ(info->audio_stream_count, 1);
  EXPECT_FALSE(fs::exists(output + ".partial"));

  // Downloading again gives the same bytes to the owner, nothing to others.
  const std::string job_id = submitted.out.substr(0, submitted.out.find('\n'));
  const std::string again = (dir_ / "client" / "again.mp4").string();
  testing::CommandResult download = Cli({"download", job_id, "-o", again});
  ASSERT_EQ(download.code, 0) << download.err;
  EXPECT_EQ(Bytes(again), Bytes(output));
  const std::string stolen = (dir_ / "client" / "stolen.mp4").string();
  testing::CommandResult other = Cli({"download", job_id, "-o", stolen}, "carol");
  EXPECT_EQ(other.code, 6) << other.err;
  EXPECT_FALSE(fs::exists(stolen));
  EXPECT_FALSE(fs::exists(stolen + ".partial"));
  // Without a token nothing is uploaded at all.
  testing::CommandResult anonymous = Cli({"submit", clip, "-o", output, "--upload"}, "");
  EXPECT_EQ(anonymous.code, 6) << anonymous.err;
  int uploads = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "state" / "uploads")) {
    (void)entry;
    ++uploads;
  }
  EXPECT_EQ(uploads, 1) << "only the accepted upload is kept";

  node->Terminate();
  coordinator->Terminate();
  EXPECT_EQ(coordinator->Wait(std::chrono::seconds(30)), 0);
}

TEST_F(TransferLimitsTest, LimitsAreRefusedBeforeAnyWork) {
  const std::string twelve = MakeClip(dir_ / "roots" / "twelve.mp4", 12);
  const std::string eight = MakeClip(dir_ / "roots" / "eight.mp4", 8);
  // No node: an accepted job stays unfinished, which the per-user limit counts.
  auto coordinator = StartCoordinator({"--max-frame-side", "100", "--max-frames-per-job", "10",
                                       "--max-jobs-per-user", "1", "--max-upload-size", "1K"});
  const std::string out = (dir_ / "roots").string();

  testing::CommandResult too_big = Cli({"submit", eight, "-o", out + "/big.mp4", "--scale", "2"});
  EXPECT_EQ(too_big.code, 3) << too_big.err;
  EXPECT_NE(too_big.err.find("output frame would be 128x96"), std::string::npos) << too_big.err;
  EXPECT_NE(too_big.err.find("--max-frame-side"), std::string::npos) << too_big.err;

  testing::CommandResult too_long = Cli({"submit", twelve, "-o", out + "/long.mp4", "--scale", "1"});
  EXPECT_EQ(too_long.code, 3) << too_long.err;
  EXPECT_NE(too_long.err.find("--max-frames-per-job"), std::string::npos) << too_long.err;

  testing::CommandResult upload = Cli({"submit", eight, "-o", out + "/up.mp4", "--scale", "1", "--upload"});
  EXPECT_EQ(upload.code, 3) << upload.err;
  EXPECT_NE(upload.err.find("--max-upload-size"), std::string::npos) << upload.err;
  EXPECT_TRUE(fs::is_empty(dir_ / "state" / "uploads"));

  EXPECT_EQ(JobCount(), 0);
  testing::CommandResult first = Cli({"submit", eight, "-o", out + "/first.mp4", "--scale", "1"});
  EXPECT_EQ(first.code, 0) << first.err;
  testing::CommandResult second = Cli({"submit", eight, "-o", out + "/second.mp4", "--scale", "1"});
  EXPECT_EQ(second.code, 3) << second.err;
  EXPECT_NE(second.err.find("--max-jobs-per-user"), std::string::npos) << second.err;
  testing::CommandResult carol = Cli({"submit", eight, "-o", out + "/carol.mp4", "--scale", "1"}, "carol");
  EXPECT_EQ(carol.code, 0) << carol.err << " (the limit is per user)";
  EXPECT_EQ(JobCount(), 1) << "bob sees only his one accepted job";

  testing::CommandResult bad_flag = Cli({"jobs"});  // still serving after all of that
  EXPECT_EQ(bad_flag.code, 0) << bad_flag.err;
  coordinator->Terminate();
  EXPECT_EQ(coordinator->Wait(std::chrono::seconds(30)), 0);

  Subprocess refused({kBin + "/anifarm-coordinator", "--state-dir", (dir_ / "s2").string(),
                      "--max-upload-size", "lots"},
                     Log("refused"));
  EXPECT_EQ(refused.Wait(std::chrono::seconds(30)), 2);
  EXPECT_NE(refused.Stderr().find("--max-upload-size 'lots'"), std::string::npos);
}

}  // namespace
}  // namespace anifarm
