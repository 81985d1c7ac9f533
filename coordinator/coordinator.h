// Coordinator: the farm's brain, independent of any transport. The gRPC
// service (coordinator/service.h) and the embedded `anifarm run` both call
// it directly.
//
// It owns the JobStore and one background runner thread that plans new jobs,
// requeues expired leases, fails jobs no live node can take (StallCheck) and
// assembles jobs whose chunks are all done. Every
// state change goes through the store first, so a coordinator restarted on
// the same --state-dir resumes where the old one stopped: leased chunks go
// back to the queue, half-planned jobs are planned again, half-assembled jobs
// are assembled again.
#ifndef ANIFARM_COORDINATOR_COORDINATOR_H_
#define ANIFARM_COORDINATOR_COORDINATOR_H_

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/job_store.h"
#include "coordinator/limits.h"
#include "coordinator/path_policy.h"
#include "coordinator/rpc_stats.h"
#include "coordinator/series_cache.h"
#include "coordinator/stall_check.h"
#include "protos/anifarm.pb.h"

namespace anifarm {

struct CoordinatorOptions {
  // SQLite database (anifarm.db) and per-job data (jobs/<id>/) live here.
  std::string state_dir;
  // Where model names are resolved.
  std::string models_dir;
  int chunk_frames = 48;
  // A node that has not renewed its lease (Heartbeat) for this long loses
  // the chunk to the queue.
  int lease_seconds = 60;
  // Keep chunk payloads and upscaled frames after a successful job.
  bool keep_intermediates = false;
  // A node that failed this many chunk attempts of a job gets no more of
  // its chunks (blocklisted for that job).
  int node_failures_before_blocklist = 3;
  // A chunk that failed on this many different nodes fails its job, with
  // every node's error collected. A job also fails when every live node is
  // blocklisted for it (nobody is left to try).
  int chunk_failure_nodes = 3;
  // A RUNNING job whose queued chunks no live node may take fails after
  // being stuck this long (stall_check.h); 0: two lease timeouts.
  int stall_grace_seconds = 0;
  // `anifarm run`: the only node is this process's own, so nodes registered
  // before it started are gone whatever their last_seen says, and their
  // leases return to the queue at once (a rerun right after a failure must
  // not count the previous run's node as alive, nor wait for its chunks).
  bool in_process_nodes_only = false;
  // Inputs and outputs must resolve inside these folders (none: anywhere).
  // The coordinator's own uploads/ and outputs/ folders are always allowed.
  std::vector<std::string> roots;
  // What one job or upload may ask for (limits.h).
  JobLimits limits;
  // The series cache (series_cache.h, in <state_dir>/series-cache): bytes
  // of upscaled pictures kept across jobs; 0 turns it off.
  int64_t series_cache_bytes = int64_t{10} << 30;
};

class Coordinator {
 public:
  static absl::StatusOr<std::unique_ptr<Coordinator>> Start(const CoordinatorOptions& options);
  ~Coordinator();  // stops the runner thread

  // Client API. Submit validates everything it can before accepting a job:
  // NotFound / InvalidArgument name the file or value at fault. A job that
  // no live node could ever take (model format, memory, precision) is
  // accepted already FAILED, its error saying which node lacks what.
  // `owner` is the submitting principal's name (access_control.h);
  // `resume_key` what `anifarm run` finds the job by again (client/resume.h).
  absl::StatusOr<std::string> SubmitJob(const v1::SubmitJobRequest& request,
                                        const std::string& owner = "",
                                        const std::string& resume_key = "");
  absl::StatusOr<v1::JobStatus> GetJob(const std::string& job_id);
  absl::StatusOr<std::vector<v1::JobStatus>> ListJobs();
  // The stored jobs themselves (with their resume keys), for `anifarm run`.
  absl::StatusOr<std::vector<JobRecord>> JobRecords() { return store_->ListJobs(); }
  // Cancels a job (unless finished) with `reason` as its error and deletes
  // its folder (chunks, frames, segments): `anifarm run --restart`, or a
  // job whose input or settings changed under the same output.
  absl::Status DiscardJob(const std::string& job_id, const std::string& reason);
  absl::StatusOr<v1::JobState> CancelJob(const std::string& job_id);
  absl::StatusOr<v1::JobState> PauseJob(const std::string& job_id);
  absl::StatusOr<v1::JobState> ResumeJob(const std::string& job_id);
  absl::StatusOr<v1::JobState> RetryJob(const std::string& job_id);
  absl::StatusOr<std::vector<v1::ChunkInfo>> ListChunks(const std::string& job_id);
  absl::StatusOr<std::vector<v1::NodeInfo>> ListNodes();
  // The series cache's figures, after emptying it when `clear`.
  absl::StatusOr<v1::SeriesCacheInfo> SeriesCacheInfo(bool clear);
  // PNG of the most recently upscaled frame of a job (`before`: the same
  // frame of the source, decoded from its chunk), for the dashboard.
  absl::StatusOr<std::string> Preview(const std::string& job_id, bool before);
  std::vector<v1::ModelInfo> ListModels();
  // Where UploadInput stores files (transfers.h), and the limits that apply.
  std::string uploads_dir() const;
  const JobLimits& limits() const { return options_.limits; }
  // The output file of a finished job, for DownloadOutput.
  // FailedPrecondition while the job is not done; NotFound once deleted.
  absl::StatusOr<std::string> OutputFile(const std::string& job_id);

