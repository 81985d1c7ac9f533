// Splits a legacy (pre-1.6, non-zip) torch.save checkpoint into its state
// dict and storage bytes, without LibTorch and without running code: every
// pickle goes through the restricted VM of pickle_reader.h. The layout is
//
//   pickle  magic number 0x1950a86a20f9469cfc6c (a 10-byte LONG1)
//   pickle  protocol version (1001)
//   pickle  sys_info {protocol_version, little_endian, type_sizes}
//   pickle  the object (state dict); storages are persistent ids
//           ('storage', torch.<Type>Storage, key, location, numel, None)
//   pickle  list of the storage keys, in the order their bytes follow
//   for each key: int64 little-endian element count, then the raw bytes
//
// Every length and count is checked against the file and against what the
// pickle said, so truncated or corrupt files give InvalidArgument naming the
// file (the module is fuzzed with pickle_reader.cc).
#ifndef ANIFARM_NODE_ENGINE_LEGACY_CHECKPOINT_H_
#define ANIFARM_NODE_ENGINE_LEGACY_CHECKPOINT_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "node/engine/pickle_reader.h"

namespace anifarm::engine {

struct LegacyCheckpoint {
  StateDict records;
  // Storage key → its bytes (storage_numel × element size), pointing into
  // the `data` given to ParseLegacyCheckpoint (which must outlive this).
  std::map<std::string, absl::string_view> storages;
};

// True when `head` (the file's first bytes) starts like a legacy checkpoint:
// a protocol-2+ pickle whose first value is a LONG1 (the magic number).
bool LooksLikeLegacyCheckpoint(absl::string_view head);

// Parses the whole file `data`. `source_name` (the file) is named in every
// error.
absl::StatusOr<LegacyCheckpoint> ParseLegacyCheckpoint(absl::string_view data, absl::string_view source_name);

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_LEGACY_CHECKPOINT_H_
