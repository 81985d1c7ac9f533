#include "coordinator/service.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string_view>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "coordinator/client_api.h"
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

std::string_view View(const grpc::string_ref& ref) { return {ref.data(), ref.size()}; }

}  // namespace

absl::StatusOr<Principal> CoordinatorService::Caller(const grpc::ServerContext* context) const {
  std::optional<std::string_view> token;
  const auto& metadata = context->client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    token = BearerToken(View(it->second));
    if (!token) return absl::UnauthenticatedError("authorization is not `Bearer TOKEN`");
  }
  // Present only when the peer's certificate was verified against the
  // --tls-client-ca (mutual TLS).
  std::optional<std::string_view> certificate_name;
  std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  if (auth && auth->IsPeerAuthenticated()) {
    std::vector<grpc::string_ref> names = auth->FindPropertyValues("x509_common_name");
    if (!names.empty()) certificate_name = View(names.front());
  }
  return access_->Authenticate(token, certificate_name, absl::ToUnixSeconds(absl::Now()));
}

absl::Status CoordinatorService::CheckNode(const grpc::ServerContext* context,
                                           const std::string& node_id) const {
  ASSIGN_OR_RETURN(Principal caller, Caller(context));
  if (caller.unrestricted) return absl::OkStatus();
  if (!caller.IsNode()) {
    return absl::PermissionDeniedError(
        absl::StrCat(caller.name, " (", RoleName(caller.role), ") is not a node"));
  }
  if (node_id.empty()) return absl::OkStatus();  // RegisterNode
  ASSIGN_OR_RETURN(std::string owner, coordinator_->NodePrincipal(node_id));
  if (owner != caller.name) {
    return absl::PermissionDeniedError(absl::StrCat(
        caller.name, " may not act for node ", node_id, ", registered by another node"));
  }
  return absl::OkStatus();
}

// Each client call: the caller, then the same call on their ClientApi.
#define ANIFARM_CLIENT_API(context)                                             \
  absl::StatusOr<Principal> caller = Caller(context);                           \
  if (!caller.ok()) return ToGrpcStatus(caller.status());                       \
  ClientApi api(coordinator_, *std::move(caller))

grpc::Status CoordinatorService::SubmitJob(grpc::ServerContext* context,
                                           const v1::SubmitJobRequest* request,
                                           v1::SubmitJobResponse* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "SubmitJob");
  ANIFARM_CLIENT_API(context);
  return Reply(api.SubmitJob(*request),
               [&](std::string id) { response->set_job_id(std::move(id)); });
}

grpc::Status CoordinatorService::GetJob(grpc::ServerContext* context,
                                        const v1::GetJobRequest* request,
                                        v1::JobStatus* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "GetJob");
  ANIFARM_CLIENT_API(context);
  return Reply(api.GetJob(request->job_id()),
               [&](v1::JobStatus job) { *response = std::move(job); });
}

grpc::Status CoordinatorService::ListJobs(grpc::ServerContext* context,
                                          const v1::ListJobsRequest*,
                                          v1::ListJobsResponse* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "ListJobs");
  ANIFARM_CLIENT_API(context);
  return Reply(api.ListJobs(), [&](std::vector<v1::JobStatus> jobs) {
    for (auto& job : jobs) *response->add_jobs() = std::move(job);
  });
}

