// Client-side gRPC plumbing shared by the node and the CLI: one channel
// factory (message size limits raised for frames and chunk payloads) and the
// mapping of grpc::Status onto absl::Status.
#ifndef ANIFARM_COMMON_GRPC_CLIENT_H_
#define ANIFARM_COMMON_GRPC_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"

namespace anifarm {

inline constexpr int kMaxGrpcMessageBytes = 512 * 1024 * 1024;

std::shared_ptr<grpc::Channel> MakeCoordinatorChannel(const std::string& address);

// The codes line up one to one; the message names the coordinator address
// when it could not be reached.
absl::Status FromGrpcStatus(const grpc::Status& status, const std::string& address);

}  // namespace anifarm

#endif  // ANIFARM_COMMON_GRPC_CLIENT_H_
