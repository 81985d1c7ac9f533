// AccessControl: who is calling the coordinator, and what they may do.
//
// Callers are identified by a bearer token ("authorization: Bearer TOKEN"
// metadata on gRPC, the Authorization header on the dashboard) or, for
// nodes, by a client certificate signed by the coordinator's --tls-client-ca
// (mutual TLS; the certificate's common name is the node's name).
//
// Tokens come from the file given to `anifarm-coordinator --tokens FILE`,
// one per line ('#' starts a comment):
//
//   # role      name     token (or sha256:HEX of it)   [expires, UTC]
//   admin       alice    sha256:2c26b46b68ffc68f...
//   submitter   bob      9c1f0e...                      2027-03-31T00:00:00Z
//   viewer      wall     b1d2...
//   node        gpu-01   7a3e...                        (a node enrollment token)
//
// Roles, from least to most:
//   viewer     reads every job, chunk map, node and model; changes nothing
//   submitter  submits jobs; reads, cancels, pauses, resumes and retries its
//              own jobs only; reads nodes and models
//   admin      everything a client can do, on every job
//   node       the work API only (register, lease, heartbeat, complete,
//              fail, fetch model), and only on leases of nodes it registered
//
// Without a token file, access control is off: every caller is an admin and
// a node (the single-user default on loopback; `anifarm run` too).
#ifndef ANIFARM_COORDINATOR_ACCESS_CONTROL_H_
#define ANIFARM_COORDINATOR_ACCESS_CONTROL_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace anifarm {

enum class Role { kViewer, kSubmitter, kAdmin, kNode };

const char* RoleName(Role role);

struct Principal {
  std::string name;
  Role role = Role::kAdmin;
  // True when access control is off: the caller may do anything, as node
  // and as admin.
  bool unrestricted = false;

  bool IsAdmin() const { return unrestricted || role == Role::kAdmin; }
  bool IsNode() const { return unrestricted || role == Role::kNode; }
  // May submit jobs (submitters and admins).
  bool CanSubmit() const { return IsAdmin() || role == Role::kSubmitter; }
  // Client-side reads (every role but node).
  bool CanView() const { return unrestricted || role != Role::kNode; }
  // May read / act on a job owned by `owner`.
  bool CanSee(const std::string& owner) const {
    return IsAdmin() || role == Role::kViewer || (role == Role::kSubmitter && owner == name);
  }
  bool CanChange(const std::string& owner) const {
    return IsAdmin() || (role == Role::kSubmitter && owner == name);
  }
};

class AccessControl {
 public:
  // Access control off: everyone is unrestricted.
  AccessControl() = default;
  // Parses a token file. InvalidArgument names the file and line at fault
  // (unknown role, missing field, bad expiry, a token listed twice).
  static absl::StatusOr<AccessControl> FromTokenFile(const std::string& path);

  bool enabled() const { return enabled_; }

  // Who is calling: from `bearer` (the token, without "Bearer ") or, when no
  // token was sent, a verified client certificate's common name (a node).
  // Unauthenticated for a missing, unknown or expired token. `now` is Unix
  // seconds.
  absl::StatusOr<Principal> Authenticate(std::optional<std::string_view> bearer,
                                         std::optional<std::string_view> certificate_name,
                                         int64_t now) const;

 private:
  struct Entry {
    std::string name;
    Role role;
    int64_t expires_at = 0;  // Unix seconds; 0 = never
  };
  bool enabled_ = false;
  std::map<std::string, Entry> by_token_sha256_;
};

// "Bearer TOKEN" → TOKEN; nullopt for anything else (or an empty value).
std::optional<std::string_view> BearerToken(std::string_view authorization_header);

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_ACCESS_CONTROL_H_
