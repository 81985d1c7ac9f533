// The Coordinator's side of stall_check.h, on a real state folder, clip and
// (fake) model, with a one-second lease timeout so the runner thread's
// check is seen within seconds: submit fails at once a job no live node
// could take, a job no live node may take any more fails with its line,
// and the same job submitted again afterwards is leased normally.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "coordinator/coordinator.h"
#include "tests/corpus/lossy_clip.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;

class CoordinatorStallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("anifarm-cstall-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "models");
    std::ofstream(dir_ / "models" / "2x-test.pth") << "not really weights";
    input_ = (dir_ / "in.mp4").string();
    LossyClipSpec clip;
    clip.frames = 24;
    ASSERT_TRUE(WriteLossyClip(input_, clip).ok());
    options_.state_dir = (dir_ / "state").string();
    options_.models_dir = (dir_ / "models").string();
    options_.lease_seconds = 1;
    options_.stall_grace_seconds = 2;
    Restart();
  }
  // A new coordinator process on the same state folder.
  void Restart() {
    coordinator_.reset();
    auto coordinator = Coordinator::Start(options_);
    ASSERT_TRUE(coordinator.ok()) << coordinator.status();
    coordinator_ = std::move(*coordinator);
  }
  void TearDown() override {
    coordinator_.reset();
    fs::remove_all(dir_);
  }
  std::string Register(std::vector<std::string> formats) {
    v1::RegisterNodeRequest request;
    request.set_hostname("test");
    for (const std::string& f : formats) request.add_model_formats(f);
    auto response = coordinator_->RegisterNode(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->node_id() : "";
  }
  absl::StatusOr<std::string> Submit() {
    v1::SubmitJobRequest request;
    request.set_input_path(input_);
    request.set_output_path((dir_ / "out.mkv").string());
    request.mutable_settings()->set_model("2x-test");
    return coordinator_->SubmitJob(request);
  }
  // Polls (every node calling LeaseChunk, as idle nodes do: that keeps them
  // alive) until `done` holds for the job or 10 s pass.
  v1::JobStatus PollUntil(const std::string& job_id, const std::vector<std::string>& nodes,
                          const std::function<bool(const v1::JobStatus&)>& done,
                          std::vector<v1::ChunkLease>* leases = nullptr) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    v1::JobStatus job;
    while (std::chrono::steady_clock::now() < until) {
      for (const std::string& node : nodes) {
        v1::LeaseChunkRequest request;
        request.set_node_id(node);
        auto lease = coordinator_->LeaseChunk(request);
        EXPECT_TRUE(lease.ok()) << lease.status();
        if (lease.ok() && lease->has_chunk() && leases) leases->push_back(lease->lease());
      }
      auto status = coordinator_->GetJob(job_id);
      EXPECT_TRUE(status.ok()) << status.status();
      if (!status.ok()) break;
      job = *status;
      if (done(job)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return job;
  }
  void Fail(const std::string& node, const v1::ChunkLease& lease) {
    v1::FailChunkRequest request;
    request.set_node_id(node);
    request.set_job_id(lease.job_id());
    request.set_chunk_index(lease.chunk_index());
    request.set_attempt(lease.attempt());
    request.set_error("engine exploded");
    ASSERT_TRUE(coordinator_->FailChunk(request).ok());
  }

  fs::path dir_;
  CoordinatorOptions options_;
  std::string input_;
  std::unique_ptr<Coordinator> coordinator_;
};

TEST_F(CoordinatorStallTest, SubmitFailsAtOnceAJobNoLiveNodeCouldTake) {
  const std::string ncnn_only = Register({"ncnn"});
  auto id = Submit();
  ASSERT_TRUE(id.ok()) << id.status();
  auto job = coordinator_->GetJob(*id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), v1::JOB_FAILED);
  EXPECT_EQ(job->error(),
            "no live node can take this job: " + ncnn_only + " lacks model format pytorch");
}

TEST_F(CoordinatorStallTest, WithNoLiveNodeTheRunningJobSaysItWaits) {
  auto id = Submit();
  ASSERT_TRUE(id.ok()) << id.status();
  const v1::JobStatus job = PollUntil(*id, {}, [](const v1::JobStatus& j) {
    return j.state() == v1::JOB_RUNNING && !j.error().empty();
  });
  EXPECT_EQ(job.state(), v1::JOB_RUNNING);
  EXPECT_EQ(job.error(), "waiting: no live node");
}

TEST_F(CoordinatorStallTest, JobNoLiveNodeMayTakeFailsAndTheSameJobAgainIsLeased) {
  const std::string torch = Register({"pytorch"});
  const std::string ncnn_only = Register({"ncnn"});
  auto id = Submit();
  ASSERT_TRUE(id.ok()) << id.status();
  // The pytorch node fails three attempts: blocklisted. The ncnn node is
  // alive and not blocklisted, so FailChunk does not fail the job; it just
  // can never run it.
  for (int i = 0; i < 3; ++i) {
    std::vector<v1::ChunkLease> leases;
    PollUntil(*id, {torch, ncnn_only}, [&](const v1::JobStatus&) { return !leases.empty(); },
              &leases);
    ASSERT_EQ(leases.size(), 1u) << "attempt " << i;
    Fail(torch, leases[0]);
  }
  v1::JobStatus job = PollUntil(*id, {torch, ncnn_only}, [](const v1::JobStatus& j) {
    return j.state() != v1::JOB_RUNNING;
  });
  EXPECT_EQ(job.state(), v1::JOB_FAILED);
  const std::string blocked = torch + " blocklisted for this job (3 failures)";
  const std::string lacking = ncnn_only + " lacks model format pytorch";
  EXPECT_EQ(job.error(), "chunk 0: no live node can take it: " +
                             (torch < ncnn_only ? blocked + ", " + lacking
                                                : lacking + ", " + blocked));

  // `anifarm run` again on the same state folder: a new job, no blocklist.
  auto again = Submit();
  ASSERT_TRUE(again.ok()) << again.status();
  std::vector<v1::ChunkLease> leases;
  job = PollUntil(*again, {torch}, [&](const v1::JobStatus&) { return !leases.empty(); },
                  &leases);
  ASSERT_EQ(leases.size(), 1u) << "the new job was not leased: " << job.error();
  EXPECT_EQ(leases[0].job_id(), *again);
  EXPECT_EQ(job.state(), v1::JOB_RUNNING);
}

// `anifarm run` again right after a failed run: the previous run's node was
// seen a moment ago but is gone with its process. It must not count as a
// live node that might take the job, or a job whose new node is blocklisted
// would wait instead of failing at once.
TEST_F(CoordinatorStallTest, RerunDoesNotCountThePreviousRunsNodeAsAlive) {
  options_.in_process_nodes_only = true;  // as EmbeddedFarm sets it
  options_.lease_seconds = 30;  // the old node is well within a lease timeout
  Restart();
  Register({"pytorch"});  // the first run's node
  Restart();
  const std::string node = Register({"pytorch"});
  auto id = Submit();
  ASSERT_TRUE(id.ok()) << id.status();
  for (int i = 0; i < 3; ++i) {
    std::vector<v1::ChunkLease> leases;
    PollUntil(*id, {node}, [&](const v1::JobStatus&) { return !leases.empty(); }, &leases);
    ASSERT_EQ(leases.size(), 1u) << "attempt " << i;
    Fail(node, leases[0]);
  }
  auto job = coordinator_->GetJob(*id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), v1::JOB_FAILED) << "waits for the previous run's node";
  EXPECT_NE(job->error().find("every live node is blocklisted"), std::string::npos)
      << job->error();
}

}  // namespace
}  // namespace anifarm
