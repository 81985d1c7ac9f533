// A loaded super-resolution network, whatever the file format and
// architecture it came from: the engine and the tiler only need the scale,
// a description and a forward pass.
#ifndef ANIFARM_NODE_ENGINE_NETWORK_H_
#define ANIFARM_NODE_ENGINE_NETWORK_H_

#include <torch/types.h>

#include <string>

namespace anifarm::engine {

class Network {
 public:
  virtual ~Network() = default;

  // Overall scale of one Forward: output sides are scale() times the input's.
  virtual int scale() const = 0;
  // Architecture and hyper-parameters, e.g.
  // "SRVGGNetCompact(num_feat=64, num_conv=16, scale=2)".
  virtual std::string ToString() const = 0;
  virtual torch::Device device() const = 0;
  virtual torch::ScalarType dtype() const = 0;

  // x: [N, 3, H, W] in [0, 1] on device() with dtype(); returns
  // [N, 3, H·s, W·s] (not clamped). Thread-safe; call under
  // c10::InferenceMode.
  virtual torch::Tensor Forward(const torch::Tensor& x) const = 0;
};

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_NETWORK_H_
