#include "node/engine/pth_checkpoint.h"

#include <caffe2/serialize/inline_container.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "node/engine/legacy_checkpoint.h"
#include "node/engine/pickle_reader.h"

namespace anifarm::engine {
namespace {

torch::ScalarType ToScalarType(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return torch::kFloat32;
    case DType::kFloat16:
      return torch::kFloat16;
    case DType::kBFloat16:
      return torch::kBFloat16;
    case DType::kFloat64:
      return torch::kFloat64;
    case DType::kInt64:
      return torch::kInt64;
    case DType::kInt32:
      return torch::kInt32;
    case DType::kInt16:
      return torch::kInt16;
    case DType::kInt8:
      return torch::kInt8;
    case DType::kUInt8:
      return torch::kUInt8;
    case DType::kBool:
      return torch::kBool;
  }
  return torch::kFloat32;
}

enum class Container { kZip, kLegacy };

// Tells zip checkpoints from the legacy torch.save format (a bare pickle
// stream) and from files that are not checkpoints at all, so that the error
// says what is wrong rather than "failed finding central directory".
absl::StatusOr<Container> DetectContainer(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open model file"));
  char head[16] = {0};
  in.read(head, sizeof(head));
  const absl::string_view bytes(head, static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  if (bytes.size() >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) return Container::kZip;
  if (LooksLikeLegacyCheckpoint(bytes)) return Container::kLegacy;
  return absl::InvalidArgumentError(absl::StrCat(path, ": not a PyTorch checkpoint (.pth/.pt)"));
}

// Checks that the strided view lies inside a storage of `storage_numel`
// elements; overflow-safe for hostile sizes.
bool ViewFits(const TensorRecord& r, int64_t storage_numel) {
  for (int64_t s : r.sizes) {
    if (s == 0) return true;  // empty tensor: touches nothing
  }
  int64_t last = r.storage_offset;
  for (size_t i = 0; i < r.sizes.size(); ++i) {
    int64_t span;
    if (__builtin_mul_overflow(r.sizes[i] - 1, r.strides[i], &span)) return false;
    if (__builtin_add_overflow(last, span, &last)) return false;
  }
  return last < storage_numel;
}

// torch.jit.save archives carry the module's code ("code/...") and
// constants next to data.pkl; a plain torch.save zip never does.
bool IsTorchScriptReader(caffe2::serialize::PyTorchStreamReader& reader) {
  if (reader.hasRecord("constants.pkl")) return true;
  for (const std::string& name : reader.getAllRecords()) {
    if (name.rfind("code/", 0) == 0) return true;
  }
  return false;
}

// Materialises each record as a contiguous tensor. `storage_bytes(key)`
// returns the bytes of a storage (or an error naming what is missing);
// storages shared by several tensors are read once.
absl::StatusOr<TensorMap> BuildTensors(
    const StateDict& records, const std::string& path,
    const std::function<absl::StatusOr<absl::string_view>(const std::string&)>& storage_bytes) {
  std::map<std::string, torch::Tensor> storages;
  TensorMap out;
  out.reserve(records.size());
  for (const auto& [name, record] : records) {
    auto it = storages.find(record.storage_key);
    if (it == storages.end()) {
      ASSIGN_OR_RETURN(absl::string_view bytes, storage_bytes(record.storage_key));
      const int64_t elem = DTypeSize(record.dtype);
      if (record.storage_numel > static_cast<int64_t>(bytes.size()) / elem) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": storage ", record.storage_key, " holds ", bytes.size(), " bytes, fewer than its ",
            record.storage_numel, " ", DTypeName(record.dtype), " elements"));
      }
      torch::Tensor storage = torch::empty({record.storage_numel}, torch::dtype(ToScalarType(record.dtype)));
      std::memcpy(storage.data_ptr(), bytes.data(), record.storage_numel * elem);
      it = storages.emplace(record.storage_key, std::move(storage)).first;
    }
    if (it->second.scalar_type() != ToScalarType(record.dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", name, "' reads storage ",
                                                     record.storage_key, " as another element type"));
    }
    if (!ViewFits(record, it->second.numel())) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor '", name, "' reaches outside its storage ", record.storage_key));
    }
    torch::Tensor tensor = it->second.as_strided(record.sizes, record.strides, record.storage_offset)
                               .clone(torch::MemoryFormat::Contiguous);
    out.emplace_back(name, std::move(tensor));
  }
  return out;
}