  // Node API.
  // `principal`: who registered it; only they may use the node id after.
  absl::StatusOr<v1::RegisterNodeResponse> RegisterNode(const v1::RegisterNodeRequest& request,
                                                        const std::string& principal = "");
  // NotFound for an unknown node.
  absl::StatusOr<std::string> NodePrincipal(const std::string& node_id) {
    return store_->NodePrincipal(node_id);
  }
  absl::StatusOr<v1::LeaseChunkResponse> LeaseChunk(const v1::LeaseChunkRequest& request);
  absl::Status CompleteChunk(const v1::CompleteChunkRequest& request);
  absl::Status FailChunk(const v1::FailChunkRequest& request);
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request);
  absl::StatusOr<v1::FetchModelResponse> FetchModel(const v1::FetchModelRequest& request);
  // Upscaled pictures of finished chunks, for nodes encoding chunks that
  // show them. Unavailable while a picture's chunk is not done.
  absl::StatusOr<v1::FetchFramesResponse> FetchFrames(const v1::FetchFramesRequest& request);
  static constexpr int kMaxFramesPerFetch = 16;

  // Event counts since start, for /metrics.
  struct Counters {
    int64_t lease_expiries = 0;
    int64_t chunk_failures = 0;
    // Leases of a chunk beyond its first (after a failure or an expiry).
    int64_t chunk_retries = 0;
  };
  Counters counters() const {
    return {lease_expiries_.load(), chunk_failures_.load(), chunk_retries_.load()};
  }
  // RPC latencies, recorded by the gRPC service and shown on /metrics.
  RpcStats* rpc_stats() { return &rpc_stats_; }

 private:
  explicit Coordinator(const CoordinatorOptions& options, std::unique_ptr<JobStore> store);
  void RunLoop();
  void Wake();
  // Verifies a node's result against the chunk's payload (frame set and
  // per-frame sha256) or, for a chunk encoded by its node, the segment
  // (sha256, one packet per frame at the right timestamps, the same stream
  // as the job's other segments); a refused result puts the chunk back in
  // the queue. For a segment, *segment_stream gets its stream parameters.
  absl::Status CheckResult(const JobRecord& job, const v1::CompleteChunkRequest& request,
                           v1::VideoStreamParams* segment_stream);
  // What a node needs to encode a chunk of a job encoded by nodes.
  absl::StatusOr<v1::SegmentSpec> SegmentSpecFor(const JobRecord& job, int32_t chunk_index);
  // The stream parameters of the job's first accepted segment, if any.
  std::optional<v1::VideoStreamParams> FirstSegmentStream(const std::string& job_id);
  void PlanJob(const std::string& job_id);
  void AssembleJob(const std::string& job_id);
  // The job's use of the series cache (read once, then kept).
  // Shared, not copied: it holds every candidate's feature, and each lease
  // of the job reads it.
  std::shared_ptr<const SeriesCacheUse> CacheUseOf(const std::string& job_id);
  std::string JobDir(const std::string& job_id) const;
  // ToJobStatus plus what only the coordinator knows (kept intermediates).
  v1::JobStatus StatusOf(const JobRecord& job) const;
  void RememberModel(const std::string& sha256, const std::string& path);

  const CoordinatorOptions options_;
  PathPolicy paths_;
  RpcStats rpc_stats_;
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<SeriesCache> series_cache_;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool work_pending_ = true;
  std::map<std::string, std::string> model_paths_;  // sha256 -> file
  // Per job encoded by nodes: the SegmentSpec without its frames, and the
  // stream its first accepted segment encodes.
  std::map<std::string, v1::SegmentSpec> segment_specs_;
  std::map<std::string, v1::VideoStreamParams> segment_streams_;
  std::map<std::string, std::shared_ptr<const SeriesCacheUse>> cache_uses_;
  StallCheck stall_check_;  // the runner thread's
  std::atomic<int64_t> lease_expiries_{0};
  std::atomic<int64_t> chunk_failures_{0};
  std::atomic<int64_t> chunk_retries_{0};
  std::thread runner_;
};

// The wire form of a stored job.
v1::JobStatus ToJobStatus(const JobRecord& job);

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_COORDINATOR_H_
