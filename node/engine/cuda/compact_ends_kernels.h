// AniFarm's kernels for the two ends of a Compact network (srvgg_compact.h),
// the layers cuDNN's tensor-core kernels serve worst because their channel
// counts are not the body's:
//
//   head: y = PReLU(conv3x3(x, w) + bias, slope), 3 input channels → F,
//         direct convolution in fp32 on the CUDA cores, the weights in the
//         kernel's parameters (constant memory), y written once.
//   tail: out = pixel_shuffle(conv3x3(feat, w) + bias, s) + nearest(x, s),
//         F → 3·s² channels on tensor cores (WMMA 16x16x16, fp32
//         accumulators), the shuffle and the residual add done on the
//         accumulators, the result written once at the output size.
//
// Without them the head is cuDNN's convolution then the fused epilogue pass,
// and the tail a convolution, a pixel-shuffle copy, a nearest upsample and
// an add: five passes over memory instead of one. Built with the other
// kernels (ANIFARM_CUDA_KERNELS); node/engine/compact_ends.h is the
// torch-facing side. Neither CUDA nor LibTorch headers here.
#ifndef ANIFARM_NODE_ENGINE_CUDA_COMPACT_ENDS_KERNELS_H_
#define ANIFARM_NODE_ENGINE_CUDA_COMPACT_ENDS_KERNELS_H_

#include <cstdint>

#include "node/engine/cuda/epilogue_kernels.h"

namespace anifarm::engine::cuda {

// A 4-D image of `type` in device memory with strides in elements.
struct ImageView {
  const void* data = nullptr;
  int64_t batch = 0;
  int64_t channels = 0;
  int64_t height = 0;
  int64_t width = 0;
  int64_t stride_n = 0;
  int64_t stride_c = 0;
  int64_t stride_h = 0;
  int64_t stride_w = 0;
};

// The head's feature counts the kernels are built for (multiples of 8 up to
// 64); HeadSupported says whether `features` is one.
bool HeadSupported(int64_t features);

// y [N, F, H, W] channels-last (dense, 16-byte aligned) = PReLU(conv3x3(x,
// w, padding 1) + bias, slope) for x a 3-channel image of the same type.
// weights: host memory, 27·F fp32 values, index (c·9 + ky·3 + kx)·F + f;
// bias and slope: host memory, F fp32 values each (copied into the launch's
// parameters, so the caller may free them on return). Returns the launch's
// cudaError_t (0 = queued on `stream`), cudaErrorInvalidValue for a
// `features` HeadSupported refuses.
int LaunchCompactHead(const ImageView& x, StorageType type, int64_t features, const float* weights, const float* bias,
                      const float* slope, void* y, void* stream);

// The tail's weights rearranged for the kernel: [F/16][9][16][Kp] of the
// storage type (fp16 or bf16), Kp = out_channels rounded up to 16, element
// (chunk, ky·3 + kx, i, k) = w[k, chunk·16 + i, ky, kx], zero for k ≥ K.
// TailWeightIndex gives the offset of that element.
inline int64_t TailPaddedOutputs(int64_t out_channels) { return (out_channels + 15) / 16 * 16; }
inline int64_t TailWeightIndex(int64_t chunk, int64_t tap, int64_t i, int64_t k, int64_t padded_outputs) {
  return ((chunk * 9 + tap) * 16 + i) * padded_outputs + k;
}

// Whether the tail kernel takes these sizes: F a multiple of 16, 3·s² (the
// conv's outputs) at most 48 (scales 1 to 4), fp16 or bf16. The launch also
// needs a GPU of compute capability 8 or more (Ampere, Hopper) and returns
// cudaErrorNoKernelImageForDevice on an older one.
bool TailSupported(int64_t features, int64_t out_channels, int64_t scale, StorageType type);

// out [N, K/s², H·s, W·s] (strides in `out`, which is written through)
// = pixel_shuffle(conv3x3(feat, w, padding 1) + bias, s) + x upsampled by s
// (nearest), for feat [N, F, H, W] channels-last dense and 16-byte aligned,
// `packed_weights` as described above, bias K fp32 values in device memory,
// x [N, K/s², H, W] and out of `type`. Returns the launch's cudaError_t.
int LaunchCompactTail(const ImageView& feat, const void* packed_weights, const float* bias, int64_t out_channels,
                      int64_t scale, const ImageView& x, const ImageView& out, StorageType type, void* stream);

}  // namespace anifarm::engine::cuda

#endif  // ANIFARM_NODE_ENGINE_CUDA_COMPACT_ENDS_KERNELS_H_
