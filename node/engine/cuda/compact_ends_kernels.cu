#include "node/engine/cuda/compact_ends_kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "node/engine/cuda/epilogue_math.h"

namespace anifarm::engine::cuda {
namespace {

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

// ---------------------------------------------------------------- head

// Passed by value, so the weights sit in the kernel's constant bank and the
// fully unrolled loops read them as instruction operands: no shared-memory
// traffic, every thread of a warp reading the same weight.
template <int kFeatures>
struct HeadParameters {
  float weights[27 * kFeatures];
  float bias[kFeatures];
  float slope[kFeatures];
};

template <typename T>
struct alignas(16) Pack8 {
  T v[8];
};

// One output pixel per thread: its 27 inputs into registers, then 8
// features at a time through fp32 FMAs, bias and PReLU, one 16-byte (fp16,
// bf16) or two (fp32) stores.
template <typename T, int kFeatures>
__global__ void __launch_bounds__(256) CompactHeadKernel(const T* __restrict__ x, int64_t batch, int64_t height,
                                                         int64_t width, int64_t sn, int64_t sc, int64_t sh,
                                                         int64_t sw, T* __restrict__ y,
                                                         const __grid_constant__ HeadParameters<kFeatures> p) {
  const int64_t pixels = batch * height * width;
  const int64_t pixel = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (pixel >= pixels) return;
  const int64_t col = pixel % width;
  const int64_t row = (pixel / width) % height;
  const int64_t n = pixel / (width * height);
  float in[27];
#pragma unroll
  for (int c = 0; c < 3; ++c) {
#pragma unroll
    for (int ky = 0; ky < 3; ++ky) {
#pragma unroll
      for (int kx = 0; kx < 3; ++kx) {
        const int64_t r = row + ky - 1;
        const int64_t q = col + kx - 1;
        const bool inside = r >= 0 && r < height && q >= 0 && q < width;
        in[c * 9 + ky * 3 + kx] = inside ? ToFloat(x[n * sn + c * sc + r * sh + q * sw]) : 0.0f;
      }
    }
  }
  T* out = y + pixel * kFeatures;
#pragma unroll
  for (int group = 0; group < kFeatures / 8; ++group) {
    float acc[8];
#pragma unroll
    for (int k = 0; k < 8; ++k) acc[k] = 0.0f;
#pragma unroll
    for (int t = 0; t < 27; ++t) {
#pragma unroll
      for (int k = 0; k < 8; ++k) acc[k] = fmaf(in[t], p.weights[t * kFeatures + group * 8 + k], acc[k]);
    }
    Pack8<T> pack;
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const int f = group * 8 + k;
      pack.v[k] = FromFloat<T>(BiasPrelu(acc[k], p.bias[f], p.slope[f]));
    }
    if constexpr (sizeof(T) == 2) {
      *reinterpret_cast<Pack8<T>*>(out + group * 8) = pack;
    } else {
      float4* dst = reinterpret_cast<float4*>(out + group * 8);
      dst[0] = make_float4(pack.v[0], pack.v[1], pack.v[2], pack.v[3]);
      dst[1] = make_float4(pack.v[4], pack.v[5], pack.v[6], pack.v[7]);
    }
  }
}

template <typename T, int kFeatures>
int LaunchHeadFor(const ImageView& x, const float* weights, const float* bias, const float* slope, void* y,
                  cudaStream_t stream) {
  HeadParameters<kFeatures> p;
  std::memcpy(p.weights, weights, sizeof(p.weights));
  std::memcpy(p.bias, bias, sizeof(p.bias));
  std::memcpy(p.slope, slope, sizeof(p.slope));
  const int64_t pixels = x.batch * x.height * x.width;
  if (pixels <= 0) return cudaSuccess;
  constexpr int kThreads = 256;
  const auto blocks = static_cast<unsigned>((pixels + kThreads - 1) / kThreads);
  cudaGetLastError();  // so that the check below reports this launch only
  CompactHeadKernel<T, kFeatures><<<blocks, kThreads, 0, stream>>>(
      static_cast<const T*>(x.data), x.batch, x.height, x.width, x.stride_n, x.stride_c, x.stride_h, x.stride_w,
      static_cast<T*>(y), p);
  return cudaGetLastError();
}

template <typename T>
int LaunchHeadTyped(const ImageView& x, int64_t features, const float* weights, const float* bias,
                    const float* slope, void* y, cudaStream_t stream) {
  switch (features) {
    case 8: return LaunchHeadFor<T, 8>(x, weights, bias, slope, y, stream);
    case 16: return LaunchHeadFor<T, 16>(x, weights, bias, slope, y, stream);
    case 24: return LaunchHeadFor<T, 24>(x, weights, bias, slope, y, stream);
    case 32: return LaunchHeadFor<T, 32>(x, weights, bias, slope, y, stream);
    case 40: return LaunchHeadFor<T, 40>(x, weights, bias, slope, y, stream);
    case 48: return LaunchHeadFor<T, 48>(x, weights, bias, slope, y, stream);
    case 56: return LaunchHeadFor<T, 56>(x, weights, bias, slope, y, stream);
    case 64: return LaunchHeadFor<T, 64>(x, weights, bias, slope, y, stream);
    default: return cudaErrorInvalidValue;
  }
}

// ---------------------------------------------------------------- tail

// A block computes kTileRows x kTileCols input pixels (one 16-pixel row
// segment per warp) for all of the conv's outputs, 16 input channels at a
// time: the chunk's (rows + 2) x (cols + 2) pixels, zero outside the image,
// and its 9 x 16 x Kp weights go to shared memory, then each warp runs 9
// WMMA steps per 16 outputs.
constexpr int kTileRows = 4;
constexpr int kTileCols = 32;
constexpr int kTailWarps = kTileRows * kTileCols / 16;
constexpr int kTailThreads = kTailWarps * 32;
constexpr int kHaloRows = kTileRows + 2;
constexpr int kHaloCols = kTileCols + 2;

template <typename T, int kOutputTiles>
__global__ void __launch_bounds__(kTailThreads)
    CompactTailKernel(const T* __restrict__ feat, int64_t height, int64_t width, int64_t features,
                      const T* __restrict__ packed, const float* __restrict__ bias, int out_channels, int scale,
                      const T* __restrict__ x, int64_t xn, int64_t xc, int64_t xh, int64_t xw, T* __restrict__ out,
                      int64_t on, int64_t oc, int64_t oh, int64_t ow) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  // bf16 WMMA needs Ampere; LaunchCompactTail refuses older GPUs, so this
  // body only keeps builds for older architectures compiling.
  __trap();
#else
  using namespace nvcuda;
  constexpr int kPadded = kOutputTiles * 16;
  __shared__ __align__(32) T inputs[kHaloRows * kHaloCols * 16];
  __shared__ __align__(32) T weights[9 * 16 * kPadded];
  __shared__ __align__(32) float results[kTailWarps * 16 * kPadded];

  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int64_t n = blockIdx.z;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kTileRows;
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * kTileCols;
  const int warp_row = warp / (kTileCols / 16);
  const int warp_col = (warp % (kTileCols / 16)) * 16;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[kOutputTiles];
#pragma unroll
  for (int t = 0; t < kOutputTiles; ++t) wmma::fill_fragment(acc[t], 0.0f);

