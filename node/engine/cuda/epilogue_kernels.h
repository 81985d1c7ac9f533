// AniFarm's own CUDA kernels for the memory-bound passes that LibTorch's
// eager ops run one after another: here, the bias and PReLU/LeakyReLU after
// a convolution in one read and one write of the activations instead of two
// of each. Built only when LibTorch is a CUDA build and nvcc is found
// (node/engine/CMakeLists.txt, ANIFARM_CUDA_KERNELS); the torch-facing side
// is node/engine/fused_epilogue.h. This header needs neither CUDA nor
// LibTorch headers.
#ifndef ANIFARM_NODE_ENGINE_CUDA_EPILOGUE_KERNELS_H_
#define ANIFARM_NODE_ENGINE_CUDA_EPILOGUE_KERNELS_H_

#include <cstdint>

namespace anifarm::engine::cuda {

enum class StorageType { kFloat32, kFloat16, kBFloat16 };

// In place over `data` (device memory, `elements` values of `type` forming a
// dense [N, C, H, W] tensor with the given channel stride, see ChannelOf):
// data = BiasPrelu(data, bias[c], slope[c]) with bias and slope fp32 device
// arrays of `channels` values. Queued on `stream` (a cudaStream_t; null for
// the legacy default stream). Returns the launch's cudaError_t (0 = queued).
int LaunchBiasPrelu(void* data, StorageType type, int64_t elements, int64_t channels, int64_t channel_stride,
                    const float* bias, const float* slope, void* stream);

}  // namespace anifarm::engine::cuda

#endif  // ANIFARM_NODE_ENGINE_CUDA_EPILOGUE_KERNELS_H_
