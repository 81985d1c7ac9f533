// Checked access to the tensors of a state dict for one architecture, shared
// by the networks that read many differently shaped tensors (OmniSR, SPAN,
// RealPLKSR):
//  - every lookup names the key, and the expected and actual shapes, in its
//    error, so a corrupt or truncated file says which tensor is wrong;
//  - the tensors are converted to the network's device and dtype as they
//    are read (or left as they are, for detection alone);
//  - the keys never read are reported at the end: a stray key means a
//    variant the forward pass would silently get wrong.
#ifndef ANIFARM_NODE_ENGINE_WEIGHT_READER_H_
#define ANIFARM_NODE_ENGINE_WEIGHT_READER_H_

#include <torch/types.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "node/engine/pth_checkpoint.h"

namespace anifarm::engine {

class WeightReader {
 public:
  // Any dimension of an expected shape may be kAny.
  static constexpr int64_t kAny = -1;

  // `weights` must outlive the reader. `architecture` names the family in
  // errors ("OmniSR"). Without `device` the tensors are returned as saved.
  WeightReader(const TensorMap& weights, absl::string_view source, absl::string_view architecture,
               std::optional<torch::Device> device = std::nullopt,
               torch::ScalarType dtype = torch::kFloat32);

  bool Has(const std::string& name) const { return index_.count(name) != 0; }
  // The saved shape of `name` (empty when missing); does not mark it read.
  std::vector<int64_t> Shape(const std::string& name) const;
  // Largest N such that some key starts with "<prefix>.N." plus one, 0 when
  // none does (the length of an nn.Sequential / ModuleList).
  int SequenceLength(const std::string& prefix) const;

  // The tensor `name`, which must have `shape`, converted to the device and
  // dtype. InvalidArgument naming the source, the key and the shapes.
  absl::StatusOr<torch::Tensor> Get(const std::string& name, const std::vector<int64_t>& shape);
  // Marks `name` read without returning it (a tensor the network recomputes
  // or does not need); its shape is still checked when it is present.
  absl::Status Skip(const std::string& name, const std::vector<int64_t>& shape);

  // Marks every key ending with `suffix` read (profiler junk such as
  // "total_ops" that some training scripts leave in the state dict).
  void IgnoreKeysEndingWith(absl::string_view suffix);

  // An error for the architecture, naming the source: "<source>: not a
  // supported <architecture> state dict (<why>)".
  absl::Status Error(absl::string_view why) const;
  // Error listing the keys never read, or OK.
  absl::Status CheckAllRead() const;

 private:
  absl::StatusOr<const torch::Tensor*> Find(const std::string& name, const std::vector<int64_t>& shape);

  const std::string source_;
  const std::string architecture_;
  const std::optional<torch::Device> device_;
  const torch::ScalarType dtype_;
  std::map<std::string, const torch::Tensor*> index_;
  std::vector<std::string> order_;  // keys as saved, for the unread list
  std::set<std::string> read_;
};

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_WEIGHT_READER_H_
