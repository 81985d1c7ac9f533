// JobStore against a real SQLite file: the state machine of chunks and the
// promise that a reopened database (a restarted coordinator) loses nothing.
#include "coordinator/job_store.h"

#include <gtest/gtest.h>

#include <map>

#include <filesystem>

namespace anifarm {
namespace {

namespace fs = std::filesystem;

class JobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (fs::temp_directory_path() / ("anifarm-store-" + std::to_string(getpid()) + ".db"))
                .string();
    fs::remove(path_);
    auto store = JobStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    ASSERT_TRUE(store_->CreateJob(TestJob("job-1", "/out.mp4")).ok());
    std::vector<ChunkRecord> chunks(3);
    std::vector<FrameRecord> frames;
    for (int c = 0; c < 3; ++c) {
      chunks[c].index = c;
      chunks[c].first_frame = c * 2;
      chunks[c].frame_count = 2;
      // Chunk 2 only holds duplicates of chunk 0: nothing to upscale.
      chunks[c].unique_count = c == 2 ? 0 : 2;
    }
    for (int i = 0; i < 6; ++i) {
      FrameRecord frame;
      frame.index = i;
      frame.pts = i * 10;
      frame.md5 = "m" + std::to_string(i % 4);
      frame.source_index = i % 4;
      frame.chunk_index = i / 2;
      frames.push_back(frame);
    }
    ASSERT_TRUE(store_->SavePlan("job-1", chunks, frames).ok());
    v1::NodeInfo node;
    node.set_node_id("node-a");
    ASSERT_TRUE(store_->UpsertNode(node).ok());
    node.set_node_id("node-b");
    ASSERT_TRUE(store_->UpsertNode(node).ok());
  }
  // A job on the 2x-AniScale model, submitted at t=100.
  static JobRecord TestJob(const std::string& id, const std::string& output_path) {
    JobRecord job;
    job.id = id;
    job.input_path = "/in.mp4";
    job.output_path = output_path;
    job.settings.set_model("2x-AniScale");
    job.model_path = "/models/2x-AniScale.pth";
    job.model_sha256 = "abc";
    job.model_format = "pytorch";
    job.created_at = 100;
    return job;
  }
  void TearDown() override {
    store_.reset();
    fs::remove(path_);
  }
  std::string path_;
  std::unique_ptr<JobStore> store_;
};

TEST_F(JobStoreTest, PlanIsStoredWithCountersAndDuplicateOnlyChunksDone) {
  auto job = store_->GetJob("job-1");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state, v1::JOB_RUNNING);
  EXPECT_EQ(job->total_frames, 6);
  EXPECT_EQ(job->unique_frames, 4);
  EXPECT_EQ(job->chunks_total, 3);
  EXPECT_EQ(job->chunks_done, 1);
  auto frames = store_->Frames("job-1");
  ASSERT_TRUE(frames.ok());
  ASSERT_EQ(frames->size(), 6u);
  EXPECT_EQ((*frames)[5].source_index, 1);
}

TEST_F(JobStoreTest, LeasesGoOnceCompleteOnlyByHolderAndFinishTheJob) {
  auto first = store_->LeaseNextChunk("node-a", 1000, 2000);
  auto second = store_->LeaseNextChunk("node-b", 1000, 2000);
  auto none = store_->LeaseNextChunk("node-b", 1000, 2000);
  ASSERT_TRUE(first.ok() && second.ok() && none.ok());
  ASSERT_TRUE(first->has_value() && second->has_value());
  EXPECT_FALSE(none->has_value());
  EXPECT_NE((*first)->index, (*second)->index);

  bool all_done = false;
  // Someone else's lease, or a stale attempt, is refused and changes nothing.
  EXPECT_FALSE(store_->CompleteChunk("job-1", (*first)->index, 1, "node-b", 2, &all_done).ok());
  EXPECT_FALSE(store_->CompleteChunk("job-1", (*first)->index, 7, "node-a", 2, &all_done).ok());
  ASSERT_TRUE(store_->CompleteChunk("job-1", (*first)->index, 1, "node-a", 2, &all_done).ok());
  EXPECT_FALSE(all_done);
  ASSERT_TRUE(store_->CompleteChunk("job-1", (*second)->index, 1, "node-b", 2, &all_done).ok());
  EXPECT_TRUE(all_done);
  EXPECT_EQ(store_->GetJob("job-1")->frames_upscaled, 4);
  auto nodes = store_->ListNodes();
  ASSERT_TRUE(nodes.ok());
  EXPECT_EQ((*nodes)[0].frames_upscaled() + (*nodes)[1].frames_upscaled(), 4);
}

