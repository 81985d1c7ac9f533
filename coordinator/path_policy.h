// PathPolicy: where a coordinator may read inputs and write outputs.
//
// A farm's coordinator runs with the rights of its service user; clients
// name paths on its disk. With roots configured (`--roots DIR[,DIR...]`),
// every input and every output must resolve inside one of them: `..` and
// symbolic links are resolved first, so neither can escape. Without roots
// (the default for `anifarm run` and a coordinator on loopback) any path the
// process can reach is allowed.
#ifndef ANIFARM_COORDINATOR_PATH_POLICY_H_
#define ANIFARM_COORDINATOR_PATH_POLICY_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace anifarm {

class PathPolicy {
 public:
  PathPolicy() = default;
  // Roots are resolved once (they must exist). InvalidArgument names a root
  // that does not exist or is not a folder.
  static absl::StatusOr<PathPolicy> WithRoots(const std::vector<std::string>& roots);

  bool restricted() const { return !roots_.empty(); }
  const std::vector<std::string>& roots() const { return roots_; }

  // OK when `path` (a file that may not exist yet; its folder must) resolves
  // inside a root. InvalidArgument (the CLI's exit 3, bad input) names the
  // path and the roots otherwise.
  absl::Status Check(const std::string& path) const;

 private:
  std::vector<std::string> roots_;  // canonical, without trailing slash
};

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_PATH_POLICY_H_
