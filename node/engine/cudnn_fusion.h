// Convolution + bias + PReLU as one cuDNN runtime-fused kernel on CUDA
// (node/engine/cuda/cudnn_conv_prelu.h), for the layers where the fused
// epilogue (fused_epilogue.h) still costs a second pass over the
// activations: the activations are written once, by the convolution.
//
// An experiment until a GPU has measured it, so opt-in: only with
// ANIFARM_CUDNN_FUSION=1, on a CUDA device, in a build that found cuDNN's
// headers (node/engine/CMakeLists.txt). Wherever cuDNN has no fused engine
// for a layer's shape (channel counts tensor cores cannot take, a type) the
// layer keeps the convolution and FusedBiasPrelu, reported once per shape on
// stderr, so turning it on never fails a frame.
#ifndef ANIFARM_NODE_ENGINE_CUDNN_FUSION_H_
#define ANIFARM_NODE_ENGINE_CUDNN_FUSION_H_

#include <ATen/ATen.h>
#include <torch/types.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>

namespace anifarm::engine {

namespace cuda {
class CudnnConvPreluPlan;
}  // namespace cuda

// True when this build has the cuDNN fusion compiled in.
bool CudnnFusionBuiltIn();

// Whether networks on `device` should try ConvBiasPreluFusion: built in, a
// CUDA device, and ANIFARM_CUDNN_FUSION=1.
bool CudnnFusionEnabled(const torch::Device& device);

// The plans of one network's fused layers, built on first use per shape and
// cuDNN handle (LibTorch gives each thread its own handle, and hands a
// finished thread's handle to the next one, so the plans outlive a chunk's
// worker threads). A shape's first use times the heuristics' first few
// plans and the unfused layer (convolution, then FusedBiasPrelu) on the
// layer's own tensors and keeps the fastest plan, or none where the unfused
// layer is faster, with one line on stderr giving every timing: cuDNN's
// heuristics rank engines by a model, and turning the fusion on should never
// make a layer slower. That choice is made once per shape: another handle
// (another frame in flight) builds the chosen candidate without timing
// again, so timing noise cannot fuse a layer on one thread and not on
// another. The timing runs are not counted by a FlopCounter. Thread-safe.
class ConvBiasPreluFusion {
 public:
  // require_faster_than_unfused false keeps the fastest plan even where the
  // unfused layer beats it: for tests of the fused kernels' arithmetic on
  // frames too small for the timing to mean anything.
  explicit ConvBiasPreluFusion(bool require_faster_than_unfused = true);
  ~ConvBiasPreluFusion();
  ConvBiasPreluFusion(const ConvBiasPreluFusion&) = delete;
  ConvBiasPreluFusion& operator=(const ConvBiasPreluFusion&) = delete;

  // PReLU(conv2d(x, weight, stride 1, padding weight.size(2) / 2) + bias,
  // slope) in one kernel, a new channels-last tensor: x [N, C, H, W] and
  // weight [K, C, R, R] (R odd) channels-last in fp16, bf16 or fp32 on one
  // CUDA device; bias and slope contiguous fp32 [K] there. std::nullopt when
  // the fusion cannot run this layer (not built in, another layout or
  // device, no cuDNN engine for the shape, a cuDNN error): the caller runs
  // its unfused path. Call under c10::InferenceMode.
  std::optional<torch::Tensor> Run(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                   const torch::Tensor& slope) const;

 private:
  // (device index, N, C, K, H, W, R, scalar type).
  using ShapeKey = std::tuple<int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int>;

  const bool require_faster_than_unfused_;
  mutable std::mutex mutex_;
  // Per cuDNN handle and shape; a plan built on one handle runs on it.
  mutable std::map<std::pair<void*, ShapeKey>, std::shared_ptr<const cuda::CudnnConvPreluPlan>> plans_;
  // Shapes cuDNN could not fuse (or failed to run, or that ran faster
  // unfused): never tried again.
  mutable std::set<ShapeKey> unfusable_;
  // Shapes whose first timing kept a plan: the position of that candidate
  // in the heuristics' order, which is the same for every handle.
  mutable std::map<ShapeKey, int> kept_candidate_;
  // Shapes declined for their layout (not channels-last), logged once.
  mutable std::set<ShapeKey> declined_layout_;
};

// PReLU(conv2d(x, weight, stride 1, padding weight.size(2) / 2) + bias,
// slope) for a network with the fused epilogue on (FusedEpilogueEnabled):
// through `fusion` where it is non-null and runs the layer, otherwise
// cuDNN's convolution without its bias, then FusedBiasPrelu. bias and slope
// as FusedBiasPrelu takes them (contiguous fp32 [K] on x's device).
torch::Tensor ConvBiasPrelu(const ConvBiasPreluFusion* fusion, const torch::Tensor& x, const torch::Tensor& weight,
                            const torch::Tensor& bias, const torch::Tensor& slope);

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_CUDNN_FUSION_H_