TEST_F(JobStoreTest, ExpiredAndReleasedLeasesReturnToTheQueue) {
  auto lease = store_->LeaseNextChunk("node-a", 1000, 1010);
  ASSERT_TRUE(lease.ok() && lease->has_value());
  EXPECT_EQ(*store_->RequeueExpiredLeases(1005), 0);
  EXPECT_EQ(*store_->RequeueExpiredLeases(1011), 1);
  auto again = store_->LeaseNextChunk("node-b", 1011, 2000);
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ((*again)->index, (*lease)->index);
  EXPECT_EQ((*again)->attempt, 2);
  // A failed attempt also puts the chunk back; the next lease is attempt 3.
  auto released =
      store_->RecordChunkFailure("job-1", (*again)->index, 2, "node-b", "gpu fell off", 2000, 0, 3);
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_EQ(released->node_failures_in_job, 1);
  auto third = store_->LeaseNextChunk("node-a", 2001, 3000);
  ASSERT_TRUE(third.ok() && third->has_value());
  EXPECT_EQ((*third)->index, (*lease)->index);
  EXPECT_EQ((*third)->attempt, 3);
}

TEST_F(JobStoreTest, ReopenedDatabaseKeepsEverything) {
  auto lease = store_->LeaseNextChunk("node-a", 1000, 2000);
  bool all_done = false;
  ASSERT_TRUE(store_->CompleteChunk("job-1", (*lease)->index, 1, "node-a", 2, &all_done).ok());
  store_.reset();
  auto reopened = JobStore::Open(path_);
  ASSERT_TRUE(reopened.ok());
  auto job = (*reopened)->GetJob("job-1");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->chunks_done, 2);
  EXPECT_EQ(job->frames_upscaled, 2);
  EXPECT_EQ(job->settings.model(), "2x-AniScale");
  EXPECT_EQ((*reopened)->Frames("job-1")->size(), 6u);
  store_ = std::move(*reopened);
}

// `anifarm run` finds its job again by the resume key (job_identity.h).
TEST_F(JobStoreTest, ResumeKeyIsKeptAcrossReopening) {
  JobRecord job = TestJob("job-2", "/other.mkv");
  job.resume_key = "input=/in.mp4\nsize=1\nmtime=2\noutput=/other.mkv\nsettings=ff";
  ASSERT_TRUE(store_->CreateJob(job).ok());
  store_.reset();
  auto reopened = JobStore::Open(path_);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->GetJob("job-2")->resume_key, job.resume_key);
  EXPECT_EQ((*reopened)->GetJob("job-1")->resume_key, "");
  store_ = std::move(*reopened);
}

TEST_F(JobStoreTest, CancelledJobIsNotLeasedNorReplanned) {
  ASSERT_TRUE(store_->SetJobState("job-1", v1::JOB_CANCELLED, "cancelled by user").ok());
  auto lease = store_->LeaseNextChunk("node-a", 1000, 2000);
  ASSERT_TRUE(lease.ok());
  EXPECT_FALSE(lease->has_value());
  EXPECT_FALSE(store_->SavePlan("job-1", {}, {}).ok());
  EXPECT_NE(store_->GetJob("job-1")->finished_at, 0);
}

TEST_F(JobStoreTest, PausedJobsLeaseNothingAndResumeWhereTheyStopped) {
  ASSERT_TRUE(*store_->TransitionJob("job-1", v1::JOB_RUNNING, v1::JOB_PAUSED));
  EXPECT_FALSE(store_->LeaseNextChunk("node-a", 1000, 2000)->has_value());
  EXPECT_FALSE(*store_->TransitionJob("job-1", v1::JOB_RUNNING, v1::JOB_PAUSED));
  ASSERT_TRUE(*store_->TransitionJob("job-1", v1::JOB_PAUSED, v1::JOB_RUNNING));
  EXPECT_TRUE(store_->LeaseNextChunk("node-a", 1000, 2000)->has_value());
}

