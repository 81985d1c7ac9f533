// Client-side gRPC plumbing shared by the node and the CLI: one channel
// factory (message size limits raised for frames and chunk payloads, TLS and
// a bearer token when configured) and the mapping of grpc::Status onto
// absl::Status.
#ifndef ANIFARM_COMMON_GRPC_CLIENT_H_
#define ANIFARM_COMMON_GRPC_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace anifarm {

inline constexpr int kMaxGrpcMessageBytes = 512 * 1024 * 1024;

// How a client proves who it is and checks who it talks to. Everything empty
// is plaintext without credentials, which a coordinator accepts only on
// loopback (or with its --insecure).
struct ChannelSecurity {
  // PEM file of the CA that signed the coordinator's certificate: set, the
  // channel is TLS. Empty with `tls` true: the system's trust store.
  std::string tls_ca_file;
  bool tls = false;
  // Client certificate and key (PEM) for mutual TLS (nodes).
  std::string tls_cert_file;
  std::string tls_key_file;
  // Bearer token sent with every call ("authorization: Bearer TOKEN").
  std::string token;
};

// Reads the PEM files named in `security`. InvalidArgument names a file that
// cannot be read or a certificate without its key.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeCoordinatorChannel(
    const std::string& address, const ChannelSecurity& security);
// Plaintext, no credentials (tests, the loopback default).
std::shared_ptr<grpc::Channel> MakeCoordinatorChannel(const std::string& address);

// The contents of a PEM file (certificate, key or CA), for the client's and
// the coordinator's TLS credentials. InvalidArgument names `flag` and the
// file when it cannot be read or holds no PEM block.
absl::StatusOr<std::string> ReadPemFile(const std::string& path, const char* flag);

// The first line of `path`, trimmed: a token kept in a file (mode 0600)
// rather than on a command line. InvalidArgument names an unreadable or
// empty file.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

// The codes line up one to one; the message names the coordinator address
// when it could not be reached.
absl::Status FromGrpcStatus(const grpc::Status& status, const std::string& address);

}  // namespace anifarm

#endif  // ANIFARM_COMMON_GRPC_CLIENT_H_
