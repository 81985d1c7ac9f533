// StallCheck against a real SQLite file, with time passed in: a job that no
// live node may take fails after the grace period with a line saying why,
// a job with no live node waits and says so, and a new job after a failure
// starts clean.
#include "coordinator/stall_check.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace anifarm {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kLive = 60;
constexpr int64_t kGrace = 120;

class StallCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (fs::temp_directory_path() / ("anifarm-stall-" + std::to_string(getpid()) + ".db"))
                .string();
    fs::remove(path_);
    auto store = JobStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    policy_.live_seconds = kLive;
    policy_.grace_seconds = kGrace;
    policy_.chunk_failure_nodes = 3;
  }
  void TearDown() override {
    store_.reset();
    fs::remove(path_);
  }

  // A RUNNING job of two chunks of two frames; with `encoded_by_nodes`,
  // frame 3 (chunk 1) shows frame 0's picture, so chunk 1 waits for chunk 0.
  void AddJob(const std::string& id, bool encoded_by_nodes = false) {
    JobRecord job;
    job.id = id;
    job.input_path = "/in.mp4";
    job.output_path = "/out.mp4";
    job.model_path = "/models/2x.pth";
    job.model_sha256 = "abc";
    job.model_format = "pytorch";
    job.created_at = 100;
    ASSERT_TRUE(store_->CreateJob(job).ok());
    std::vector<ChunkRecord> chunks(2);
    std::vector<FrameRecord> frames;
    for (int c = 0; c < 2; ++c) {
      chunks[c].index = c;
      chunks[c].first_frame = 2 * c;
      chunks[c].frame_count = 2;
      chunks[c].unique_count = c == 0 ? 2 : 1;
    }
    for (int i = 0; i < 4; ++i) {
      FrameRecord frame;
      frame.index = i;
      frame.pts = i;
      frame.md5 = "m" + std::to_string(i == 3 ? 0 : i);
      frame.source_index = i == 3 ? 0 : i;
      frame.chunk_index = i / 2;
      frames.push_back(frame);
    }
    ASSERT_TRUE(store_->SavePlan(id, chunks, frames, encoded_by_nodes).ok());
  }
  void AddNode(const std::string& id, int64_t last_seen,
               std::vector<std::string> architectures = {}) {
    v1::NodeInfo node;
    node.set_node_id(id);
    node.set_last_seen(last_seen);
    for (const std::string& a : architectures) node.add_architectures(a);
    ASSERT_TRUE(store_->UpsertNode(node).ok());
  }
  // `node` leases a chunk of `job` and fails it.
  void LeaseAndFail(const std::string& job, const std::string& node, int64_t now) {
    auto lease = store_->LeaseNextChunk(node, now, now + kLive);
    ASSERT_TRUE(lease.ok() && lease->has_value()) << node << " got nothing to fail";
    ASSERT_EQ((*lease)->job_id, job);
    ASSERT_TRUE(store_
                    ->RecordChunkFailure(job, (*lease)->index, (*lease)->attempt, node, "boom",
                                         now, now - kLive, 3)
                    .ok());
  }
  JobRecord Job(const std::string& id) {
    auto job = store_->GetJob(id);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? *job : JobRecord();
  }

  std::string path_;
  std::unique_ptr<JobStore> store_;
  StallPolicy policy_;
};

TEST_F(StallCheckTest, JobWhoseOnlyLiveNodesCannotTakeItFailsAfterTheGraceNamingThem) {
  AddJob("job-1");
  AddNode("node-a", 1000);                 // advertises nothing: runs anything
  AddNode("node-b", 1000, {"RRDBNet"});    // but not DAT
  // node-a runs chunk 0 and learns the model is DAT: node-b may not take
  // the rest. Then node-a fails chunk 1 three times: blocklisted.
  auto first = store_->LeaseNextChunk("node-a", 1000, 1000 + kLive);
  ASSERT_TRUE(first.ok() && first->has_value());
  ASSERT_EQ((*first)->index, 0);
  bool all_done = false;
  ASSERT_TRUE(store_->CompleteChunk("job-1", 0, 1, "node-a", 2, &all_done, 10, "DAT").ok());
  for (int i = 0; i < 3; ++i) LeaseAndFail("job-1", "node-a", 1000);
  auto none = store_->LeaseNextChunk("node-b", 1000, 1000 + kLive);
  ASSERT_TRUE(none.ok());
  ASSERT_FALSE(none->has_value()) << "node-b should not run a DAT model";

  StallCheck check(policy_);
  const std::string why =
      "chunk 1: no live node can take it: node-a blocklisted for this job (3 failures), "
      "node-b lacks architecture DAT";
  ASSERT_TRUE(check.Run(store_.get(), 1000).ok());
  EXPECT_EQ(Job("job-1").state, v1::JOB_RUNNING) << "failed before the grace period";
  EXPECT_EQ(Job("job-1").error, std::string(kWaitingPrefix) + why);
  // Both nodes stay alive (they poll for work) through the grace period.
  ASSERT_TRUE(store_->TouchNode("node-a", 1000 + kGrace - 1).ok());
  ASSERT_TRUE(store_->TouchNode("node-b", 1000 + kGrace - 1).ok());
  ASSERT_TRUE(check.Run(store_.get(), 1000 + kGrace - 1).ok());
  EXPECT_EQ(Job("job-1").state, v1::JOB_RUNNING);
  ASSERT_TRUE(check.Run(store_.get(), 1000 + kGrace).ok());
  EXPECT_EQ(Job("job-1").state, v1::JOB_FAILED);
  EXPECT_EQ(Job("job-1").error, why);
}