TEST_F(JobStoreTest, RetryRequeuesUnfinishedChunksAndKeepsDoneOnes) {
  auto lease = store_->LeaseNextChunk("node-a", 1000, 2000);
  bool all_done = false;
  ASSERT_TRUE(store_->CompleteChunk("job-1", (*lease)->index, 1, "node-a", 2, &all_done).ok());
  auto second = store_->LeaseNextChunk("node-a", 1000, 2000);
  ASSERT_TRUE(second->has_value());
  ASSERT_TRUE(store_->SetJobState("job-1", v1::JOB_FAILED, "boom").ok());
  EXPECT_FALSE(store_->RetryJob("no-such-job").ok());
  auto state = store_->RetryJob("job-1");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(*state, v1::JOB_RUNNING);
  auto job = store_->GetJob("job-1");
  EXPECT_EQ(job->error, "");
  EXPECT_EQ(job->chunks_done, 2);  // the duplicate-only chunk and the completed one
  auto again = store_->LeaseNextChunk("node-b", 1000, 2000);
  ASSERT_TRUE(again->has_value());
  EXPECT_EQ((*again)->index, (*second)->index);
  EXPECT_EQ((*again)->attempt, 1);
  EXPECT_FALSE(store_->RetryJob("job-1").ok());  // running: nothing to retry
}

TEST_F(JobStoreTest, NodeThatKeepsFailingIsBlocklistedForTheJobOnly) {
  store_->set_blocklist_after(3);
  JobStore::FailureTally tally;
  for (int i = 1; i <= 3; ++i) {
    auto lease = store_->LeaseNextChunk("node-a", 1, 100);
    ASSERT_TRUE(lease.ok() && lease->has_value()) << "lease " << i;
    auto recorded = store_->RecordChunkFailure("job-1", (*lease)->index, (*lease)->attempt,
                                               "node-a", "boom " + std::to_string(i), 1, 0, 3);
    ASSERT_TRUE(recorded.ok()) << recorded.status();
    tally = *recorded;
    EXPECT_EQ(tally.node_failures_in_job, i);
  }
  EXPECT_EQ(tally.nodes_failed_chunk, 1);
  EXPECT_EQ(tally.live_nodes_not_blocked, 1);  // node-b is still there
  EXPECT_NE(tally.errors.find("node-a: boom 3"), std::string::npos) << tally.errors;
  // node-a gets nothing more of job-1; node-b does.
  auto refused = store_->LeaseNextChunk("node-a", 2, 100);
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->has_value());
  auto other = store_->LeaseNextChunk("node-b", 2, 100);
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->has_value());
  // A failure record needs the lease: a stale attempt is refused.
  EXPECT_FALSE(store_->RecordChunkFailure("job-1", (*other)->index, (*other)->attempt, "node-a",
                                          "late", 3, 0, 3)
                   .ok());
  // The store survives a restart with the blocklist, and a retry clears it.
  store_.reset();
  auto reopened = JobStore::Open(path_);
  ASSERT_TRUE(reopened.ok());
  store_ = std::move(*reopened);
  ASSERT_TRUE(store_->RequeueExpiredLeases(-1).ok());
  auto still_refused = store_->LeaseNextChunk("node-a", 4, 100);
  ASSERT_TRUE(still_refused.ok());
  EXPECT_FALSE(still_refused->has_value());
  ASSERT_TRUE(store_->SetJobState("job-1", v1::JOB_FAILED, "gave up").ok());
  ASSERT_TRUE(store_->RetryJob("job-1").ok());
  auto after_retry = store_->LeaseNextChunk("node-a", 5, 100);
  ASSERT_TRUE(after_retry.ok());
  EXPECT_TRUE(after_retry->has_value());
}

}  // namespace
}  // namespace anifarm

