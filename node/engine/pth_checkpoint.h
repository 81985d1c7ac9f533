// Loads the weights of a PyTorch checkpoint into CPU tensors without running
// any Python code. Both torch.save formats are read:
//  - zip (PyTorch >= 1.6): the pickle goes through the restricted VM of
//    pickle_reader.h and the tensor bytes are read from the zip's
//    "data/<key>" records with caffe2::serialize::PyTorchStreamReader (which
//    accepts any top folder name, e.g. "net_g_30000/");
//  - legacy (before 1.6, a stream of pickles then raw storages): split up by
//    legacy_checkpoint.h, whose pickles go through the same VM.
#ifndef ANIFARM_NODE_ENGINE_PTH_CHECKPOINT_H_
#define ANIFARM_NODE_ENGINE_PTH_CHECKPOINT_H_

#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace anifarm::engine {

// Ordered "name → tensor" weights, as saved (e.g. "body.0.weight").
using TensorMap = std::vector<std::pair<std::string, torch::Tensor>>;

// Reads the state dict of the checkpoint at `path` (see ExtractStateDict for
// which top-level key is used). Tensors are contiguous CPU tensors of the
// saved dtype. InvalidArgument naming `path` for a missing, corrupt or
// code-carrying file (a TorchScript archive included).
absl::StatusOr<TensorMap> LoadPthCheckpoint(const std::string& path);

// True when `path` is a TorchScript archive (torch.jit.save: a zip with
// "code/" or "constants.pkl" records), which holds a program rather than a
// state dict and is loaded by torchscript_net.h instead.
bool IsTorchScriptArchive(const std::string& path);

// The tensor named `name`, or nullptr.
const torch::Tensor* FindTensor(const TensorMap& weights, const std::string& name);

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_PTH_CHECKPOINT_H_
