// A restricted, code-free reader for the pickles inside PyTorch checkpoints.
//
// torch.save() writes a zip whose "data.pkl" is a Python pickle describing
// nested dicts of tensors; the tensor bytes live in sibling "data/<key>"
// records. (The legacy pre-1.6 format, a stream of pickles followed by the
// raw storages, is split up by legacy_checkpoint.h and uses this VM too.)
// Unpickling with Python (or torch::pickle_load, which does not accept these
// files) would execute arbitrary callables named by the file, so
// this module implements just the pickle VM opcodes that torch.save emits and
// resolves GLOBAL references against an allow-list of harmless constructors
// (OrderedDict, torch._utils._rebuild_tensor[_v2], storage types...). Anything
// else is an error naming the global. Every read is bounds-checked so the
// reader is safe on hostile input (it is fuzzable: no LibTorch dependency).
//
// Typical use:
//   ASSIGN_OR_RETURN(PickleDocument doc, ParsePickle(bytes, "model.pth"));
//   ASSIGN_OR_RETURN(StateDict sd, ExtractStateDict(doc, "model.pth"));
#ifndef ANIFARM_NODE_ENGINE_PICKLE_READER_H_
#define ANIFARM_NODE_ENGINE_PICKLE_READER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace anifarm::engine {

// Element types of the storages torch.save writes.
enum class DType { kFloat32, kFloat16, kBFloat16, kFloat64, kInt64, kInt32, kInt16, kInt8, kUInt8, kBool };

// Bytes per element of `dtype`.
int DTypeSize(DType dtype);
// "float32", "float16", ...
const char* DTypeName(DType dtype);

// One tensor of the checkpoint: a strided view into the storage record
// "data/<storage_key>". Offsets, sizes and strides are in elements.
struct TensorRecord {
  std::string storage_key;
  DType dtype = DType::kFloat32;
  std::string location;       // "cpu", "cuda:0": where it was saved from
  int64_t storage_numel = 0;  // elements of the storage, as the pickle says
  int64_t storage_offset = 0;
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;

  int64_t numel() const;
};

// A value of the pickle VM. Values are owned by their PickleDocument's arena
// and refer to each other by raw pointer: a hostile pickle may build cycles
// (a list appended to itself), which an arena frees without leaking.
struct PickleValue {
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kBytes,
    kTuple,
    kList,
    kDict,
    kGlobal,
    kStorage,
    kTensor
  };

  Kind kind = Kind::kNone;
  bool bool_value = false;
  int64_t int_value = 0;
  double float_value = 0;
  std::string string_value;  // kString, kBytes; kGlobal: "module.name"
  // kTuple, kList: the items. kDict: alternating key, value (insertion order;
  // a later duplicate key wins when looked up with FindInDict).
  std::vector<const PickleValue*> items;
  TensorRecord tensor;  // kStorage (sizes empty) and kTensor

  // Dict lookup by string key; nullptr when absent or not a dict.
  const PickleValue* FindInDict(absl::string_view key) const;
};

// The result of running a pickle: the root object plus the arena owning it.
struct PickleDocument {
  std::vector<std::unique_ptr<PickleValue>> arena;
  const PickleValue* root = nullptr;
};

// Runs the restricted pickle VM over `data`. `source_name` (the file) is
// named in every error, which is InvalidArgument for malformed, truncated or
// forbidden content. The pickle ends at its STOP opcode: bytes after it are
// not read, and `consumed` (if not null) receives the pickle's length, which
// is where the next pickle of a legacy checkpoint starts.
absl::StatusOr<PickleDocument> ParsePickle(absl::string_view data, absl::string_view source_name,
                                           size_t* consumed = nullptr);

// A flat, ordered "name → tensor" state dict ("body.0.weight").
using StateDict = std::vector<std::pair<std::string, TensorRecord>>;

// Finds the weights in a parsed checkpoint: the first of the top-level keys
// params_ema, params, state_dict, model holding a dict, else the root dict
// itself. Nested dicts of tensors are flattened with "." joins, non-tensor
// entries (metadata, counters) are skipped, and a "module." prefix (from
// DataParallel) is stripped. InvalidArgument naming `source_name` when no
// tensor is found.
absl::StatusOr<StateDict> ExtractStateDict(const PickleDocument& doc, absl::string_view source_name);

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_PICKLE_READER_H_