namespace anifarm {
namespace {

TEST_F(JobStoreTest, NodesShowTheirMemoryPrincipalAndCurrentChunk) {
  v1::DeviceMemory memory;
  memory.set_in_use_bytes(3 << 20);
  memory.set_free_bytes(int64_t{5} << 30);
  memory.set_total_bytes(int64_t{8} << 30);
  memory.set_allocated_bytes(int64_t{1} << 30);
  memory.set_reserved_bytes(int64_t{3} << 29);
  memory.set_model_cache_bytes(5 << 20);
  memory.set_model_cache_budget_bytes(int64_t{2} << 30);
  memory.set_models_cached(2);
  ASSERT_TRUE(store_->TouchNode("node-a", 999, &memory).ok());
  auto lease = store_->LeaseNextChunk("node-a", 1000, 2000);
  ASSERT_TRUE(lease.ok() && lease->has_value());
  auto nodes = store_->ListNodes();
  ASSERT_TRUE(nodes.ok());
  std::map<std::string, v1::NodeInfo> by_id;
  for (const v1::NodeInfo& node : *nodes) by_id[node.node_id()] = node;
  const v1::NodeInfo& a = by_id["node-a"];
  EXPECT_EQ(a.memory_usage().in_use_bytes(), 3 << 20);
  EXPECT_EQ(a.memory_usage().free_bytes(), int64_t{5} << 30);
  EXPECT_EQ(a.memory_usage().total_bytes(), int64_t{8} << 30);
  EXPECT_EQ(a.memory_usage().allocated_bytes(), int64_t{1} << 30);
  EXPECT_EQ(a.memory_usage().reserved_bytes(), int64_t{3} << 29);
  EXPECT_EQ(a.memory_usage().model_cache_bytes(), 5 << 20);
  EXPECT_EQ(a.memory_usage().model_cache_budget_bytes(), int64_t{2} << 30);
  EXPECT_EQ(a.memory_usage().models_cached(), 2);
  EXPECT_GE(a.last_seen(), 999) << "a report of memory is a sign of life";
  EXPECT_EQ(a.current_job_id(), "job-1");
  EXPECT_EQ(a.current_chunk_index(), (*lease)->index);
  const v1::NodeInfo& b = by_id["node-b"];
  EXPECT_TRUE(b.current_job_id().empty());
  EXPECT_EQ(b.current_chunk_index(), -1);
  EXPECT_EQ(b.memory_usage().free_bytes(), -1) << "unknown until reported";
  EXPECT_EQ(b.memory_usage().allocated_bytes(), -1) << "unknown until reported";
  EXPECT_EQ(b.memory_usage().reserved_bytes(), -1) << "unknown until reported";
  // Done, the node is idle again.
  bool all_done = false;
  ASSERT_TRUE(store_->CompleteChunk("job-1", (*lease)->index, (*lease)->attempt, "node-a", 1,
                                    &all_done)
                  .ok());
  nodes = store_->ListNodes();
  for (const v1::NodeInfo& node : *nodes) {
    if (node.node_id() == "node-a") EXPECT_TRUE(node.current_job_id().empty());
  }
}

}  // namespace
}  // namespace anifarm