#define ANIFARM_JOB_ACTION(Method, action)                                             \
  grpc::Status CoordinatorService::Method(grpc::ServerContext* context,                 \
                                          const v1::JobActionRequest* request,          \
                                          v1::JobActionResponse* response) {            \
    RpcTimer timer(coordinator_->rpc_stats(), #Method);                                \
    ANIFARM_CLIENT_API(context);                                                       \
    return Reply(api.Act(action, request->job_id()),                                   \
                 [&](v1::JobState state) { response->set_state(state); });             \
  }
ANIFARM_JOB_ACTION(CancelJob, "cancel")
ANIFARM_JOB_ACTION(PauseJob, "pause")
ANIFARM_JOB_ACTION(ResumeJob, "resume")
ANIFARM_JOB_ACTION(RetryJob, "retry")
#undef ANIFARM_JOB_ACTION

grpc::Status CoordinatorService::WatchJob(grpc::ServerContext* context,
                                          const v1::WatchJobRequest* request,
                                          grpc::ServerWriter<v1::JobEvent>* writer) {
  RpcTimer timer(coordinator_->rpc_stats(), "WatchJob");
  ANIFARM_CLIENT_API(context);
  if (absl::Status allowed = api.CheckCanWatch(request->job_id()); !allowed.ok()) {
    return ToGrpcStatus(allowed);
  }
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

grpc::Status CoordinatorService::ListChunks(grpc::ServerContext* context,
                                            const v1::ListChunksRequest* request,
                                            v1::ListChunksResponse* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "ListChunks");
  ANIFARM_CLIENT_API(context);
  return Reply(api.ListChunks(request->job_id()), [&](std::vector<v1::ChunkInfo> c) {
    for (auto& chunk : c) *response->add_chunks() = std::move(chunk);
  });
}

grpc::Status CoordinatorService::ListNodes(grpc::ServerContext* context,
                                           const v1::ListNodesRequest*,
                                           v1::ListNodesResponse* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "ListNodes");
  ANIFARM_CLIENT_API(context);
  return Reply(api.ListNodes(), [&](std::vector<v1::NodeInfo> nodes) {
    for (auto& node : nodes) *response->add_nodes() = std::move(node);
  });
}

grpc::Status CoordinatorService::SeriesCache(grpc::ServerContext* context,
                                             const v1::SeriesCacheRequest* request,
                                             v1::SeriesCacheInfo* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "SeriesCache");
  ANIFARM_CLIENT_API(context);
  return Reply(api.SeriesCache(request->clear()),
               [&](v1::SeriesCacheInfo info) { *response = std::move(info); });
}

grpc::Status CoordinatorService::ListModels(grpc::ServerContext* context,
                                            const v1::ListModelsRequest*,
                                            v1::ListModelsResponse* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "ListModels");
  ANIFARM_CLIENT_API(context);
  return Reply(api.ListModels(), [&](std::vector<v1::ModelInfo> models) {
    for (auto& model : models) *response->add_models() = std::move(model);
  });
}
grpc::Status CoordinatorService::UploadInput(grpc::ServerContext* context,
                                             grpc::ServerReader<v1::UploadChunk>* reader,
                                             v1::UploadResponse* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "UploadInput");
  ANIFARM_CLIENT_API(context);
  v1::UploadChunk chunk;
  if (!reader->Read(&chunk)) return ToGrpcStatus(absl::InvalidArgumentError("empty upload"));
  // Refused on the first message, before the file's bytes are taken in.
  absl::StatusOr<std::unique_ptr<UploadWriter>> upload =
      api.BeginUpload(chunk.file_name(), chunk.size_bytes());
  if (!upload.ok()) return ToGrpcStatus(upload.status());
  do {
    if (absl::Status written = (*upload)->Append(chunk.data()); !written.ok()) {
      return ToGrpcStatus(written);
    }
  } while (reader->Read(&chunk));
  absl::StatusOr<std::string> path = (*upload)->Finish();
  if (!path.ok()) return ToGrpcStatus(path.status());
  response->set_path(*path);
  response->set_sha256((*upload)->sha256());
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::DownloadOutput(grpc::ServerContext* context,
                                                const v1::DownloadRequest* request,
                                                grpc::ServerWriter<v1::DownloadChunk>* writer) {
  RpcTimer timer(coordinator_->rpc_stats(), "DownloadOutput");
  ANIFARM_CLIENT_API(context);
  absl::StatusOr<std::string> path = api.OutputFile(request->job_id());
  if (!path.ok()) return ToGrpcStatus(path.status());
  std::ifstream in(*path, std::ios::binary);
  std::error_code ec;
  const auto size = static_cast<int64_t>(std::filesystem::file_size(*path, ec));
  if (!in || ec) return ToGrpcStatus(absl::NotFoundError(*path + ": cannot read"));
  constexpr size_t kPiece = 1 << 20;
  std::string buffer(kPiece, '\0');
  v1::DownloadChunk chunk;
  chunk.set_size_bytes(size);
  do {
    in.read(buffer.data(), kPiece);
    chunk.set_data(buffer.data(), static_cast<size_t>(in.gcount()));
    if (!writer->Write(chunk)) return grpc::Status::CANCELLED;  // the client went away
    chunk.clear_size_bytes();
  } while (in && !context->IsCancelled());
  return grpc::Status::OK;
}
#undef ANIFARM_CLIENT_API

