// The coordinator's transport security: TLS server credentials from PEM
// files, and which listen addresses count as private to this machine.
#ifndef ANIFARM_COORDINATOR_SERVER_CREDENTIALS_H_
#define ANIFARM_COORDINATOR_SERVER_CREDENTIALS_H_

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace anifarm {

// TLS with `cert_file`/`key_file`. With `client_ca_file`, clients are asked
// for a certificate and one they present must be signed by that CA (nodes
// use mutual TLS); clients without one still connect and must bring a
// token. InvalidArgument names a file that cannot be read.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const std::string& cert_file, const std::string& key_file, const std::string& client_ca_file);

// True for HOST:PORT whose host is a loopback address (127.0.0.0/8, ::1,
// localhost): only this machine can connect. "0.0.0.0", "[::]", a LAN
// address or a host name are not.
bool IsLoopbackAddress(const std::string& address);

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_SERVER_CREDENTIALS_H_