namespace anifarm {
namespace {

// A second job (ncnn, fp16) beside job-1 (pytorch, auto), and nodes with
// capabilities: a GPU that runs everything, a CPU that loads only .pth.
class CapabilityMatchTest : public JobStoreTest {
 protected:
  void SetUp() override {
    JobStoreTest::SetUp();
    // job-1 out of the way: only job-2's chunk is in play.
    ASSERT_TRUE(store_->SetJobState("job-1", v1::JOB_CANCELLED).ok());
    JobRecord job;
    job.id = "job-2";
    job.input_path = "/in.mp4";
    job.output_path = "/out2.mp4";
    job.settings.set_precision("fp16");
    job.model_format = "ncnn";
    job.created_at = 200;
    ASSERT_TRUE(store_->CreateJob(job).ok());
    std::vector<ChunkRecord> chunks(1);
    chunks[0].frame_count = 1;
    chunks[0].unique_count = 1;
    FrameRecord frame;
    frame.md5 = "x";
    ASSERT_TRUE(store_->SavePlan("job-2", chunks, {frame}).ok());
  }
  void AddNode(const std::string& id, std::vector<std::string> formats,
               std::vector<std::string> precisions, int64_t last_seen) {
    v1::NodeInfo node;
    node.set_node_id(id);
    node.set_last_seen(last_seen);
    for (const std::string& f : formats) node.add_model_formats(f);
    for (const std::string& p : precisions) node.add_precisions(p);
    ASSERT_TRUE(store_->UpsertNode(node).ok());
  }
  bool Leases(const std::string& node_id, int64_t now) {
    auto lease = store_->LeaseNextChunk(node_id, now, now + 60);
    EXPECT_TRUE(lease.ok()) << lease.status();
    return lease.ok() && lease->has_value();
  }
};

TEST_F(CapabilityMatchTest, NodesGetOnlyModelsTheyLoad) {
  AddNode("cpu", {"pytorch"}, {"fp32"}, 1000);
  EXPECT_FALSE(Leases("cpu", 1000)) << "an ncnn model went to a node without ncnn";
  AddNode("gpu", {"pytorch", "ncnn"}, {"fp16", "bf16", "fp32"}, 1000);
  EXPECT_TRUE(Leases("gpu", 1000));
}

TEST_F(CapabilityMatchTest, HalfPrecisionPrefersNativeNodesWhileOneIsAlive) {
  AddNode("gpu", {"pytorch", "ncnn"}, {"fp16", "bf16", "fp32"}, 1000);
  AddNode("cpu", {"pytorch", "ncnn"}, {"fp32"}, 1000);
  EXPECT_FALSE(Leases("cpu", 1010)) << "fp16 job leased to a CPU while a GPU is alive";
  // The GPU went quiet for over a lease timeout: better fp32 than never.
  EXPECT_TRUE(Leases("cpu", 1100));
}

// A native node blocklisted for the job does not keep it from the others:
// it would never run the job again, so the job would wait for good.
TEST_F(CapabilityMatchTest, BlocklistedNativeNodeDoesNotHoldTheJobBack) {
  AddNode("gpu", {"pytorch", "ncnn"}, {"fp16", "bf16", "fp32"}, 1000);
  AddNode("cpu", {"pytorch", "ncnn"}, {"fp32"}, 1000);
  for (int i = 0; i < 3; ++i) {
    auto lease = store_->LeaseNextChunk("gpu", 1000, 1060);
    ASSERT_TRUE(lease.ok() && lease->has_value());
    ASSERT_TRUE(store_->RecordChunkFailure("job-2", (*lease)->index, (*lease)->attempt, "gpu",
                                           "out of memory", 1000, 940, 3)
                    .ok());
  }
  EXPECT_FALSE(Leases("gpu", 1010)) << "a blocklisted node got the job again";
  EXPECT_TRUE(Leases("cpu", 1010)) << "the fp16 job waits for a blocklisted GPU";
}

TEST_F(CapabilityMatchTest, OlderNodesWithoutCapabilitiesAreNotRestricted) {
  // node-a and node-b (SetUp) advertised nothing.
  EXPECT_TRUE(Leases("node-a", 1000));
  auto nodes = store_->ListNodes();
  ASSERT_TRUE(nodes.ok());
  AddNode("gpu", {"pytorch", "ncnn"}, {"fp16", "fp32"}, 1000);
  nodes = store_->ListNodes();
  for (const v1::NodeInfo& node : *nodes) {
    if (node.node_id() != "gpu") continue;
    EXPECT_EQ(node.model_formats_size(), 2);
    EXPECT_EQ(node.precisions(0), "fp16");
  }
}

}  // namespace
}  // namespace anifarm

