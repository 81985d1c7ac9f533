// JobStore: every piece of farm state (jobs, chunks, the frame map, nodes)
// in one SQLite file, so that a coordinator that dies loses nothing. Each
// state change is one transaction; the schema is versioned and migrated on
// open. Thread-safe (one connection behind a mutex).
//
// Job states:   PLANNING -> RUNNING -> ASSEMBLING -> DONE
//                   \           \           \-> FAILED
//                    \-----------\--> FAILED | CANCELLED
// Chunk states: QUEUED -> LEASED -> DONE
//                  ^--------/ (lease expired, node failed, coordinator restart)
#ifndef ANIFARM_COORDINATOR_JOB_STORE_H_
#define ANIFARM_COORDINATOR_JOB_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/sqlite_db.h"
#include "protos/anifarm.pb.h"

namespace anifarm {

enum class ChunkState { kQueued = 0, kLeased = 1, kDone = 2 };

struct JobRecord {
  std::string id;
  v1::JobState state = v1::JOB_PLANNING;
  std::string input_path;
  std::string output_path;
  v1::ProcessingSettings settings;
  std::string model_path;
  std::string model_sha256;
  std::string model_format;
  // Who submitted it (AccessControl's principal name; empty when off).
  std::string owner;
  // The model's architecture family, learned from the first node that
  // loaded it ("" before): leases then go only to nodes that advertise it.
  std::string architecture;
  // What `anifarm run` made the job from (client/resume.h: input identity,
  // output, settings); "" for jobs submitted to a coordinator.
  std::string resume_key;
  // Memory a node needs to run the job's model (EstimateModelMemory).
  int64_t memory_bytes = 0;
  int64_t total_frames = 0;
  int64_t unique_frames = 0;
  int64_t frames_upscaled = 0;
  int64_t frames_reused = 0;
  int32_t chunks_total = 0;
  int32_t chunks_done = 0;
  int32_t chunks_running = 0;
  int32_t output_width = 0;
  int32_t output_height = 0;
  std::string error;
  int64_t created_at = 0;
  int64_t finished_at = 0;
};

struct ChunkRecord {
  std::string job_id;
  int32_t index = 0;
  ChunkState state = ChunkState::kQueued;
  int64_t first_frame = 0;
  int64_t frame_count = 0;
  int64_t unique_count = 0;  // frames a node must upscale
  int32_t attempt = 0;
  std::string node_id;
  int64_t lease_deadline = 0;
};

// One source frame, in presentation order.
struct FrameRecord {
  int64_t index = 0;
  int64_t pts = 0;
  std::string md5;
  int64_t source_index = 0;  // first frame with the same pixels (== index if unique)
  int32_t chunk_index = 0;
};

// How one live node stands against each lease condition of a job (the very
// SQL terms LeaseNextChunk matches on), for the stall check (stall_check.h).
struct NodeFit {
  std::string node_id;
  int64_t memory_bytes = 0;  // advertised; 0 = unknown (no limit)
  int32_t failures_in_job = 0;
  bool blocklisted = false;
  bool fits_memory = true;
  bool runs_format = true;
  bool knows_architecture = true;
  bool computes_precision = true;
  bool CanLease() const {
    return !blocklisted && fits_memory && runs_format && knows_architecture && computes_precision;
  }
};

// What decides whether a job's queued chunks can ever be leased.
struct StallFacts {
  JobRecord job;
  std::vector<NodeFit> live_nodes;
  std::vector<ChunkRecord> chunks;
  // (chunk, source chunk): the chunk shows pictures the source upscales.
  std::vector<std::pair<int32_t, int32_t>> deps;
  struct Failures {
    int32_t nodes = 0;   // distinct nodes the chunk failed on
    std::string errors;  // "node: error; ..."
  };
  std::map<int32_t, Failures> failures;  // chunks that failed at least once
};

class JobStore {
 public:
  static constexpr int kSchemaVersion = 10;

  static absl::StatusOr<std::unique_ptr<JobStore>> Open(const std::string& path);

