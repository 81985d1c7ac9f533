// Whole-file reads and atomic writes: the one way AniFarm replaces a file
// (chunk payloads, upscaled frames, segments, frame maps, image outputs, the
// series cache), so a reader never sees half of one.
#ifndef ANIFARM_COMMON_FILE_UTIL_H_
#define ANIFARM_COMMON_FILE_UTIL_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace anifarm {

enum class Durability {
  kRename,  // atomic: the rename is the commit (intermediates a crash may redo)
  kFsync,   // also flushed to disk, file and folder (outputs users keep)
};

// Writes `bytes` to a fresh hidden temporary beside `path`
// (".<name>.<pid>-<n>.tmp", same folder, so the rename stays on one
// filesystem) and renames it over `path`. The temporary is removed on any
// failure; errors name the file.
absl::Status WriteFileAtomically(const std::string& path, std::string_view bytes,
                                 Durability durability = Durability::kRename);

// The whole file; NotFound naming it when it cannot be read.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

}  // namespace anifarm

#endif  // ANIFARM_COMMON_FILE_UTIL_H_