namespace anifarm {
namespace {

TEST_F(JobStoreTest, OnlyTheCurrentHolderHoldsALease) {
  auto first = store_->LeaseNextChunk("node-a", 1000, 1010);
  ASSERT_TRUE(first.ok() && first->has_value());
  const ChunkRecord chunk = **first;
  EXPECT_TRUE(*store_->HoldsLease("job-1", chunk.index, chunk.attempt, "node-a"));
  EXPECT_FALSE(*store_->HoldsLease("job-1", chunk.index, chunk.attempt, "node-b"));
  ASSERT_TRUE(store_->RequeueExpiredLeases(1011).ok());
  EXPECT_FALSE(*store_->HoldsLease("job-1", chunk.index, chunk.attempt, "node-a"))
      << "an expired lease is nobody's";
  auto again = store_->LeaseNextChunk("node-b", 1012, 2000);
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_TRUE(*store_->HoldsLease("job-1", chunk.index, (*again)->attempt, "node-b"));
  EXPECT_FALSE(*store_->HoldsLease("job-1", chunk.index, chunk.attempt, "node-a"));
}

// A job encoded by its nodes: every chunk is work (a node encodes it, even
// when all its pictures come from elsewhere), and a chunk showing pictures
// of another chunk is leased only once that chunk is done.
TEST_F(JobStoreTest, ChunksEncodedByNodesWaitForTheChunksWhosePicturesTheyShow) {
  JobRecord job = TestJob("job-2", "/out2.mp4");
  job.settings.set_priority(10);  // ahead of job-1
  ASSERT_TRUE(store_->CreateJob(job).ok());
  auto chunks = store_->Chunks("job-1");
  auto frames = store_->Frames("job-1");
  ASSERT_TRUE(chunks.ok() && frames.ok());
  for (FrameRecord& frame : *frames) frame.index = &frame - frames->data();
  ASSERT_TRUE(store_->SavePlan("job-2", *chunks, *frames, /*encoded_by_nodes=*/true).ok());
  auto saved = store_->GetJob("job-2");
  ASSERT_TRUE(saved.ok());
  EXPECT_EQ(saved->chunks_done, 0) << "a duplicate-only chunk still has to be encoded";

  // Chunk 2 shows frames 0 and 1 (chunk 0): those are the ones chunk 0
  // returns as pictures; chunk 1 shares nothing.
  auto shared = store_->SharedFrames("job-2", 0);
  ASSERT_TRUE(shared.ok());
  EXPECT_EQ(*shared, (std::vector<int64_t>{0, 1}));
  EXPECT_TRUE(store_->SharedFrames("job-2", 1)->empty());
  auto chunk_frames = store_->ChunkFrames("job-2", 2);
  ASSERT_TRUE(chunk_frames.ok());
  ASSERT_EQ(chunk_frames->size(), 2u);
  EXPECT_EQ((*chunk_frames)[0].source_index, 0);
  EXPECT_EQ((*chunk_frames)[1].source_index, 1);

  auto lease = [&]() {
    auto chunk = store_->LeaseNextChunk("node-a", 1000, 1060);
    EXPECT_TRUE(chunk.ok());
    return chunk.ok() && *chunk ? (*chunk)->job_id + "/" + std::to_string((*chunk)->index)
                                : std::string("none");
  };
  EXPECT_EQ(lease(), "job-2/0");
  EXPECT_EQ(lease(), "job-2/1");
  EXPECT_EQ(lease(), "job-1/0") << "job-2's chunk 2 must wait for its chunk 0";
  bool all_done = false;
  ASSERT_TRUE(store_->CompleteChunk("job-2", 0, 1, "node-a", 2, &all_done).ok());
  EXPECT_EQ(lease(), "job-2/2");
}

// The first node to load a job's model reports its architecture; from then
// on only nodes that advertise it (or advertise nothing: older nodes) get
// the job's chunks.
TEST_F(JobStoreTest, OnceTheArchitectureIsKnownOnlyNodesThatRunItGetTheJob) {
  v1::NodeInfo node;
  node.set_node_id("node-dat");
  node.add_architectures("DAT");
  ASSERT_TRUE(store_->UpsertNode(node).ok());
  node.set_node_id("node-rrdb");
  node.clear_architectures();
  node.add_architectures("SRVGGNetCompact");
  node.add_architectures("RRDBNet");
  ASSERT_TRUE(store_->UpsertNode(node).ok());

  auto first = store_->LeaseNextChunk("node-a", 1000, 1060);
  ASSERT_TRUE(first.ok() && *first);
  bool all_done = false;
  ASSERT_TRUE(store_->CompleteChunk("job-1", (*first)->index, (*first)->attempt, "node-a", 2,
                                    &all_done, 10, "RRDBNet")
                  .ok());
  EXPECT_EQ(store_->GetJob("job-1")->architecture, "RRDBNet");

  auto none = store_->LeaseNextChunk("node-dat", 1001, 1061);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(*none) << "a node that does not run RRDBNet got chunk " << (*none)->index;
  auto next = store_->LeaseNextChunk("node-rrdb", 1002, 1062);
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE(*next);
  EXPECT_EQ((*next)->job_id, "job-1");

  // A later report does not change what the first node found.
  ASSERT_TRUE(store_->CompleteChunk("job-1", (*next)->index, (*next)->attempt, "node-rrdb", 2,
                                    &all_done, 10, "DAT")
                  .ok());
  EXPECT_EQ(store_->GetJob("job-1")->architecture, "RRDBNet");
}

}  // namespace
}  // namespace anifarm
