// A TorchScript archive (torch.jit.save) wrapped as a Network: the user's
// escape hatch for architectures the engine does not implement. Unlike every
// other format this RUNS CODE FROM THE FILE (the scripted forward), by
// design; it is only loaded when the file is a TorchScript archive
// (IsTorchScriptArchive in pth_checkpoint.h), never as a fallback for a
// state dict.
//
// The module must map [N, 3, H, W] to [N, 3, H·s, W·s]; s is found by
// running a 1x3x16x16 input through it once at load time.
#ifndef ANIFARM_NODE_ENGINE_TORCHSCRIPT_NET_H_
#define ANIFARM_NODE_ENGINE_TORCHSCRIPT_NET_H_

#include <torch/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "node/engine/network.h"

namespace torch::jit {
struct Module;
}  // namespace torch::jit

namespace anifarm::engine {

class TorchScriptNet : public Network {
 public:
  // Loads `path` onto `device`, converts its parameters to `dtype` and
  // probes the scale. InvalidArgument naming `path` when the archive does
  // not load or the module is not an RGB upscaler.
  static absl::StatusOr<std::unique_ptr<TorchScriptNet>> Load(const std::string& path, torch::Device device,
                                                              torch::ScalarType dtype);
  ~TorchScriptNet() override;

  int scale() const override { return scale_; }
  // "TorchScript(__torch__.TinyNet, scale=2)".
  std::string ToString() const override;
  torch::Device device() const override { return device_; }
  torch::ScalarType dtype() const override { return dtype_; }

  // The scripted forward; throws c10::Error when it fails or does not
  // return a [N, 3, H·s, W·s] tensor. TorchScript's graph executor is
  // thread-safe, so concurrent calls are fine. Call under
  // c10::InferenceMode.
  torch::Tensor Forward(const torch::Tensor& x) const override;

 private:
  TorchScriptNet(std::unique_ptr<torch::jit::Module> module, std::string type_name, torch::Device device,
                 torch::ScalarType dtype);

  std::unique_ptr<torch::jit::Module> module_;
  std::string type_name_;
  torch::Device device_;
  torch::ScalarType dtype_;
  int scale_ = 0;
};

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_TORCHSCRIPT_NET_H_
