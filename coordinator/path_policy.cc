#include "coordinator/path_policy.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace anifarm {

namespace fs = std::filesystem;

absl::StatusOr<PathPolicy> PathPolicy::WithRoots(const std::vector<std::string>& roots) {
  PathPolicy policy;
  for (const std::string& root : roots) {
    if (root.empty()) continue;
    std::error_code ec;
    const fs::path canonical = fs::canonical(root, ec);
    if (ec || !fs::is_directory(canonical, ec)) {
      return absl::InvalidArgumentError(absl::StrCat("--roots: ", root, " is not a folder"));
    }
    policy.roots_.push_back(canonical.string());
  }
  return policy;
}

absl::Status PathPolicy::Check(const std::string& path) const {
  if (roots_.empty()) return absl::OkStatus();
  std::error_code ec;
  // weakly_canonical resolves every symlink and `..` of the part that
  // exists; an output file that does not exist yet keeps its last name.
  const fs::path resolved = fs::weakly_canonical(fs::absolute(path, ec), ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot resolve: ", ec.message()));
  const std::string text = resolved.string();
  for (const std::string& root : roots_) {
    if (text.size() > root.size() && text.compare(0, root.size(), root) == 0 &&
        text[root.size()] == '/') {
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path, " is outside the coordinator's roots (", absl::StrJoin(roots_, ", "), ")"));
}

}  // namespace anifarm
