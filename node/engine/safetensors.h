// .safetensors checkpoints: an 8-byte little-endian header length, a JSON
// header {name: {"dtype", "shape", "data_offsets": [begin, end]}, optional
// "__metadata__"}, then the tensor bytes (offsets relative to their start).
// F32, F16 and BF16 tensors are read; every size and offset is checked
// against the file (no overlap, exact byte counts) before anything is
// copied.
#ifndef ANIFARM_NODE_ENGINE_SAFETENSORS_H_
#define ANIFARM_NODE_ENGINE_SAFETENSORS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "node/engine/pth_checkpoint.h"

namespace anifarm::engine {

// Tensors in header order, contiguous CPU tensors of the stored dtype, a
// "module." prefix common to all names stripped. InvalidArgument naming
// `source` for anything malformed.
absl::StatusOr<TensorMap> ParseSafetensors(absl::string_view bytes, absl::string_view source);

// Reads and parses the file at `path`.
absl::StatusOr<TensorMap> LoadSafetensors(const std::string& path);

// True when `head` (the first bytes of a file, at least 9) looks like a
// safetensors file: a plausible header length followed by '{'.
bool LooksLikeSafetensors(absl::string_view head);

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_SAFETENSORS_H_
