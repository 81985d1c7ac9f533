// Bias + PReLU after a convolution as one pass over the activations on CUDA
// (AniFarm's kernel, node/engine/cuda/epilogue_kernels.h) instead of
// LibTorch's separate bias add and PReLU, each a full read and write of a
// memory-bound tensor. The Compact family spent half its eager time on CUDA
// in those passes: fused, Compact 2x at 1080p fp16 went from 55 to 115
// frames/s on an H200 (docs/benchmarks.md); the convolutions themselves are
// cuDNN's.
//
// Enabled where FusedEpilogueEnabled says so: a CUDA device, the kernels
// built in (a CUDA LibTorch and nvcc at configure time), and not turned off
// with ANIFARM_FUSED_EPILOGUE=0 (for A/B benchmarks and as an escape hatch).
// Elsewhere networks keep their eager ops; on the CPU oneDNN already folds
// the bias into the convolution.
#ifndef ANIFARM_NODE_ENGINE_FUSED_EPILOGUE_H_
#define ANIFARM_NODE_ENGINE_FUSED_EPILOGUE_H_

#include <ATen/ATen.h>
#include <torch/types.h>

#include <cstdint>

namespace anifarm::engine {

// True when AniFarm's CUDA kernels are compiled into this build.
bool CudaKernelsBuiltIn();

// Whether networks on `device` should use FusedBiasPrelu (see above).
bool FusedEpilogueEnabled(const torch::Device& device);

// The stride of the channel dimension of a 4-D tensor whose elements are
// dense in channels-last (1) or NCHW (H·W) order, as the kernels index it;
// 0 for any other layout.
int64_t DenseChannelStride(const torch::Tensor& x);

// y = PReLU(y + bias[c], slope[c]) in place and returned, for y [N, C, H, W]
// the output of a convolution run without its bias, fp32, fp16 or bf16 on a
// CUDA device; bias and slope fp32 [C] on the same device (a LeakyReLU is
// one slope repeated). Arithmetic in fp32, one rounding to y's dtype. A y in
// another layout is made channels-last first. Without the kernels built in,
// runs the same with LibTorch ops (any device). Throws c10::Error on a
// kernel launch failure.
torch::Tensor FusedBiasPrelu(torch::Tensor y, const torch::Tensor& bias, const torch::Tensor& slope);

// One of FusedBiasPrelu's operands, made once at load: `values` ([C], or
// [1] for one value shared by every channel) as `channels` contiguous fp32
// values on its device; `fill` repeated on `device` where `values` is
// undefined (no bias: 0; a LeakyReLU: its slope).
torch::Tensor PerChannelFp32(const torch::Tensor& values, double fill, int64_t channels, const torch::Device& device);

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_FUSED_EPILOGUE_H_