  const int64_t chunks = features / 16;
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    // 16 channels of a pixel are two 16-byte vectors.
    for (int v = threadIdx.x; v < kHaloRows * kHaloCols * 2; v += kTailThreads) {
      const int pixel = v / 2;
      const int half = v % 2;
      const int64_t r = row0 - 1 + pixel / kHaloCols;
      const int64_t q = col0 - 1 + pixel % kHaloCols;
      uint4 value = make_uint4(0, 0, 0, 0);
      if (r >= 0 && r < height && q >= 0 && q < width) {
        value = *reinterpret_cast<const uint4*>(feat + ((n * height + r) * width + q) * features + chunk * 16 + half * 8);
      }
      *reinterpret_cast<uint4*>(inputs + pixel * 16 + half * 8) = value;
    }
    const T* chunk_weights = packed + chunk * 9 * 16 * kPadded;
    for (int v = threadIdx.x; v < 9 * 16 * kPadded / 8; v += kTailThreads) {
      reinterpret_cast<uint4*>(weights)[v] = reinterpret_cast<const uint4*>(chunk_weights)[v];
    }
    __syncthreads();
#pragma unroll
    for (int tap = 0; tap < 9; ++tap) {
      const int ky = tap / 3;
      const int kx = tap % 3;
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
      wmma::load_matrix_sync(a, inputs + ((warp_row + ky) * kHaloCols + warp_col + kx) * 16, 16);
#pragma unroll
      for (int t = 0; t < kOutputTiles; ++t) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> b;
        wmma::load_matrix_sync(b, weights + tap * 16 * kPadded + t * 16, kPadded);
        wmma::mma_sync(acc[t], a, b, acc[t]);
      }
    }
    __syncthreads();
  }

  float* mine = results + warp * 16 * kPadded;
