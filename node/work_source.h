// WorkSource: where a node gets chunks from and returns results to. Two
// implementations: GrpcWorkSource (a remote coordinator) and, inside
// `anifarm run`, a direct call into an in-process Coordinator.
#ifndef ANIFARM_NODE_WORK_SOURCE_H_
#define ANIFARM_NODE_WORK_SOURCE_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "protos/anifarm.pb.h"

namespace anifarm {

class WorkSource {
 public:
  virtual ~WorkSource() = default;
  virtual absl::StatusOr<v1::RegisterNodeResponse> RegisterNode(
      const v1::RegisterNodeRequest& request) = 0;
  virtual absl::StatusOr<v1::LeaseChunkResponse> LeaseChunk(
      const v1::LeaseChunkRequest& request) = 0;
  virtual absl::Status CompleteChunk(const v1::CompleteChunkRequest& request) = 0;
  virtual absl::Status FailChunk(const v1::FailChunkRequest& request) = 0;
  virtual absl::StatusOr<v1::HeartbeatResponse> Heartbeat(
      const v1::HeartbeatRequest& request) = 0;
  virtual absl::StatusOr<v1::FetchModelResponse> FetchModel(
      const v1::FetchModelRequest& request) = 0;
  virtual absl::StatusOr<v1::FetchFramesResponse> FetchFrames(
      const v1::FetchFramesRequest& request) = 0;
};

}  // namespace anifarm

#endif  // ANIFARM_NODE_WORK_SOURCE_H_
