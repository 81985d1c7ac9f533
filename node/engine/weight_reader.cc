#include "node/engine/weight_reader.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace anifarm::engine {
namespace {

constexpr size_t kMaxKeysInError = 8;

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::vector<std::string> dims;
  for (int64_t d : shape) dims.push_back(d == WeightReader::kAny ? "*" : absl::StrCat(d));
  return absl::StrCat("[", absl::StrJoin(dims, ","), "]");
}

bool Matches(const torch::Tensor& t, const std::vector<int64_t>& shape) {
  if (t.dim() != static_cast<int64_t>(shape.size())) return false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] != WeightReader::kAny && t.size(static_cast<int64_t>(i)) != shape[i]) return false;
  }
  return true;
}

}  // namespace

WeightReader::WeightReader(const TensorMap& weights, absl::string_view source, absl::string_view architecture,
                           std::optional<torch::Device> device, torch::ScalarType dtype)
    : source_(source), architecture_(architecture), device_(device), dtype_(dtype) {
  for (const auto& [name, tensor] : weights) {
    if (index_.emplace(name, &tensor).second) order_.push_back(name);
  }
}

std::vector<int64_t> WeightReader::Shape(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? std::vector<int64_t>{} : it->second->sizes().vec();
}

int WeightReader::SequenceLength(const std::string& prefix) const {
  int length = 0;
  const std::string start = prefix + ".";
  for (auto it = index_.lower_bound(start); it != index_.end() && absl::StartsWith(it->first, start); ++it) {
    absl::string_view rest = absl::string_view(it->first).substr(start.size());
    int n = 0;
    if (absl::SimpleAtoi(rest.substr(0, rest.find('.')), &n) && n >= 0) length = std::max(length, n + 1);
  }
  return length;
}

absl::Status WeightReader::Error(absl::string_view why) const {
  return absl::InvalidArgumentError(
      absl::StrCat(source_, ": not a supported ", architecture_, " state dict (", why, ")"));
}

absl::StatusOr<const torch::Tensor*> WeightReader::Find(const std::string& name,
                                                        const std::vector<int64_t>& shape) {
  auto it = index_.find(name);
  if (it == index_.end()) return Error(absl::StrCat("missing key ", name, ", expected shape ", ShapeString(shape)));
  if (!Matches(*it->second, shape)) {
    return Error(absl::StrCat(name, " has shape ", ShapeString(it->second->sizes().vec()), ", expected ",
                              ShapeString(shape)));
  }
  if (!it->second->is_floating_point()) {
    return Error(absl::StrCat(name, " is not a floating-point tensor"));
  }
  read_.insert(name);
  return it->second;
}

absl::StatusOr<torch::Tensor> WeightReader::Get(const std::string& name, const std::vector<int64_t>& shape) {
  absl::StatusOr<const torch::Tensor*> t = Find(name, shape);
  if (!t.ok()) return t.status();
  if (!device_.has_value()) return **t;
  try {
    return (*t)->to(*device_, dtype_).contiguous();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat(source_, ": cannot move ", name, " to ", device_->str(), ": ",
                                            e.what_without_backtrace()));
  }
}

absl::Status WeightReader::Skip(const std::string& name, const std::vector<int64_t>& shape) {
  if (!Has(name)) return absl::OkStatus();
  return Find(name, shape).status();
}

void WeightReader::IgnoreKeysEndingWith(absl::string_view suffix) {
  for (const std::string& name : order_) {
    if (absl::EndsWith(name, suffix)) read_.insert(name);
  }
}

absl::Status WeightReader::CheckAllRead() const {
  std::vector<std::string> unread;
  size_t count = 0;
  for (const std::string& name : order_) {
    if (read_.count(name) != 0) continue;
    if (++count <= kMaxKeysInError) unread.push_back(name);
  }
  if (count == 0) return absl::OkStatus();
  if (count > kMaxKeysInError) unread.push_back(absl::StrCat("... (", count, " in all)"));
  return Error(absl::StrCat("unexpected tensors: ", absl::StrJoin(unread, " ")));
}

}  // namespace anifarm::engine