#pragma unroll
  for (int t = 0; t < kOutputTiles; ++t) wmma::store_matrix_sync(mine + t * 16, acc[t], kPadded, wmma::mem_row_major);
  __syncwarp();

  const int64_t row = row0 + warp_row;
  for (int e = lane; e < 16 * out_channels; e += 32) {
    const int p = e / out_channels;
    const int k = e % out_channels;
    const int64_t col = col0 + warp_col + p;
    if (row >= height || col >= width) continue;
    const ShuffleTarget target = ShuffledChannel(k, scale);
    const float base = ToFloat(x[n * xn + target.channel * xc + row * xh + col * xw]);
    const float value = mine[p * kPadded + k] + __ldg(bias + k) + base;
    out[n * on + target.channel * oc + (row * scale + target.row) * oh + (col * scale + target.column) * ow] =
        FromFloat<T>(value);
  }
#endif
}

template <typename T, int kOutputTiles>
int LaunchTailFor(const ImageView& feat, const void* packed, const float* bias, int64_t out_channels, int64_t scale,
                  const ImageView& x, const ImageView& out, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((feat.width + kTileCols - 1) / kTileCols),
                  static_cast<unsigned>((feat.height + kTileRows - 1) / kTileRows), static_cast<unsigned>(feat.batch));
  cudaGetLastError();  // so that the check below reports this launch only
  CompactTailKernel<T, kOutputTiles><<<grid, kTailThreads, 0, stream>>>(
      static_cast<const T*>(feat.data), feat.height, feat.width, feat.channels, static_cast<const T*>(packed), bias,
      static_cast<int>(out_channels), static_cast<int>(scale), static_cast<const T*>(x.data), x.stride_n, x.stride_c,
      x.stride_h, x.stride_w, static_cast<T*>(const_cast<void*>(out.data)), out.stride_n, out.stride_c, out.stride_h,
      out.stride_w);
  return cudaGetLastError();
}

template <typename T>
int LaunchTailTyped(const ImageView& feat, const void* packed, const float* bias, int64_t out_channels, int64_t scale,
                    const ImageView& x, const ImageView& out, cudaStream_t stream) {
  switch (TailPaddedOutputs(out_channels) / 16) {
    case 1: return LaunchTailFor<T, 1>(feat, packed, bias, out_channels, scale, x, out, stream);
    case 2: return LaunchTailFor<T, 2>(feat, packed, bias, out_channels, scale, x, out, stream);
    case 3: return LaunchTailFor<T, 3>(feat, packed, bias, out_channels, scale, x, out, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace

bool HeadSupported(int64_t features) { return features >= 8 && features <= 64 && features % 8 == 0; }

int LaunchCompactHead(const ImageView& x, StorageType type, int64_t features, const float* weights, const float* bias,
                      const float* slope, void* y, void* stream) {
  if (!HeadSupported(features) || x.channels != 3) return cudaErrorInvalidValue;
  const auto s = static_cast<cudaStream_t>(stream);
  switch (type) {
    case StorageType::kFloat32: return LaunchHeadTyped<float>(x, features, weights, bias, slope, y, s);
    case StorageType::kFloat16: return LaunchHeadTyped<__half>(x, features, weights, bias, slope, y, s);
    case StorageType::kBFloat16: return LaunchHeadTyped<__nv_bfloat16>(x, features, weights, bias, slope, y, s);
  }
  return cudaErrorInvalidValue;
}

bool TailSupported(int64_t features, int64_t out_channels, int64_t scale, StorageType type) {
  return features >= 16 && features % 16 == 0 && scale >= 1 && scale <= 4 && out_channels >= 1 &&
         out_channels <= 48 && out_channels % (scale * scale) == 0 && type != StorageType::kFloat32;
}

int LaunchCompactTail(const ImageView& feat, const void* packed_weights, const float* bias, int64_t out_channels,
                      int64_t scale, const ImageView& x, const ImageView& out, StorageType type, void* stream) {
  if (!TailSupported(feat.channels, out_channels, scale, type)) return cudaErrorInvalidValue;
  if (feat.batch * feat.height * feat.width <= 0) return cudaSuccess;
  // The grid's y and z dimensions, and WMMA in bf16 (compute capability 8).
  if (feat.batch > 65535 || (feat.height + kTileRows - 1) / kTileRows > 65535) return cudaErrorInvalidValue;
  int device = 0;
  int major = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess || major < 8) {
    return cudaErrorNoKernelImageForDevice;
  }
  const auto s = static_cast<cudaStream_t>(stream);
  if (type == StorageType::kFloat16) {
    return LaunchTailTyped<__half>(feat, packed_weights, bias, out_channels, scale, x, out, s);
  }
  return LaunchTailTyped<__nv_bfloat16>(feat, packed_weights, bias, out_channels, scale, x, out, s);
}

}  // namespace anifarm::engine::cuda
