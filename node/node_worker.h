// NodeWorker: the node's main loop, independent of transport and engine.
//
//   register -> lease a chunk -> make sure the model is cached on disk
//   (fetched by content hash from the coordinator otherwise) -> decode the
//   chunk's compressed packets -> upscale the frames it lists -> then
//     either encode every frame of the chunk (duplicates from the pictures
//     upscaled here or fetched from earlier chunks) into a segment in the
//     job's codec, when the lease has a SegmentSpec,
//     or PNG-compress the upscaled frames for the coordinator to encode
//   -> complete (or fail) the chunk -> lease again.
//
// Failures that retrying elsewhere cannot fix (unreadable model, a setting
// the model cannot honour) are reported as permanent so the job fails fast.
#ifndef ANIFARM_NODE_NODE_WORKER_H_
#define ANIFARM_NODE_NODE_WORKER_H_

#include <atomic>
#include <functional>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "common/image.h"
#include "common/media/ffmpeg_ptr.h"
#include "node/upscaler.h"
#include "node/work_source.h"

namespace anifarm {

struct NodeWorkerOptions {
  // Models are kept in <cache_dir>/models/<sha256>.<ext>.
  std::string cache_dir;
  std::string hostname;
  // Pause between lease attempts when the queue is empty.
  int idle_poll_ms = 300;
  // Caps the memory the node advertises (`--max-memory`; 0 = the device's).
  int64_t max_memory_bytes = 0;
  // A chunk cut short by `stop` is reported as failed, so that another node
  // gets it at once. `anifarm run` turns this off: its coordinator requeues
  // the lease at its next start anyway, and a failure recorded per stop
  // (each run is a new node) would fail the chunk after a few Ctrl-Cs.
  bool report_stopped_chunks = true;
};

class NodeWorker {
 public:
  // Neither pointer is owned; both must outlive the worker.
  NodeWorker(WorkSource* source, UpscalerEngine* engine, NodeWorkerOptions options);

  absl::Status Register();
  const std::string& node_id() const { return node_id_; }

  // Leases and processes at most one chunk. Returns whether there was one.
  absl::StatusOr<bool> RunOnce(const std::atomic<bool>& stop);

  // Registers, then processes chunks until `stop` is set (then OK).
  // Transient errors (coordinator unreachable) are logged and retried with a
  // back-off; refused credentials (Unauthenticated, PermissionDenied) end
  // the run with that error, since retrying cannot fix them.
  absl::Status Run(const std::atomic<bool>& stop);

 private:
  // The engine's memory figures, for lease requests and heartbeats.
  void ReportMemory(v1::DeviceMemory* memory) const;
  // Shared between the thread working on a chunk and its heartbeat thread.
  struct ChunkControl {
    const std::atomic<bool>* stop = nullptr;  // the node is shutting down
    std::atomic<bool> lease_lost{false};      // the coordinator took it back
    std::atomic<int> frames_done{0};
    bool Interrupted() const { return *stop || lease_lost; }
  };

  absl::StatusOr<std::string> EnsureModel(const v1::ChunkLease& lease);
  // Upscales the listed frames; a permanent error sets *permanent.
  absl::StatusOr<v1::CompleteChunkRequest> ProcessChunk(const v1::ChunkLease& lease,
                                                        ChunkControl* control, bool* permanent);
  // Decodes the chunk, upscales its first occurrences with `upscale` and
  // returns the result: the upscaled frames as PNG, or, when the lease has
  // a SegmentSpec, every frame of the chunk encoded into a segment (pictures
  // of earlier chunks come from FetchFrames) plus the shared frames' PNGs.
  // Decode, upscale and encode run on three threads; with
  // frames_in_flight > 1, that many threads call `upscale` at once
  // (Upscaler::frames_in_flight). A permanent error sets *permanent.
  absl::StatusOr<v1::CompleteChunkRequest> RunPipeline(
      const v1::ChunkLease& lease, int width, int height,
      const std::function<absl::StatusOr<RgbImage>(RgbImage)>& upscale, int frames_in_flight,
      ChunkControl* control, bool* permanent);
  static constexpr size_t kFramesPerFetch = 8;
  // Frames waiting between two stages of the pipeline.
  static constexpr size_t kQueueFrames = 3;
  // Renews the lease every interval until `done` is set.
  void SendHeartbeats(const v1::ChunkLease& lease, ChunkControl* control,
                      const std::atomic<bool>& done);

  WorkSource* source_;
  UpscalerEngine* engine_;
  NodeWorkerOptions options_;
  std::string node_id_;
  std::set<std::string> verified_models_;  // sha256 of files checked this run
};

}  // namespace anifarm

#endif  // ANIFARM_NODE_NODE_WORKER_H_