  // Jobs.
  absl::Status CreateJob(const JobRecord& job);
  absl::StatusOr<JobRecord> GetJob(const std::string& id);  // NotFound
  absl::StatusOr<std::vector<JobRecord>> ListJobs();
  absl::StatusOr<std::vector<std::string>> JobIdsInState(v1::JobState state);
  // Moves a job to `state`; terminal states also stamp finished_at.
  absl::Status SetJobState(const std::string& id, v1::JobState state,
                           const std::string& error = "");
  // Moves a job from `from` to `to`; false when it was not in `from`.
  absl::StatusOr<bool> TransitionJob(const std::string& id, v1::JobState from, v1::JobState to);
  // The same, also setting the job's error line (to == from: only the
  // line, e.g. why a RUNNING job waits). Terminal states stamp finished_at.
  absl::StatusOr<bool> TransitionJob(const std::string& id, v1::JobState from, v1::JobState to,
                                     const std::string& error);
  // Makes a failed or cancelled job work again: chunks not done go back to
  // the queue with attempts reset, and the job restarts at the step it
  // failed in (planning, running or assembling). Returns the new state.
  absl::StatusOr<v1::JobState> RetryJob(const std::string& id);
  // Stores what the assembler produced.
  absl::Status RecordOutput(const std::string& id, int width, int height, int64_t frames_reused);

  // Stores a finished plan (chunks and frame map) and moves the job from
  // PLANNING to RUNNING, all in one transaction (FailedPrecondition if the
  // job left PLANNING meanwhile, e.g. it was cancelled). Replaces any
  // earlier partial plan. Frame indexes are positions in `frames`.
  // `encoded_by_nodes` (EncodeAt): every chunk is queued (a node encodes
  // it), and a chunk showing pictures of other chunks waits for them
  // (LeaseNextChunk). Otherwise chunks with nothing to upscale are DONE.
  absl::Status SavePlan(const std::string& job_id, const std::vector<ChunkRecord>& chunks,
                        const std::vector<FrameRecord>& frames, bool encoded_by_nodes = false);
  absl::StatusOr<std::vector<FrameRecord>> Frames(const std::string& job_id);
  absl::StatusOr<ChunkRecord> GetChunk(const std::string& job_id, int32_t chunk_index);
  // The frames of one chunk, in presentation order.
  absl::StatusOr<std::vector<FrameRecord>> ChunkFrames(const std::string& job_id,
                                                       int32_t chunk_index);
  // Frames of the chunk whose pictures frames of other chunks show.
  absl::StatusOr<std::vector<int64_t>> SharedFrames(const std::string& job_id,
                                                    int32_t chunk_index);
  absl::StatusOr<std::vector<ChunkRecord>> Chunks(const std::string& job_id);

