#include "coordinator/service.h"

#include <chrono>
#include <thread>

#include "coordinator/job_watcher.h"
#include "coordinator/rpc_stats.h"

namespace anifarm {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

namespace {

// Stores a successful result with `store`; maps a failure onto gRPC.
template <typename Result, typename Store>
grpc::Status Reply(absl::StatusOr<Result> result, Store store) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  store(std::move(*result));
  return grpc::Status::OK;
}

}  // namespace

grpc::Status CoordinatorService::SubmitJob(grpc::ServerContext*,
                                           const v1::SubmitJobRequest* request,
                                           v1::SubmitJobResponse* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "SubmitJob");
  return Reply(coordinator_->SubmitJob(*request),
               [&](std::string id) { response->set_job_id(std::move(id)); });
}

grpc::Status CoordinatorService::GetJob(grpc::ServerContext*, const v1::GetJobRequest* request,
                                        v1::JobStatus* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "GetJob");
  return Reply(coordinator_->GetJob(request->job_id()),
               [&](v1::JobStatus job) { *response = std::move(job); });
}

grpc::Status CoordinatorService::ListJobs(grpc::ServerContext*, const v1::ListJobsRequest*,
                                          v1::ListJobsResponse* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "ListJobs");
  return Reply(coordinator_->ListJobs(), [&](std::vector<v1::JobStatus> jobs) {
    for (auto& job : jobs) *response->add_jobs() = std::move(job);
  });
}

#define ANIFARM_JOB_ACTION(Method)                                                      \
  grpc::Status CoordinatorService::Method(grpc::ServerContext*,                          \
                                          const v1::JobActionRequest* request,            \
                                          v1::JobActionResponse* response) {              \
    RpcTimer timer(coordinator_->rpc_stats(), #Method);                                  \
    return Reply(coordinator_->Method(request->job_id()),                                \
                 [&](v1::JobState state) { response->set_state(state); });               \
  }
ANIFARM_JOB_ACTION(CancelJob)
ANIFARM_JOB_ACTION(PauseJob)
ANIFARM_JOB_ACTION(ResumeJob)
ANIFARM_JOB_ACTION(RetryJob)
#undef ANIFARM_JOB_ACTION

grpc::Status CoordinatorService::WatchJob(grpc::ServerContext* context,
                                          const v1::WatchJobRequest* request,
                                          grpc::ServerWriter<v1::JobEvent>* writer) {
  RpcTimer timer(coordinator_->rpc_stats(), "WatchJob");
  JobWatcher watcher(coordinator_, request->job_id());
  while (!context->IsCancelled()) {
    absl::StatusOr<std::vector<v1::JobEvent>> events = watcher.Poll();
    if (!events.ok()) return ToGrpcStatus(events.status());
    for (const v1::JobEvent& event : *events) {
      if (!writer->Write(event)) return grpc::Status::OK;  // the client went away
    }
    if (watcher.finished()) return grpc::Status::OK;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return grpc::Status::CANCELLED;
}

grpc::Status CoordinatorService::ListChunks(grpc::ServerContext*,
                                            const v1::ListChunksRequest* request,
                                            v1::ListChunksResponse* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "ListChunks");
  return Reply(coordinator_->ListChunks(request->job_id()), [&](std::vector<v1::ChunkInfo> c) {
    for (auto& chunk : c) *response->add_chunks() = std::move(chunk);
  });
}

grpc::Status CoordinatorService::ListNodes(grpc::ServerContext*, const v1::ListNodesRequest*,
                                           v1::ListNodesResponse* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "ListNodes");
  return Reply(coordinator_->ListNodes(), [&](std::vector<v1::NodeInfo> nodes) {
    for (auto& node : nodes) *response->add_nodes() = std::move(node);
  });
}

grpc::Status CoordinatorService::ListModels(grpc::ServerContext*, const v1::ListModelsRequest*,
                                            v1::ListModelsResponse* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "ListModels");
  for (auto& model : coordinator_->ListModels()) *response->add_models() = std::move(model);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::RegisterNode(grpc::ServerContext*,
                                              const v1::RegisterNodeRequest* request,
                                              v1::RegisterNodeResponse* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "RegisterNode");
  return Reply(coordinator_->RegisterNode(*request),
               [&](v1::RegisterNodeResponse r) { *response = std::move(r); });
}

grpc::Status CoordinatorService::LeaseChunk(grpc::ServerContext*,
                                            const v1::LeaseChunkRequest* request,
                                            v1::LeaseChunkResponse* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "LeaseChunk");
  return Reply(coordinator_->LeaseChunk(*request),
               [&](v1::LeaseChunkResponse r) { *response = std::move(r); });
}

grpc::Status CoordinatorService::CompleteChunk(grpc::ServerContext*,
                                               const v1::CompleteChunkRequest* request,
                                               v1::CompleteChunkResponse*) {
  RpcTimer timer(coordinator_->rpc_stats(), "CompleteChunk");
  return ToGrpcStatus(coordinator_->CompleteChunk(*request));
}

grpc::Status CoordinatorService::FailChunk(grpc::ServerContext*,
                                           const v1::FailChunkRequest* request,
                                           v1::FailChunkResponse*) {
  RpcTimer timer(coordinator_->rpc_stats(), "FailChunk");
  return ToGrpcStatus(coordinator_->FailChunk(*request));
}

grpc::Status CoordinatorService::Heartbeat(grpc::ServerContext*,
                                           const v1::HeartbeatRequest* request,
                                           v1::HeartbeatResponse* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "Heartbeat");
  return Reply(coordinator_->Heartbeat(*request),
               [&](v1::HeartbeatResponse r) { *response = std::move(r); });
}

grpc::Status CoordinatorService::FetchModel(grpc::ServerContext*,
                                            const v1::FetchModelRequest* request,
                                            v1::FetchModelResponse* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "FetchModel");
  return Reply(coordinator_->FetchModel(*request),
               [&](v1::FetchModelResponse r) { *response = std::move(r); });
}

}  // namespace anifarm
