// EmbeddedFarm: `anifarm run`'s one-process farm. A Coordinator and a local
// NodeWorker share the process; the worker talks to the coordinator through
// direct calls (no network hop), and the LibTorch engine is loaded from
// libanifarm_engine.so with dlopen so the CLI binary itself never links
// LibTorch.
#ifndef ANIFARM_CLIENT_EMBEDDED_FARM_H_
#define ANIFARM_CLIENT_EMBEDDED_FARM_H_

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "coordinator/coordinator.h"
#include "node/upscaler.h"
#include "node/work_source.h"

namespace anifarm {

struct EmbeddedFarmOptions {
  CoordinatorOptions coordinator;
  std::string device = "cpu";
};

class EmbeddedFarm {
 public:
  // Loads the engine and starts the coordinator; the node comes with
  // StartWorker, so that `anifarm run` first decides which of the state
  // dir's jobs this run works on (client/resume.h) before any is leased.
  static absl::StatusOr<std::unique_ptr<EmbeddedFarm>> Start(const EmbeddedFarmOptions& options);
  ~EmbeddedFarm();  // stops the worker (a chunk cut short stays leased), then the coordinator

  // Starts the node. It leases chunks of `job_ids` only: before each lease
  // any other RUNNING job of the state dir (an earlier run's, maybe planned
  // just now by this process) is paused, left to the command that made it.
  void StartWorker(std::set<std::string> job_ids);

  Coordinator* coordinator() { return coordinator_.get(); }

 private:
  EmbeddedFarm() = default;
  struct EngineLibrary;
  std::unique_ptr<EngineLibrary> library_;
  std::unique_ptr<UpscalerEngine> engine_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<WorkSource> source_;
  std::string cache_dir_;
  std::atomic<bool> stop_{false};
  std::thread worker_thread_;
};

// Loads the engine plugin: next to the running executable, then in
// ../lib relative to it, then through the dynamic loader's search path.
absl::StatusOr<std::unique_ptr<UpscalerEngine>> LoadEngine(const std::string& device,
                                                           void** library_handle);

}  // namespace anifarm

#endif  // ANIFARM_CLIENT_EMBEDDED_FARM_H_
