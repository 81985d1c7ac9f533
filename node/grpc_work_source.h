// GrpcWorkSource: a WorkSource backed by a remote coordinator's gRPC API.
#ifndef ANIFARM_NODE_GRPC_WORK_SOURCE_H_
#define ANIFARM_NODE_GRPC_WORK_SOURCE_H_

#include <memory>
#include <string>

#include "node/work_source.h"
#include "protos/anifarm.grpc.pb.h"

namespace anifarm {

class GrpcWorkSource final : public WorkSource {
 public:
  // `channel` comes from MakeCoordinatorChannel (TLS and token included);
  // `address` names the coordinator in errors.
  GrpcWorkSource(const std::string& address, std::shared_ptr<grpc::Channel> channel);

  absl::StatusOr<v1::RegisterNodeResponse> RegisterNode(
      const v1::RegisterNodeRequest& request) override;
  absl::StatusOr<v1::LeaseChunkResponse> LeaseChunk(const v1::LeaseChunkRequest& request) override;
  absl::Status CompleteChunk(const v1::CompleteChunkRequest& request) override;
  absl::Status FailChunk(const v1::FailChunkRequest& request) override;
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request) override;
  absl::StatusOr<v1::FetchModelResponse> FetchModel(const v1::FetchModelRequest& request) override;
  absl::StatusOr<v1::FetchFramesResponse> FetchFrames(
      const v1::FetchFramesRequest& request) override;

 private:
  std::string address_;
  std::unique_ptr<v1::Coordinator::Stub> stub_;
};

}  // namespace anifarm

#endif  // ANIFARM_NODE_GRPC_WORK_SOURCE_H_