TEST_F(StallCheckTest, StuckTimeIsCountedOnlyWhileStuck) {
  AddJob("job-1");
  AddNode("node-a", 1000);
  for (int i = 0; i < 3; ++i) LeaseAndFail("job-1", "node-a", 1000);
  StallCheck check(policy_);
  ASSERT_TRUE(check.Run(store_.get(), 1000).ok());
  // A fresh node shows up: the job moves again and its waiting line goes.
  AddNode("node-b", 1050);
  ASSERT_TRUE(check.Run(store_.get(), 1050).ok());
  EXPECT_EQ(Job("job-1").error, "");
  // node-b leaves (not seen for over a lease timeout) while node-a polls on:
  // stuck again from t=1200, so still running at 1200 + grace - 1.
  ASSERT_TRUE(store_->TouchNode("node-a", 1200).ok());
  ASSERT_TRUE(check.Run(store_.get(), 1200).ok());
  ASSERT_TRUE(store_->TouchNode("node-a", 1200 + kGrace - 1).ok());
  ASSERT_TRUE(check.Run(store_.get(), 1200 + kGrace - 1).ok());
  EXPECT_EQ(Job("job-1").state, v1::JOB_RUNNING)
      << "the time the job moved counted towards its grace";
}

TEST_F(StallCheckTest, ChunkShowingPicturesOfAFailedChunkFailsTheJobNamingBoth) {
  AddJob("job-1", /*encoded_by_nodes=*/true);
  // Chunk 0 fails once on each of three nodes (none blocklisted); a fourth
  // node could lease chunk 0 again, but chunk 1 shows its picture and a
  // chunk failed on three nodes is never done.
  for (const char* node : {"node-a", "node-b", "node-c"}) {
    AddNode(node, 1000);
    LeaseAndFail("job-1", node, 1000);
  }
  AddNode("node-d", 1000);
  StallCheck check(policy_);
  ASSERT_TRUE(check.Run(store_.get(), 1000).ok());
  EXPECT_EQ(Job("job-1").state, v1::JOB_RUNNING);
  for (const char* node : {"node-a", "node-b", "node-c", "node-d"}) {
    ASSERT_TRUE(store_->TouchNode(node, 1000 + kGrace).ok());
  }
  ASSERT_TRUE(check.Run(store_.get(), 1000 + kGrace).ok());
  const JobRecord job = Job("job-1");
  EXPECT_EQ(job.state, v1::JOB_FAILED);
  EXPECT_EQ(job.error,
            "chunk 0 failed on 3 nodes (node-a: boom; node-b: boom; node-c: boom); "
            "chunk 1 waits for it");
}

TEST_F(StallCheckTest, ChunkWaitingForALeasedChunkIsNotStuck) {
  AddJob("job-1", /*encoded_by_nodes=*/true);
  AddNode("node-a", 1000);
  auto lease = store_->LeaseNextChunk("node-a", 1000, 1000 + kLive);
  ASSERT_TRUE(lease.ok() && lease->has_value());
  StallCheck check(policy_);
  ASSERT_TRUE(check.Run(store_.get(), 1000).ok());
  ASSERT_TRUE(store_->TouchNode("node-a", 1000 + 2 * kGrace).ok());
  ASSERT_TRUE(check.Run(store_.get(), 1000 + 2 * kGrace).ok());
  EXPECT_EQ(Job("job-1").state, v1::JOB_RUNNING);
  EXPECT_EQ(Job("job-1").error, "");
}

