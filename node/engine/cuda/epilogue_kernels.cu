#include "node/engine/cuda/epilogue_kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "node/engine/cuda/epilogue_math.h"

namespace anifarm::engine::cuda {
namespace {

constexpr int kThreads = 256;
// Enough blocks to fill any current GPU several times over; the loops are
// grid-strided, so a larger tensor just takes more turns.
constexpr int64_t kMaxBlocks = 8192;

__device__ inline float ToFloat(float v) { return v; }
__device__ inline float ToFloat(__half v) { return __half2float(v); }
__device__ inline float ToFloat(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ inline T FromFloat(float v);
template <>
__device__ inline float FromFloat<float>(float v) { return v; }
template <>
__device__ inline __half FromFloat<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ inline __nv_bfloat16 FromFloat<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// kVec consecutive values moved as one 16-byte load and store.
template <typename T, int kVec>
struct alignas(sizeof(T) * kVec) Pack {
  T v[kVec];
};

// Channels-last with C a multiple of kVec: the kVec values of a pack are
// kVec consecutive channels of one pixel.
template <typename T, int kVec>
__global__ void BiasPreluPacked(Pack<T, kVec>* packs, int64_t pack_count, int64_t channels,
                                const float* __restrict__ bias, const float* __restrict__ slope) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < pack_count; p += stride) {
    Pack<T, kVec> pack = packs[p];
    const int64_t first_channel = (p * kVec) % channels;
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      const int64_t c = first_channel + k;
      pack.v[k] = FromFloat<T>(BiasPrelu(ToFloat(pack.v[k]), __ldg(bias + c), __ldg(slope + c)));
    }
    packs[p] = pack;
  }
}

// Any layout ChannelOf describes, one value per thread and turn.
template <typename T>
__global__ void BiasPreluElementwise(T* data, int64_t elements, int64_t channels, int64_t channel_stride,
                                     const float* __restrict__ bias, const float* __restrict__ slope) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < elements; i += stride) {
    const int64_t c = ChannelOf(i, channels, channel_stride);
    data[i] = FromFloat<T>(BiasPrelu(ToFloat(data[i]), __ldg(bias + c), __ldg(slope + c)));
  }
}

int Blocks(int64_t work) { return static_cast<int>(std::min(kMaxBlocks, (work + kThreads - 1) / kThreads)); }

template <typename T>
int Launch(void* data, int64_t elements, int64_t channels, int64_t channel_stride, const float* bias,
           const float* slope, cudaStream_t stream) {
  if (elements <= 0) return cudaSuccess;
  constexpr int kVec = 16 / sizeof(T);
  const bool packed = channel_stride == 1 && channels % kVec == 0 && elements % kVec == 0 &&
                      reinterpret_cast<uintptr_t>(data) % 16 == 0;
  if (packed) {
    const int64_t pack_count = elements / kVec;
    BiasPreluPacked<T, kVec><<<Blocks(pack_count), kThreads, 0, stream>>>(
        static_cast<Pack<T, kVec>*>(data), pack_count, channels, bias, slope);
  } else {
    BiasPreluElementwise<T><<<Blocks(elements), kThreads, 0, stream>>>(static_cast<T*>(data), elements, channels,
                                                                       channel_stride, bias, slope);
  }
  return cudaGetLastError();
}

}  // namespace

int LaunchBiasPrelu(void* data, StorageType type, int64_t elements, int64_t channels, int64_t channel_stride,
                    const float* bias, const float* slope, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  switch (type) {
    case StorageType::kFloat32:
      return Launch<float>(data, elements, channels, channel_stride, bias, slope, s);
    case StorageType::kFloat16:
      return Launch<__half>(data, elements, channels, channel_stride, bias, slope, s);
    case StorageType::kBFloat16:
      return Launch<__nv_bfloat16>(data, elements, channels, channel_stride, bias, slope, s);
  }
  return cudaErrorInvalidValue;
}

}  // namespace anifarm::engine::cuda
