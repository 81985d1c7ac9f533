// Content hashes (libavutil's SHA-256 and MD5): model files, frame PNGs and
// chunk results are identified and verified by these.
#ifndef ANIFARM_COMMON_HASHING_H_
#define ANIFARM_COMMON_HASHING_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace anifarm {

// Lowercase hex SHA-256 of a file. NotFound naming the file if unreadable.
absl::StatusOr<std::string> Sha256OfFile(const std::string& path);
// SHA-256 of the files' bytes concatenated in order (a model made of
// several files, e.g. ncnn's .param then .bin), read in blocks.
absl::StatusOr<std::string> Sha256OfFiles(const std::vector<std::string>& paths);

// Lowercase hex SHA-256 / MD5 of a byte string.
std::string Sha256Hex(std::string_view data);
std::string Md5Hex(std::string_view data);

}  // namespace anifarm

#endif  // ANIFARM_COMMON_HASHING_H_