TEST_F(StallCheckTest, WithNoLiveNodeTheJobWaitsAndSaysSo) {
  AddJob("job-1");
  AddNode("node-a", 500);  // seen long ago: not alive at 1000
  StallCheck check(policy_);
  for (int64_t now : {int64_t{1000}, 1000 + kGrace, 1000 + 10 * kGrace}) {
    ASSERT_TRUE(check.Run(store_.get(), now).ok());
    EXPECT_EQ(Job("job-1").state, v1::JOB_RUNNING) << "failed with no live node at " << now;
    EXPECT_EQ(Job("job-1").error, "waiting: no live node");
  }
  // The node comes back: the line goes.
  ASSERT_TRUE(store_->TouchNode("node-a", 5000).ok());
  ASSERT_TRUE(check.Run(store_.get(), 5000).ok());
  EXPECT_EQ(Job("job-1").error, "");
}

TEST_F(StallCheckTest, NewJobForTheSameInputAfterAFailureIsLeasedNormally) {
  AddJob("job-1");
  AddNode("node-a", 1000);
  for (int i = 0; i < 3; ++i) LeaseAndFail("job-1", "node-a", 1000);
  StallCheck check(policy_);
  ASSERT_TRUE(check.Run(store_.get(), 1000).ok());
  ASSERT_TRUE(store_->TouchNode("node-a", 1000 + kGrace).ok());
  ASSERT_TRUE(check.Run(store_.get(), 1000 + kGrace).ok());
  ASSERT_EQ(Job("job-1").state, v1::JOB_FAILED);

  // `anifarm run` again: the same input and output, a new job id.
  AddJob("job-2");
  auto fits = store_->NodeFits(Job("job-2"), 1000 + kGrace - kLive);
  ASSERT_TRUE(fits.ok());
  ASSERT_EQ(fits->size(), 1u);
  EXPECT_FALSE((*fits)[0].blocklisted) << "job-2 inherited job-1's blocklist";
  EXPECT_EQ((*fits)[0].failures_in_job, 0);
  auto lease = store_->LeaseNextChunk("node-a", 1000 + kGrace, 1000 + kGrace + kLive);
  ASSERT_TRUE(lease.ok() && lease->has_value());
  EXPECT_EQ((*lease)->job_id, "job-2");
  ASSERT_TRUE(check.Run(store_.get(), 1000 + kGrace).ok());
  ASSERT_TRUE(store_->TouchNode("node-a", 1000 + 3 * kGrace).ok());
  ASSERT_TRUE(check.Run(store_.get(), 1000 + 3 * kGrace).ok());
  EXPECT_EQ(Job("job-2").state, v1::JOB_RUNNING);
  EXPECT_EQ(Job("job-2").error, "");
}

// SubmitJob's check: a job not stored yet, against the live nodes.
TEST_F(StallCheckTest, AtSubmitAJobNoLiveNodeCouldEverTakeIsNamedWithEachNodesLack) {
  v1::NodeInfo node;
  node.set_node_id("cpu");
  node.set_last_seen(1000);
  node.set_memory_bytes(1LL << 30);
  node.add_model_formats("pytorch");
  ASSERT_TRUE(store_->UpsertNode(node).ok());
  node.set_node_id("small");
  node.set_memory_bytes(512LL << 20);
  node.add_model_formats("ncnn");
  ASSERT_TRUE(store_->UpsertNode(node).ok());
  JobRecord job;
  job.id = "job-new";
  job.model_format = "ncnn";
  job.memory_bytes = 768LL << 20;
  auto fits = store_->NodeFits(job, 1000 - kLive);
  ASSERT_TRUE(fits.ok());
  EXPECT_EQ(NoLiveNodeFits(*fits, job),
            "cpu lacks model format ncnn, small lacks memory (has 512 MiB, the model needs "
            "768 MiB)");
  job.memory_bytes = 256LL << 20;
  fits = store_->NodeFits(job, 1000 - kLive);
  ASSERT_TRUE(fits.ok());
  EXPECT_EQ(NoLiveNodeFits(*fits, job), "") << "node small can take it";
  // No live node: nothing to say at submit (nodes may be starting).
  fits = store_->NodeFits(job, 2000);
  ASSERT_TRUE(fits.ok());
  EXPECT_TRUE(fits->empty());
  EXPECT_EQ(NoLiveNodeFits(*fits, job), "");
}

}  // namespace
}  // namespace anifarm
