#include "node/engine/legacy_checkpoint.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace anifarm::engine {
namespace {

// torch.serialization.MAGIC_NUMBER, as the little-endian bytes of LONG1.
constexpr char kMagic[] = "\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
constexpr size_t kMagicSize = 10;
constexpr int64_t kProtocolVersion = 1001;

absl::Status Invalid(absl::string_view source, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": legacy checkpoint: ", what));
}

// The magic-number pickle holds an 80-bit integer, wider than the VM's
// int64, so it is matched byte for byte: PROTO n [FRAME len] LONG1 10 <magic>
// STOP. Returns its length, or 0 when `data` does not start with it.
size_t MatchMagicPickle(absl::string_view data) {
  size_t pos = 0;
  if (data.size() < 2 || static_cast<uint8_t>(data[0]) != 0x80 || static_cast<uint8_t>(data[1]) < 2 ||
      static_cast<uint8_t>(data[1]) > 5) {
    return 0;
  }
  pos = 2;
  if (data.size() > pos && static_cast<uint8_t>(data[pos]) == 0x95) pos += 9;  // FRAME + u64
  if (data.size() < pos + 2 + kMagicSize + 1) return 0;
  if (static_cast<uint8_t>(data[pos]) != 0x8a || static_cast<uint8_t>(data[pos + 1]) != kMagicSize) return 0;
  pos += 2;
  if (std::memcmp(data.data() + pos, kMagic, kMagicSize) != 0) return 0;
  pos += kMagicSize;
  if (data[pos] != '.') return 0;
  return pos + 1;
}

// Runs the next pickle of the stream at *pos and advances past it.
absl::StatusOr<PickleDocument> NextPickle(absl::string_view data, size_t* pos, absl::string_view source) {
  size_t consumed = 0;
  // The label makes VM errors say which pickle of the stream failed.
  const std::string label = absl::StrCat(source, ": legacy checkpoint, pickle at file offset ", *pos);
  ASSIGN_OR_RETURN(PickleDocument doc, ParsePickle(data.substr(*pos), label, &consumed));
  *pos += consumed;
  if (doc.root == nullptr) return Invalid(source, "empty pickle");
  return doc;
}

struct StorageInfo {
  DType dtype;
  int64_t numel;
};
using StorageInfoMap = std::map<std::string, StorageInfo>;

// Every storage the main pickle declared (also those of non-tensor entries:
// their bytes follow too and must be skipped by size). A key declared twice
// must agree with itself.
absl::StatusOr<StorageInfoMap> DeclaredStorages(const PickleDocument& doc, absl::string_view source) {
  StorageInfoMap out;
  for (const auto& value : doc.arena) {
    if (value->kind != PickleValue::Kind::kStorage) continue;
    const TensorRecord& r = value->tensor;
    auto [it, inserted] = out.emplace(r.storage_key, StorageInfo{r.dtype, r.storage_numel});
    if (!inserted && (it->second.dtype != r.dtype || it->second.numel != r.storage_numel)) {
      return Invalid(source, absl::StrCat("storage ", r.storage_key, " is declared with two types or sizes"));
    }
  }
  return out;
}

}  // namespace

bool LooksLikeLegacyCheckpoint(absl::string_view head) {
  // PROTO n, then (after an optional FRAME) LONG1: enough to tell the format
  // from a zip or safetensors file before reading the whole file.
  if (head.size() < 4 || static_cast<uint8_t>(head[0]) != 0x80) return false;
  const size_t at = static_cast<uint8_t>(head[2]) == 0x95 ? 11 : 2;
  return head.size() > at && static_cast<uint8_t>(head[at]) == 0x8a;
}

absl::StatusOr<LegacyCheckpoint> ParseLegacyCheckpoint(absl::string_view data, absl::string_view source) {
  size_t pos = MatchMagicPickle(data);
  if (pos == 0) return Invalid(source, "bad magic number (not a torch.save file, or truncated)");

  ASSIGN_OR_RETURN(PickleDocument version, NextPickle(data, &pos, source));
  if (version.root->kind != PickleValue::Kind::kInt || version.root->int_value != kProtocolVersion) {
    return Invalid(source, "unsupported serialization protocol version (expected 1001)");
  }
  ASSIGN_OR_RETURN(PickleDocument sys_info, NextPickle(data, &pos, source));
  const PickleValue* little = sys_info.root->FindInDict("little_endian");
  if (little == nullptr || little->kind != PickleValue::Kind::kBool) {
    return Invalid(source, "sys_info without little_endian");
  }
  if (!little->bool_value) return Invalid(source, "saved on a big-endian machine (not supported)");

  ASSIGN_OR_RETURN(PickleDocument main, NextPickle(data, &pos, source));
  ASSIGN_OR_RETURN(StorageInfoMap declared, DeclaredStorages(main, source));
  LegacyCheckpoint out;
  ASSIGN_OR_RETURN(out.records, ExtractStateDict(main, source));

  ASSIGN_OR_RETURN(PickleDocument keys, NextPickle(data, &pos, source));
  if (keys.root->kind != PickleValue::Kind::kList) return Invalid(source, "storage key list is not a list");
  for (const PickleValue* key : keys.root->items) {
    if (key->kind != PickleValue::Kind::kString) return Invalid(source, "storage key is not a string");
    auto info = declared.find(key->string_value);
    if (info == declared.end()) {
      return Invalid(source, absl::StrCat("storage ", key->string_value, " is listed but never declared"));
    }
    if (out.storages.count(key->string_value) != 0) {
      return Invalid(source, absl::StrCat("storage ", key->string_value, " is listed twice"));
    }
    if (data.size() - pos < 8) {
      return Invalid(source, absl::StrCat("truncated at storage ", key->string_value, " (offset ", pos, ")"));
    }
    uint64_t raw = 0;
    for (int i = 7; i >= 0; --i) raw = (raw << 8) | static_cast<uint8_t>(data[pos + i]);
    pos += 8;
    const int64_t numel = static_cast<int64_t>(raw);
    if (numel != info->second.numel) {
      return Invalid(source, absl::StrCat("storage ", key->string_value, " holds ", numel,
                                          " elements but the pickle declared ", info->second.numel));
    }
    const uint64_t elem = DTypeSize(info->second.dtype);
    if (static_cast<uint64_t>(numel) > (data.size() - pos) / elem) {
      return Invalid(source, absl::StrCat("truncated in storage ", key->string_value, " (", numel, " ",
                                          DTypeName(info->second.dtype), " elements from offset ", pos,
                                          ", file ends at ", data.size(), ")"));
    }
    const size_t bytes = static_cast<size_t>(numel) * elem;
    out.storages.emplace(key->string_value, data.substr(pos, bytes));
    pos += bytes;
  }
  if (pos != data.size()) {
    return Invalid(source, absl::StrCat(data.size() - pos, " unexpected bytes after the last storage"));
  }
  for (const auto& [name, record] : out.records) {
    if (out.storages.count(record.storage_key) == 0) {
      return Invalid(source, absl::StrCat("tensor '", name, "' refers to storage ", record.storage_key,
                                          ", whose bytes are not in the file"));
    }
  }
  return out;
}

}  // namespace anifarm::engine
