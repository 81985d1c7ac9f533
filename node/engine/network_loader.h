// Reads a model file into a Network, whatever its format and architecture:
// the one place that maps files to network classes, shared by the engine's
// model cache and the tests that run every architecture.
//
// The format comes from the file: ncnn when named .param (its .bin next to
// it), safetensors when named so or when its first bytes say so,
// TorchScript when the zip holds code, a PyTorch checkpoint (zip or legacy
// pickle) otherwise (nodes store models as <sha>.pth). The architecture of
// a state dict comes from its key names and shapes, never from the file
// name.
#ifndef ANIFARM_NODE_ENGINE_NETWORK_LOADER_H_
#define ANIFARM_NODE_ENGINE_NETWORK_LOADER_H_

#include <torch/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "node/engine/network.h"

namespace anifarm::engine {

struct LoadedNetworkInfo {
  // The architecture family: SRVGGNetCompact, RRDBNet, OmniSR, SPAN,
  // RealPLKSR, DAT, TorchScript or "ncnn graph".
  std::string family;
  // Set to the reason when the architecture runs in fp32 whatever `dtype`
  // asked for (the network's dtype() then says fp32).
  std::string fp32_only;
  // The weights' size on the device, at the network's dtype (the state
  // dict's or graph's tensors; a TorchScript archive's file size).
  int64_t weight_bytes = 0;
};

// "fp16", "bf16" or "fp32": how descriptions and log lines name a dtype.
inline const char* PrecisionName(torch::ScalarType dtype) {
  if (dtype == torch::kFloat16) return "fp16";
  if (dtype == torch::kBFloat16) return "bf16";
  return "fp32";
}

// InvalidArgument naming `path` for an unreadable, unknown or malformed
// model; `info` (may be null) tells what was loaded.
absl::StatusOr<std::unique_ptr<Network>> LoadNetwork(const std::string& path, torch::Device device,
                                                     torch::ScalarType dtype, LoadedNetworkInfo* info = nullptr);

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_NETWORK_LOADER_H_