grpc::Status CoordinatorService::RegisterNode(grpc::ServerContext* context,
                                              const v1::RegisterNodeRequest* request,
                                              v1::RegisterNodeResponse* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "RegisterNode");
  absl::StatusOr<Principal> caller = Caller(context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (absl::Status node = CheckNode(context, ""); !node.ok()) return ToGrpcStatus(node);
  return Reply(coordinator_->RegisterNode(*request, caller->name),
               [&](v1::RegisterNodeResponse r) { *response = std::move(r); });
}

// Node calls: only the principal that registered the node id may use it.
#define ANIFARM_CHECK_NODE(context, node_id)                                      \
  if (absl::Status node = CheckNode(context, node_id); !node.ok()) {               \
    return ToGrpcStatus(node);                                                    \
  }

grpc::Status CoordinatorService::LeaseChunk(grpc::ServerContext* context,
                                            const v1::LeaseChunkRequest* request,
                                            v1::LeaseChunkResponse* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "LeaseChunk");
  ANIFARM_CHECK_NODE(context, request->node_id());
  return Reply(coordinator_->LeaseChunk(*request),
               [&](v1::LeaseChunkResponse r) { *response = std::move(r); });
}

grpc::Status CoordinatorService::CompleteChunk(grpc::ServerContext* context,
                                               const v1::CompleteChunkRequest* request,
                                               v1::CompleteChunkResponse*) {
  RpcTimer timer(coordinator_->rpc_stats(), "CompleteChunk");
  ANIFARM_CHECK_NODE(context, request->node_id());
  return ToGrpcStatus(coordinator_->CompleteChunk(*request));
}

grpc::Status CoordinatorService::FailChunk(grpc::ServerContext* context,
                                           const v1::FailChunkRequest* request,
                                           v1::FailChunkResponse*) {
  RpcTimer timer(coordinator_->rpc_stats(), "FailChunk");
  ANIFARM_CHECK_NODE(context, request->node_id());
  return ToGrpcStatus(coordinator_->FailChunk(*request));
}

grpc::Status CoordinatorService::Heartbeat(grpc::ServerContext* context,
                                           const v1::HeartbeatRequest* request,
                                           v1::HeartbeatResponse* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "Heartbeat");
  ANIFARM_CHECK_NODE(context, request->node_id());
  return Reply(coordinator_->Heartbeat(*request),
               [&](v1::HeartbeatResponse r) { *response = std::move(r); });
}

grpc::Status CoordinatorService::FetchModel(grpc::ServerContext* context,
                                            const v1::FetchModelRequest* request,
                                            v1::FetchModelResponse* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "FetchModel");
  ANIFARM_CHECK_NODE(context, "");
  return Reply(coordinator_->FetchModel(*request),
               [&](v1::FetchModelResponse r) { *response = std::move(r); });
}

grpc::Status CoordinatorService::FetchFrames(grpc::ServerContext* context,
                                             const v1::FetchFramesRequest* request,
                                             v1::FetchFramesResponse* response) {
  RpcTimer timer(coordinator_->rpc_stats(), "FetchFrames");
  ANIFARM_CHECK_NODE(context, request->node_id());
  return Reply(coordinator_->FetchFrames(*request),
               [&](v1::FetchFramesResponse r) { *response = std::move(r); });
}
#undef ANIFARM_CHECK_NODE

}  // namespace anifarm
