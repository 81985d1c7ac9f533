// Failures on a real farm: a node killed mid-chunk, a coordinator killed
// and restarted mid-job, a job cancelled while it runs. Each run ends with
// a check of the output and of the job's own counters.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "common/media/media_info.h"
#include "common/media/test_clip.h"
#include "protos/anifarm.pb.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/subprocess.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;
using testing::FreeLoopbackPort;
using testing::Subprocess;

const std::string kBin = ANIFARM_BIN_DIR;
const std::string kModels = ANIFARM_TEST_MODEL_DIR;
constexpr int kFrames = 48;

class FailureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("fail");
    ASSERT_TRUE(fs::exists(kModels + "/2x-AniScale.pth")) << "models missing in " << kModels;
    TestClipSpec spec;
    spec.width = 128;
    spec.height = 96;
    spec.gop = 12;
    spec.content = DefaultTestPattern(kFrames);
    distinct_ = std::set<int>(spec.content.begin(), spec.content.end()).size();
    input_ = (dir_ / "input.mp4").string();
    ASSERT_TRUE(WriteTestClip(input_, spec).ok());
    output_ = (dir_ / "output.mp4").string();
    address_ = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  std::unique_ptr<Subprocess> StartCoordinator(const std::string& name) {
    return std::make_unique<Subprocess>(
        std::vector<std::string>{kBin + "/anifarm-coordinator", "--listen", address_,
                                 "--state-dir", (dir_ / "state").string(), "--models-dir",
                                 kModels, "--chunk-frames", "12", "--lease-timeout", "4"},
        Log(name));
  }
  std::unique_ptr<Subprocess> StartNode(const std::string& name) {
    return std::make_unique<Subprocess>(
        std::vector<std::string>{kBin + "/anifarm-node", "--coordinator", address_,
                                 "--cache-dir", (dir_ / ("cache-" + name)).string()},
        Log(name));
  }
  std::string Submit() {
    Subprocess submit({kBin + "/anifarm", "submit", input_, "-o", output_, "--coordinator",
                       address_},
                      Log("submit"));
    EXPECT_EQ(submit.Wait(), 0) << submit.Stderr();
    return submit.Stdout().substr(0, submit.Stdout().find('\n'));
  }
  v1::JobStatus Status(const std::string& job_id) {
    Subprocess status({kBin + "/anifarm", "status", job_id, "--json", "--coordinator", address_},
                      Log("status"));
    v1::JobStatus job;
    if (status.Wait() == 0) {
      (void)google::protobuf::util::JsonStringToMessage(status.Stdout(), &job);
    }
    return job;
  }
  // Polls until `ready` holds for the job (or 120 s pass).
  template <typename Ready>
  bool WaitFor(const std::string& job_id, Ready ready) {
    if (job_id.empty()) return false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
      if (ready(Status(job_id))) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  int WaitForJob(const std::string& job_id) {
    Subprocess watch({kBin + "/anifarm", "status", job_id, "--watch", "--coordinator", address_},
                     Log("watch"));
    return watch.Wait(std::chrono::seconds(600));
  }
  void ExpectCompleteOutput(const std::string& job_id) {
    v1::JobStatus job = Status(job_id);
    EXPECT_EQ(job.state(), v1::JOB_DONE) << job.error();
    EXPECT_EQ(job.frames_upscaled(), static_cast<int64_t>(distinct_));
    EXPECT_EQ(job.frames_reused(), kFrames - static_cast<int64_t>(distinct_));
    auto media = ProbeMedia(output_);
    ASSERT_TRUE(media.ok()) << media.status();
    EXPECT_EQ(media->video.width, 256);
    EXPECT_EQ(*CountVideoFrames(output_), kFrames);
    EXPECT_EQ(media->audio_stream_count, 1);
  }
  std::string Log(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
  std::string input_, output_, address_;
  size_t distinct_ = 0;
};

TEST_F(FailureTest, NodeKilledMidChunkIsRedoneElsewhere) {
  auto coordinator = StartCoordinator("coordinator");
  auto doomed = StartNode("doomed");
  const std::string job_id = Submit();
  ASSERT_TRUE(WaitFor(job_id, [](const v1::JobStatus& j) { return j.chunks_running() > 0; }));
  doomed.reset();  // SIGKILL: no goodbye, the lease must expire
  auto survivor = StartNode("survivor");
  ASSERT_EQ(WaitForJob(job_id), 0) << coordinator->Stderr() << survivor->Stderr();
  ExpectCompleteOutput(job_id);
}

TEST_F(FailureTest, CoordinatorKilledAndRestartedResumesTheJob) {
  auto coordinator = StartCoordinator("coordinator-1");
  auto node = StartNode("node");
  const std::string job_id = Submit();
  ASSERT_TRUE(WaitFor(job_id, [](const v1::JobStatus& j) { return j.chunks_done() > 0; }));
  coordinator.reset();  // SIGKILL
  coordinator = StartCoordinator("coordinator-2");
  ASSERT_EQ(WaitForJob(job_id), 0) << coordinator->Stderr() << node->Stderr();
  ExpectCompleteOutput(job_id);
}

TEST_F(FailureTest, CancelStopsTheJobAndWaitReportsIt) {
  // No node until the job is cancelled: on a tiny clip a node would finish
  // before the cancel lands. The node started afterwards must get nothing.
  auto coordinator = StartCoordinator("coordinator");
  const std::string job_id = Submit();
  ASSERT_TRUE(WaitFor(job_id, [](const v1::JobStatus& j) { return j.state() == v1::JOB_RUNNING; }));
  Subprocess cancel({kBin + "/anifarm", "cancel", job_id, "--coordinator", address_},
                    Log("cancel"));
  ASSERT_EQ(cancel.Wait(), 0) << cancel.Stderr();
  auto node = StartNode("node");
  EXPECT_EQ(WaitForJob(job_id), 4);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const v1::JobStatus job = Status(job_id);
  EXPECT_EQ(job.state(), v1::JOB_CANCELLED);
  EXPECT_EQ(job.frames_upscaled(), 0);
  EXPECT_EQ(job.chunks_running(), 0);
  EXPECT_FALSE(fs::exists(output_));
}

}  // namespace
}  // namespace anifarm
