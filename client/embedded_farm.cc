#include "client/embedded_farm.h"

#include <dlfcn.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "node/node_worker.h"
#include "node/work_source.h"

namespace anifarm {
namespace fs = std::filesystem;

namespace {

// The worker's WorkSource when coordinator and node share a process.
class InProcessWorkSource final : public WorkSource {
 public:
  InProcessWorkSource(Coordinator* coordinator, std::set<std::string> job_ids)
      : coordinator_(coordinator), job_ids_(std::move(job_ids)) {}
  absl::StatusOr<v1::RegisterNodeResponse> RegisterNode(
      const v1::RegisterNodeRequest& request) override {
    return coordinator_->RegisterNode(request);
  }
  absl::StatusOr<v1::LeaseChunkResponse> LeaseChunk(const v1::LeaseChunkRequest& request) override {
    absl::StatusOr<std::vector<JobRecord>> jobs = coordinator_->JobRecords();
    if (!jobs.ok()) return jobs.status();
    for (const JobRecord& job : *jobs) {
      if (job.state == v1::JOB_RUNNING && !job_ids_.count(job.id)) {
        coordinator_->PauseJob(job.id).IgnoreError();  // it may have just finished
      }
    }
    return coordinator_->LeaseChunk(request);
  }
  absl::Status CompleteChunk(const v1::CompleteChunkRequest& request) override {
    return coordinator_->CompleteChunk(request);
  }
  absl::Status FailChunk(const v1::FailChunkRequest& request) override {
    return coordinator_->FailChunk(request);
  }
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request) override {
    return coordinator_->Heartbeat(request);
  }
  absl::StatusOr<v1::FetchFramesResponse> FetchFrames(
      const v1::FetchFramesRequest& request) override {
    return coordinator_->FetchFrames(request);
  }
  absl::StatusOr<v1::FetchModelResponse> FetchModel(const v1::FetchModelRequest& request) override {
    return coordinator_->FetchModel(request);
  }

 private:
  Coordinator* coordinator_;
  const std::set<std::string> job_ids_;  // the run's jobs: the only ones leased
};

using CreateEngineFn = UpscalerEngine* (*)(const char*, std::string*);
constexpr char kEngineLibrary[] = "libanifarm_engine.so";

}  // namespace

struct EmbeddedFarm::EngineLibrary {
  void* handle = nullptr;
  ~EngineLibrary() {
    if (handle) dlclose(handle);
  }
};

absl::StatusOr<std::unique_ptr<UpscalerEngine>> LoadEngine(const std::string& device,
                                                           void** library_handle) {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec).parent_path();
  std::string errors;
  void* handle = nullptr;
  for (const fs::path& candidate :
       {self / kEngineLibrary, self / ".." / "lib" / kEngineLibrary, fs::path(kEngineLibrary)}) {
    handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle) break;
    absl::StrAppend(&errors, "\n  ", dlerror());
  }
  if (!handle) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot load the inference engine ", kEngineLibrary, ":", errors));
  }
  *library_handle = handle;
  auto create = reinterpret_cast<CreateEngineFn>(dlsym(handle, "anifarm_create_torch_engine"));
  if (!create) {
    return absl::FailedPreconditionError(
        absl::StrCat(kEngineLibrary, " has no anifarm_create_torch_engine"));
  }
  std::string error;
  std::unique_ptr<UpscalerEngine> engine(create(device.c_str(), &error));
  if (!engine) return absl::InvalidArgumentError(absl::StrCat("--device ", device, ": ", error));
  return engine;
}

absl::StatusOr<std::unique_ptr<EmbeddedFarm>> EmbeddedFarm::Start(
    const EmbeddedFarmOptions& options) {
  std::unique_ptr<EmbeddedFarm> farm(new EmbeddedFarm());
  farm->library_ = std::make_unique<EngineLibrary>();
  ASSIGN_OR_RETURN(farm->engine_, LoadEngine(options.device, &farm->library_->handle));
  CoordinatorOptions coordinator_options = options.coordinator;
  // Nothing but the worker below talks to this coordinator: the node of an
  // earlier run on the same --state-dir is gone.
  coordinator_options.in_process_nodes_only = true;
  ASSIGN_OR_RETURN(farm->coordinator_, Coordinator::Start(coordinator_options));
  farm->cache_dir_ = options.coordinator.state_dir + "/node-cache";
  return farm;
}

void EmbeddedFarm::StartWorker(std::set<std::string> job_ids) {
  if (worker_thread_.joinable()) return;
  source_ = std::make_unique<InProcessWorkSource>(coordinator_.get(), std::move(job_ids));
  NodeWorkerOptions worker_options;
  worker_options.cache_dir = cache_dir_;
  worker_options.hostname = "embedded";
  worker_options.idle_poll_ms = 100;
  worker_options.report_stopped_chunks = false;  // the job stays resumable
  worker_thread_ = std::thread([this, worker_options] {
    NodeWorker worker(source_.get(), engine_.get(), worker_options);
    worker.Run(stop_).IgnoreError();  // access control is off in-process
  });
}

EmbeddedFarm::~EmbeddedFarm() {
  stop_ = true;
  if (worker_thread_.joinable()) worker_thread_.join();
  coordinator_.reset();
  source_.reset();
  engine_.reset();  // before the library that holds its code is closed
}

}  // namespace anifarm
