// The per-element arithmetic of AniFarm's fused CUDA epilogues, shared by the
// kernels (epilogue_kernels.cu) and by the host reference that the CPU unit
// tests run (tests/unit/engine/fused_epilogue_test.cc), so that what the GPU
// computes is checked against LibTorch's own ops on any machine. No CUDA or
// LibTorch headers: plain C++ that nvcc also compiles for the device.
#ifndef ANIFARM_NODE_ENGINE_CUDA_EPILOGUE_MATH_H_
#define ANIFARM_NODE_ENGINE_CUDA_EPILOGUE_MATH_H_

#include <cstdint>

#ifdef __CUDACC__
#define ANIFARM_HOST_DEVICE __host__ __device__
#else
#define ANIFARM_HOST_DEVICE
#endif

namespace anifarm::engine::cuda {

// The channel of element `index` of a dense [N, C, H, W] tensor whose
// channel dimension has stride `channel_stride` and the plane dimensions are
// packed around it: 1 for channels-last (NHWC), H·W for NCHW.
ANIFARM_HOST_DEVICE inline int64_t ChannelOf(int64_t index, int64_t channels, int64_t channel_stride) {
  return (index / channel_stride) % channels;
}

// Convolution output without its bias → bias added → PReLU with the
// channel's slope (LeakyReLU is the case of one slope for every channel),
// in fp32 whatever the storage dtype: one rounding instead of the two that
// separate bias and activation passes make in fp16.
ANIFARM_HOST_DEVICE inline float BiasPrelu(float conv, float bias, float slope) {
  const float x = conv + bias;
  return x >= 0.0f ? x : x * slope;
}

// Where pixel_shuffle(s) puts channel `k` of a [N, C·s², H, W] tensor: into
// channel k / s² of the [N, C, H·s, W·s] result, at row offset (k / s) % s
// and column offset k % s inside each input pixel's s x s block.
struct ShuffleTarget {
  int64_t channel;
  int64_t row;
  int64_t column;
};
ANIFARM_HOST_DEVICE inline ShuffleTarget ShuffledChannel(int64_t k, int64_t scale) {
  return {k / (scale * scale), (k / scale) % scale, k % scale};
}

}  // namespace anifarm::engine::cuda

#endif  // ANIFARM_NODE_ENGINE_CUDA_EPILOGUE_MATH_H_