absl::StatusOr<TensorMap> LoadZipCheckpoint(const std::string& path) {
  caffe2::serialize::PyTorchStreamReader reader(path);
  if (IsTorchScriptReader(reader)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": a TorchScript archive, not a state dict (the engine loads it with torch::jit::load)"));
  }
  if (!reader.hasRecord("data.pkl")) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": zip has no data.pkl (not a torch.save checkpoint)"));
  }
  if (reader.hasRecord("byteorder")) {
    auto [bytes, size] = reader.getRecord("byteorder");
    std::string order(static_cast<const char*>(bytes.get()), size);
    if (order != "little") {
      return absl::InvalidArgumentError(absl::StrCat(path, ": unsupported byte order '", order, "'"));
    }
  }
  auto [pickle_bytes, pickle_size] = reader.getRecord("data.pkl");
  ASSIGN_OR_RETURN(
      PickleDocument doc,
      ParsePickle(absl::string_view(static_cast<const char*>(pickle_bytes.get()), pickle_size), path));
  ASSIGN_OR_RETURN(StateDict records, ExtractStateDict(doc, path));
  // BuildTensors copies each storage before asking for the next, so only
  // the latest record's buffer has to stay alive.
  at::DataPtr current;
  return BuildTensors(records, path, [&](const std::string& key) -> absl::StatusOr<absl::string_view> {
    const std::string record_name = absl::StrCat("data/", key);
    if (!reader.hasRecord(record_name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": a tensor refers to missing record ", record_name));
    }
    auto [data, size] = reader.getRecord(record_name);
    current = std::move(data);
    return absl::string_view(static_cast<const char*>(current.get()), size);
  });
}

absl::StatusOr<TensorMap> LoadLegacyCheckpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open model file"));
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSIGN_OR_RETURN(LegacyCheckpoint checkpoint, ParseLegacyCheckpoint(data, path));
  return BuildTensors(
      checkpoint.records, path, [&](const std::string& key) -> absl::StatusOr<absl::string_view> {
        auto it = checkpoint.storages.find(key);
        if (it == checkpoint.storages.end()) {
          return absl::InvalidArgumentError(absl::StrCat(path, ": storage ", key, " is not in the file"));
        }
        return it->second;
      });
}

}  // namespace

bool IsTorchScriptArchive(const std::string& path) {
  {
    std::ifstream in(path, std::ios::binary);
    char magic[4] = {0, 0, 0, 0};
    in.read(magic, sizeof(magic));
    if (in.gcount() != 4 || std::memcmp(magic, "PK\x03\x04", 4) != 0) return false;
  }
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    return IsTorchScriptReader(reader);
  } catch (const std::exception&) {
    return false;  // a broken zip: LoadPthCheckpoint will say what is wrong
  }
}

const torch::Tensor* FindTensor(const TensorMap& weights, const std::string& name) {
  for (const auto& [key, tensor] : weights) {
    if (key == name) return &tensor;
  }
  return nullptr;
}

absl::StatusOr<TensorMap> LoadPthCheckpoint(const std::string& path) {
  ASSIGN_OR_RETURN(Container container, DetectContainer(path));
  try {
    return container == Container::kZip ? LoadZipCheckpoint(path) : LoadLegacyCheckpoint(path);
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot read checkpoint: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read checkpoint: ", e.what()));
  }
}

}  // namespace anifarm::engine