  // Leases the next queued chunk of a RUNNING job (highest priority, then
  // oldest job first) whose memory need fits the node's memory, whose
  // model's format and (once known) architecture the node runs, whose
  // precision it computes natively (while a live node that may take the job
  // does), for which the node is not blocklisted (the terms NodeFits
  // reports), and whose chunk_deps are done (SavePlan), to
  // `node_id`, bumping its attempt. nullopt when nothing is queued.
  absl::StatusOr<std::optional<ChunkRecord>> LeaseNextChunk(const std::string& node_id,
                                                            int64_t now, int64_t deadline);
  // Marks a leased chunk done and adds `frames_upscaled` to the job and node
  // counters. FailedPrecondition if the lease is not (or no longer) theirs.
  // *all_done tells whether that was the job's last chunk.
  // `busy_ms` (the node's time on the chunk) feeds the node's frame rate.
  // `architecture` (the family the node recognised in the model) becomes
  // the job's if it has none yet.
  absl::Status CompleteChunk(const std::string& job_id, int32_t chunk_index, int32_t attempt,
                             const std::string& node_id, int64_t frames_upscaled, bool* all_done,
                             int64_t busy_ms = 0, const std::string& architecture = "");
  // Whether `node_id` holds the lease of the chunk for `attempt` now.
  absl::StatusOr<bool> HoldsLease(const std::string& job_id, int32_t chunk_index, int32_t attempt,
                                  const std::string& node_id);
  // Extends a lease held by `node_id` for `attempt` of a RUNNING job.
  // Returns false when the lease is no longer theirs.
  absl::StatusOr<bool> RenewLease(const std::string& job_id, int32_t chunk_index,
                                  int32_t attempt, const std::string& node_id,
                                  int64_t now, int64_t deadline);
  // A chunk attempt that failed: the chunk goes back to the queue and the
  // failure is recorded (table chunk_failures), all in one transaction.
  // FailedPrecondition if the lease is not (or no longer) `node_id`'s.
  struct FailureTally {
    int32_t node_failures_in_job = 0;  // this node's failures in this job
    int32_t nodes_failed_chunk = 0;    // distinct nodes this chunk failed on
    int64_t live_nodes_not_blocked = 0;  // seen since `live_since`, not blocklisted
    std::string errors;                // "node: error; ..." for this chunk
  };
  absl::StatusOr<FailureTally> RecordChunkFailure(const std::string& job_id, int32_t chunk_index,
                                                  int32_t attempt, const std::string& node_id,
                                                  const std::string& error, int64_t now,
                                                  int64_t live_since, int blocklist_after);
  // Nodes that failed `blocklist_after` times in a job get none of its
  // chunks (LeaseNextChunk skips the job for them).
  void set_blocklist_after(int failures) { blocklist_after_ = failures; }

  // Every node seen since `live_since`, with how each lease condition of
  // `job` goes for it (the job need not be stored yet: SubmitJob asks
  // before it creates the job).
  absl::StatusOr<std::vector<NodeFit>> NodeFits(const JobRecord& job, int64_t live_since);
  // A job's nodes, chunks, chunk_deps and failures, for the stall check.
  absl::StatusOr<StallFacts> StallFactsFor(const std::string& job_id, int64_t live_since);

  // After a coordinator restart: leases still held get at least until
  // `deadline`, so nodes that were working reconnect and finish (or renew)
  // instead of having their chunks redone.
  absl::Status ExtendLeasesUntil(int64_t deadline);
  // Requeues leases whose deadline passed (all of them when now < 0).
  absl::StatusOr<int64_t> RequeueExpiredLeases(int64_t now);

  // Nodes.
  absl::Status UpsertNode(const v1::NodeInfo& node);
  // A node was heard from at `now` (a lease request or a heartbeat), with
  // its memory figures when it sent them (shown by ListNodes). One write.
  absl::Status TouchNode(const std::string& node_id, int64_t now,
                         const v1::DeviceMemory* memory = nullptr);
  absl::StatusOr<std::vector<v1::NodeInfo>> ListNodes();
  // Every node counts as not seen since 0 (no longer alive) until it calls
  // again: for a coordinator whose only nodes live in its own process.
  absl::Status ForgetNodesAlive();
  // Failed attempts of each chunk of a job that has any: chunk index →
  // (count, the latest error).
  absl::StatusOr<std::map<int32_t, std::pair<int32_t, std::string>>> ChunkFailures(
      const std::string& job_id);
  // The principal a node registered as. NotFound for an unknown node.
  absl::StatusOr<std::string> NodePrincipal(const std::string& node_id);

 private:
  explicit JobStore(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
  absl::Status Migrate();
  absl::StatusOr<std::vector<JobRecord>> QueryJobs(const std::string& where, const std::string& arg);
  // Applies `set_clause` to a chunk only while `node_id` holds its lease for
  // `attempt`; false when the lease is not (or no longer) theirs. Caller
  // holds mu_.
  absl::StatusOr<bool> UpdateHeldLease(const char* set_clause, const std::string& job_id,
                                       int32_t chunk_index, int32_t attempt,
                                       const std::string& node_id);

  std::mutex mu_;
  std::unique_ptr<SqliteDb> db_;
  int blocklist_after_ = 3;
};

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_JOB_STORE_H_
