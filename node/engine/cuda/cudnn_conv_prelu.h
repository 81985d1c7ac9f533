// A 2-D convolution, its bias and a per-channel PReLU as one cuDNN graph,
// which cuDNN's runtime fusion engines compile into one kernel: the
// convolution's fp32 accumulators go through bias and activation in
// registers and are written once, in the storage type. Without it the
// activations of every layer are written by the convolution and then read
// and written again by the epilogue pass (fused_epilogue.h), 1.9 ms of an
// 8.7 ms Compact frame at 1080p on an H200 (docs/benchmarks.md).
//
// The graph, in cuDNN's backend API (cudnn_graph.h), all virtual tensors
// fp32:
//   C = conv(X, W)            X [N, C, H, W] and W [K, C, R, S] channels-last
//   B = C + bias              bias [1, K, 1, 1] fp32
//   P = relu(B)               max(B, 0)
//   N = relu(-B)              -min(B, 0), exactly
//   T = N * slope             slope [1, K, 1, 1] fp32
//   Y = P - T                 PReLU(B) exactly; Y [N, K, H, W] channels-last
// which is PReLU for any slope (a LeakyReLU is one slope repeated) with one
// rounding, as AniFarm's own epilogue kernel computes it, and keeps an
// infinite B infinite. Where cuDNN fuses no engine for that graph (its
// runtime fusion may not take NEG), the same layer is tried as
//   N = B - P                 min(B, 0), exactly
//   Y = P + N * slope
// which is the same PReLU for every finite B (a +inf B, only after an fp16
// overflow upstream, becomes NaN there). Engines whose
// numerics notes say they down-convert inputs or reduce in lower precision
// are skipped, as LibTorch skips them for its convolutions; fp32 engines on
// tensor cores (TF32) only when the caller allows it.
//
// This layer knows cuDNN only (no LibTorch): node/engine/cudnn_fusion.h is
// the torch-facing side that owns plans per shape and falls back where cuDNN
// has no engine. Handles and streams pass as void* so that this header needs
// no CUDA or cuDNN headers.
#ifndef ANIFARM_NODE_ENGINE_CUDA_CUDNN_CONV_PRELU_H_
#define ANIFARM_NODE_ENGINE_CUDA_CUDNN_CONV_PRELU_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "node/engine/cuda/epilogue_kernels.h"

namespace anifarm::engine::cuda {

// What a plan is built for: stride 1, dilation 1, `padding` on every side.
struct ConvPreluShape {
  int64_t batch = 1;
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t height = 0;
  int64_t width = 0;
  int64_t kernel = 3;
  int64_t padding = 1;
  StorageType type = StorageType::kFloat16;

  int64_t out_height() const { return height + 2 * padding - kernel + 1; }
  int64_t out_width() const { return width + 2 * padding - kernel + 1; }
  // "1x64x1080x1920 fp16 3x3 64->64", for logs.
  std::string ToString() const;
};

// Destroys one cudnnBackendDescriptor_t (a void*).
struct BackendDescriptorDeleter {
  void operator()(void* descriptor) const;
};
using BackendDescriptor = std::unique_ptr<void, BackendDescriptorDeleter>;

// One finalized execution plan for one ConvPreluShape. Immutable once made;
// Execute may be called from one thread at a time per handle.
class CudnnConvPreluPlan {
 public:
  // Builds the graph for `shape` on `handle` (a cudnnHandle_t), asks cuDNN's
  // heuristics (mode A, then the fallback list when mode A has none) for
  // engines and returns, in the heuristics' order, the first `max_plans`
  // whose plans finalize: heuristics rank by a model, not by a clock, so the
  // caller times them (cudnn_fusion.h keeps the fastest). Unimplemented when
  // none finalizes (cuDNN has no fused kernel for these channel counts or
  // this type), Internal for any other cuDNN error; the message names the
  // shape and cuDNN's status.
  static absl::StatusOr<std::vector<std::unique_ptr<CudnnConvPreluPlan>>> CreateCandidates(
      void* handle, const ConvPreluShape& shape, int max_plans, bool allow_tf32 = true);
  // The heuristics' first candidate.
  static absl::StatusOr<std::unique_ptr<CudnnConvPreluPlan>> Create(void* handle, const ConvPreluShape& shape);

  const ConvPreluShape& shape() const { return shape_; }
  // Device memory Execute needs as scratch.
  int64_t workspace_bytes() const { return workspace_bytes_; }
  // Which of the heuristics' engines was kept ("engine 2 of 7"), for logs.
  const std::string& engine_description() const { return engine_description_; }

  // y = PReLU(conv(x, w) + bias, slope), queued on the handle's stream; all
  // pointers are device memory (x, w, y of shape().type, 16-byte aligned),
  // `workspace` at least workspace_bytes() (may be null when that is 0).
  absl::Status Execute(void* handle, const void* x, const void* w, const float* bias, const float* slope, void* y,
                       void* workspace) const;

 private:
  CudnnConvPreluPlan(ConvPreluShape shape, std::shared_ptr<const std::vector<BackendDescriptor>> graph,
                     BackendDescriptor engine_config, BackendDescriptor plan, int64_t workspace_bytes, std::string engine)
      : shape_(shape),
        graph_(std::move(graph)),
        engine_config_(std::move(engine_config)),
        plan_(std::move(plan)),
        workspace_bytes_(workspace_bytes),
        engine_description_(std::move(engine)) {}

  // How the graph writes PReLU (the header's comment): the NEG form first.
  enum class PreluForm { kNegated, kSubtracted };
  static absl::StatusOr<std::vector<std::unique_ptr<CudnnConvPreluPlan>>> CreateCandidatesInForm(
      void* handle, const ConvPreluShape& shape, int max_plans, bool allow_tf32, PreluForm form);

  ConvPreluShape shape_;
  // The graph's descriptors (tensors, operations, the graph) and the engine
  // configuration the plan was made from, kept for the plan's lifetime as
  // cudnn-frontend keeps them: cuDNN does not document that a finalized
  // plan stands alone.
  std::shared_ptr<const std::vector<BackendDescriptor>> graph_;
  BackendDescriptor engine_config_;
  BackendDescriptor plan_;
  int64_t workspace_bytes_;
  std::string engine_description_;
};

}  // namespace anifarm::engine::cuda

#endif  // ANIFARM_NODE_ENGINE_CUDA_CUDNN_CONV_PRELU_H_
