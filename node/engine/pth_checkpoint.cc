#include "node/engine/pth_checkpoint.h"

#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <fstream>
#include <map>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
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

// Tells zip checkpoints from the legacy torch.save format (a bare pickle
// stream) and from files that are not checkpoints at all, so that the error
// says what is wrong rather than "failed finding central directory".
absl::Status CheckContainer(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open model file"));
  char magic[4] = {0, 0, 0, 0};
  in.read(magic, sizeof(magic));
  if (in.gcount() == 4 && std::memcmp(magic, "PK\x03\x04", 4) == 0) return absl::OkStatus();
  if (in.gcount() >= 1 && static_cast<unsigned char>(magic[0]) == 0x80) {
    return absl::InvalidArgumentError(
        absl::StrCat(path,
                     ": legacy (non-zip) PyTorch checkpoint format is not supported; re-save it with "
                     "torch.save from PyTorch >= 1.6"));
  }
  return absl::InvalidArgumentError(absl::StrCat(path, ": not a PyTorch zip checkpoint (.pth/.pt)"));
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

}  // namespace

const torch::Tensor* FindTensor(const TensorMap& weights, const std::string& name) {
  for (const auto& [key, tensor] : weights) {
    if (key == name) return &tensor;
  }
  return nullptr;
}

absl::StatusOr<TensorMap> LoadPthCheckpoint(const std::string& path) {
  RETURN_IF_ERROR(CheckContainer(path));
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    if (!reader.hasRecord("data.pkl")) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": zip has no data.pkl (a TorchScript archive?)"));
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

    // Storages may be shared by several tensors: read each record once.
    std::map<std::string, torch::Tensor> storages;
    TensorMap out;
    out.reserve(records.size());
    for (const auto& [name, record] : records) {
      const std::string record_name = absl::StrCat("data/", record.storage_key);
      auto it = storages.find(record.storage_key);
      if (it == storages.end()) {
        if (!reader.hasRecord(record_name)) {
          return absl::InvalidArgumentError(
              absl::StrCat(path, ": tensor '", name, "' refers to missing record ", record_name));
        }
        auto [data, size] = reader.getRecord(record_name);
        const int64_t elem = DTypeSize(record.dtype);
        if (record.storage_numel > static_cast<int64_t>(size) / elem) {
          return absl::InvalidArgumentError(absl::StrCat(path, ": record ", record_name, " holds ", size,
                                                         " bytes, fewer than its ", record.storage_numel, " ",
                                                         DTypeName(record.dtype), " elements"));
        }
        torch::Tensor storage =
            torch::empty({record.storage_numel}, torch::dtype(ToScalarType(record.dtype)));
        std::memcpy(storage.data_ptr(), data.get(), record.storage_numel * elem);
        it = storages.emplace(record.storage_key, std::move(storage)).first;
      }
      if (!ViewFits(record, it->second.numel())) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": tensor '", name, "' reaches outside its storage ", record_name));
      }
      torch::Tensor tensor = it->second.as_strided(record.sizes, record.strides, record.storage_offset)
                                 .clone(torch::MemoryFormat::Contiguous);
      out.emplace_back(name, std::move(tensor));
    }
    return out;
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot read checkpoint: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read checkpoint: ", e.what()));
  }
}

}  // namespace anifarm::engine
