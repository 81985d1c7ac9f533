// CoordinatorService: the gRPC face of the Coordinator. Translation plus
// authentication: each call's caller is established from its bearer token or
// client certificate (access_control.h), client calls go through ClientApi
// (which enforces roles and job ownership), node calls are checked against
// the node's registered principal; then absl::Status is mapped onto the
// matching grpc::StatusCode. No farm logic lives here.
#ifndef ANIFARM_COORDINATOR_SERVICE_H_
#define ANIFARM_COORDINATOR_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "common/grpc_client.h"
#include "coordinator/access_control.h"
#include "coordinator/coordinator.h"
#include "protos/anifarm.grpc.pb.h"

namespace anifarm {

// Frames and chunk payloads are large; gRPC's 4 MiB default is not enough.
inline constexpr int kMaxMessageBytes = kMaxGrpcMessageBytes;

grpc::Status ToGrpcStatus(const absl::Status& status);

class CoordinatorService final : public v1::Coordinator::Service {
 public:
  // `access` (not owned) decides who may call; a default AccessControl lets
  // everyone do everything.
  CoordinatorService(Coordinator* coordinator, const AccessControl* access)
      : coordinator_(coordinator), access_(access) {}

  grpc::Status SubmitJob(grpc::ServerContext*, const v1::SubmitJobRequest* request,
                         v1::SubmitJobResponse* response) override;
  grpc::Status GetJob(grpc::ServerContext*, const v1::GetJobRequest* request,
                      v1::JobStatus* response) override;
  grpc::Status ListJobs(grpc::ServerContext*, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext*, const v1::JobActionRequest* request,
                         v1::JobActionResponse* response) override;
  grpc::Status PauseJob(grpc::ServerContext*, const v1::JobActionRequest* request,
                        v1::JobActionResponse* response) override;
  grpc::Status ResumeJob(grpc::ServerContext*, const v1::JobActionRequest* request,
                         v1::JobActionResponse* response) override;
  grpc::Status RetryJob(grpc::ServerContext*, const v1::JobActionRequest* request,
                        v1::JobActionResponse* response) override;
  grpc::Status ListChunks(grpc::ServerContext*, const v1::ListChunksRequest* request,
                          v1::ListChunksResponse* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::JobEvent>* writer) override;
  grpc::Status ListNodes(grpc::ServerContext*, const v1::ListNodesRequest* request,
                         v1::ListNodesResponse* response) override;
  grpc::Status ListModels(grpc::ServerContext*, const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override;
  grpc::Status SeriesCache(grpc::ServerContext* context, const v1::SeriesCacheRequest* request,
                           v1::SeriesCacheInfo* response) override;
  grpc::Status UploadInput(grpc::ServerContext* context,
                           grpc::ServerReader<v1::UploadChunk>* reader,
                           v1::UploadResponse* response) override;
  grpc::Status DownloadOutput(grpc::ServerContext* context, const v1::DownloadRequest* request,
                              grpc::ServerWriter<v1::DownloadChunk>* writer) override;
  grpc::Status RegisterNode(grpc::ServerContext*, const v1::RegisterNodeRequest* request,
                            v1::RegisterNodeResponse* response) override;
  grpc::Status LeaseChunk(grpc::ServerContext*, const v1::LeaseChunkRequest* request,
                          v1::LeaseChunkResponse* response) override;
  grpc::Status CompleteChunk(grpc::ServerContext*, const v1::CompleteChunkRequest* request,
                             v1::CompleteChunkResponse* response) override;
  grpc::Status FailChunk(grpc::ServerContext*, const v1::FailChunkRequest* request,
                         v1::FailChunkResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override;
  grpc::Status FetchModel(grpc::ServerContext*, const v1::FetchModelRequest* request,
                          v1::FetchModelResponse* response) override;
  grpc::Status FetchFrames(grpc::ServerContext*, const v1::FetchFramesRequest* request,
                           v1::FetchFramesResponse* response) override;

 private:
  // Unauthenticated when the call carries no valid credentials.
  absl::StatusOr<Principal> Caller(const grpc::ServerContext* context) const;
  // The caller, when it is a node that registered `node_id` (or access
  // control is off); PermissionDenied otherwise.
  absl::Status CheckNode(const grpc::ServerContext* context, const std::string& node_id) const;

  Coordinator* coordinator_;      // not owned
  const AccessControl* access_;  // not owned
};

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_SERVICE_H_
