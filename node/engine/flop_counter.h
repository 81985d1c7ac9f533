// Counts the floating-point work a network really does, so that benchmarks
// report achieved TFLOP/s for every architecture without a hand-written cost
// model per network.
//
// While a FlopCounter is alive, every LibTorch operator that any thread of
// the process runs is looked at through LibTorch's operator observers
// (RecordFunction), and the multiply-adds of the compute-bound ones are
// added up, 2 FLOP each:
//
//   aten::convolution (conv1d/2d/3d, transposed too, any groups)
//   aten::mm, aten::addmm, aten::bmm, aten::baddbmm (so linear, matmul, einsum)
//   aten::scaled_dot_product_attention (QK^T and the product with V)
//
// An operator that runs inside a counted one (cuDNN's or oneDNN's
// convolution under aten::convolution, the bmm of an attention) is not
// counted again. Element-wise work (bias, activations, normalisation,
// softmax) is left out, as in the usual FLOP figures of these models.
//
// AniFarm's own CUDA kernels are not LibTorch operators: the code that
// launches one reports its work with AddFlops, so a network runs the same
// count with or without them.
//
// One counter at a time; the header needs no LibTorch, so benchmarks that
// use the engine through its torch-free interface can count too.
#ifndef ANIFARM_NODE_ENGINE_FLOP_COUNTER_H_
#define ANIFARM_NODE_ENGINE_FLOP_COUNTER_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace anifarm::engine {

class FlopCounter {
 public:
  // FailedPrecondition while another counter is alive.
  static absl::StatusOr<FlopCounter> Start();

  FlopCounter(FlopCounter&& other) noexcept;
  FlopCounter& operator=(FlopCounter&&) = delete;
  FlopCounter(const FlopCounter&) = delete;
  ~FlopCounter();  // stops observing

  // FLOP counted since Start (a multiply-add is 2).
  int64_t flops() const;

 private:
  explicit FlopCounter(uint64_t handle) : handle_(handle), active_(true) {}
  uint64_t handle_;
  bool active_;
};

// While alive, what this thread runs is not counted (its operators and its
// AddFlops calls): for work that is not a frame's, such as the cuDNN
// fusion timing candidate kernels against the unfused layer on first use.
// Nests.
class FlopCountPause {
 public:
  FlopCountPause();
  ~FlopCountPause();
  FlopCountPause(const FlopCountPause&) = delete;
  FlopCountPause& operator=(const FlopCountPause&) = delete;

 private:
  bool was_paused_;
};

// Adds `flops` to the live counter, if there is one. For work that does not
// run as a LibTorch operator (AniFarm's CUDA kernels, cuDNN graphs).
void AddFlops(int64_t flops);

// 2 * multiply-adds of a 2-D convolution producing `output_elements` values
// from `weight_elements_per_output` weights each (Cin/groups * kh * kw).
inline int64_t ConvolutionFlops(int64_t output_elements, int64_t weight_elements_per_output) {
  return 2 * output_elements * weight_elements_per_output;
}

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_FLOP_COUNTER_H_
