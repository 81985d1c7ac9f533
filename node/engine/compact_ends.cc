#include "node/engine/compact_ends.h"

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>

#include "node/engine/cuda/compact_ends_kernels.h"
#include "node/engine/flop_counter.h"
#include "node/engine/fused_epilogue.h"

#ifdef ANIFARM_WITH_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace anifarm::engine {
namespace {

bool AskedForByEnvironment() {
  const char* value = std::getenv("ANIFARM_COMPACT_ENDS");
  return value != nullptr && std::strcmp(value, "1") == 0;
}

#ifdef ANIFARM_WITH_CUDA_KERNELS
std::optional<cuda::StorageType> StorageTypeOf(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32: return cuda::StorageType::kFloat32;
    case torch::kFloat16: return cuda::StorageType::kFloat16;
    case torch::kBFloat16: return cuda::StorageType::kBFloat16;
    default: return std::nullopt;
  }
}

bool Aligned(const torch::Tensor& t) { return reinterpret_cast<std::uintptr_t>(t.data_ptr()) % 16 == 0; }

bool HostFp32(const torch::Tensor& t, int64_t numel) {
  return t.defined() && t.is_cpu() && t.scalar_type() == torch::kFloat32 && t.is_contiguous() && t.numel() == numel;
}

// A launch that cannot run (no kernel image for this GPU, a grid too large)
// declines the layer, said once per kernel on stderr, instead of failing
// the frame.
std::optional<torch::Tensor> LaunchedOrDeclined(int error, torch::Tensor result, const char* kernel,
                                                std::once_flag& said) {
  if (error == 0) return result;
  std::call_once(said, [&] {
    std::cerr << "anifarm-engine: AniFarm's Compact " << kernel << " kernel cannot run here (CUDA error " << error
              << "); that layer runs cuDNN's convolution instead\n";
  });
  return std::nullopt;
}

std::once_flag head_declined;
std::once_flag tail_declined;

cuda::ImageView ViewOf(const torch::Tensor& t) {
  cuda::ImageView view;
  view.data = t.data_ptr();
  view.batch = t.size(0);
  view.channels = t.size(1);
  view.height = t.size(2);
  view.width = t.size(3);
  view.stride_n = t.stride(0);
  view.stride_c = t.stride(1);
  view.stride_h = t.stride(2);
  view.stride_w = t.stride(3);
  return view;
}
#endif

}  // namespace

bool CompactEndsEnabled(const torch::Device& device) {
  return device.is_cuda() && CudaKernelsBuiltIn() && AskedForByEnvironment();
}

CompactHeadWeights PackHeadWeights(const torch::Tensor& weight, const torch::Tensor& bias, const torch::Tensor& slope) {
  const auto host = torch::TensorOptions().device(torch::kCPU).dtype(torch::kFloat32);
  CompactHeadWeights head;
  head.features = weight.size(0);
  // [F, c, ky, kx] → [c, ky, kx, F]: the 27 taps outermost, features inner.
  head.weights = weight.to(host).permute({1, 2, 3, 0}).contiguous().reshape({-1});
  head.bias = bias.to(host).contiguous();
  head.slope = slope.to(host).contiguous();
  return head;
}

torch::Tensor PackTailWeights(const torch::Tensor& weight, torch::ScalarType dtype, const torch::Device& device) {
  const int64_t outputs = weight.size(0);
  const int64_t features = weight.size(1);
  const int64_t padded = cuda::TailPaddedOutputs(outputs);
  // [K, F/16, 16, ky, kx] → [F/16, ky, kx, 16, K], K padded with zeros.
  torch::Tensor t = weight.to(torch::kCPU, torch::kFloat32).reshape({outputs, features / 16, 16, 3, 3});
  t = t.permute({1, 3, 4, 2, 0});
  t = at::constant_pad_nd(t, {0, padded - outputs});
  return t.reshape({features / 16, 9, 16, padded}).contiguous().to(device, dtype);
}

std::optional<torch::Tensor> RunCompactHead(const torch::Tensor& x, const CompactHeadWeights& head) {
#ifndef ANIFARM_WITH_CUDA_KERNELS
  (void)x, (void)head;
  return std::nullopt;
#else
  const std::optional<cuda::StorageType> type = StorageTypeOf(x.scalar_type());
  if (!type || !x.is_cuda() || x.dim() != 4 || x.size(1) != 3 || !cuda::HeadSupported(head.features) ||
      !HostFp32(head.weights, 27 * head.features) || !HostFp32(head.bias, head.features) ||
      !HostFp32(head.slope, head.features)) {
    return std::nullopt;
  }
  const c10::cuda::CUDAGuard device_guard(x.device());
  torch::Tensor y = at::empty({x.size(0), head.features, x.size(2), x.size(3)},
                              x.options().memory_format(torch::MemoryFormat::ChannelsLast));
  const int error = cuda::LaunchCompactHead(ViewOf(x), *type, head.features, head.weights.data_ptr<float>(),
                                            head.bias.data_ptr<float>(), head.slope.data_ptr<float>(), y.data_ptr(),
                                            c10::cuda::getCurrentCUDAStream(x.device().index()).stream());
  if (error == 0) AddFlops(ConvolutionFlops(y.numel(), 27));
  return LaunchedOrDeclined(error, std::move(y), "head", head_declined);
#endif
}

std::optional<torch::Tensor> RunCompactTail(const torch::Tensor& feat, const torch::Tensor& x,
                                            const torch::Tensor& packed, const torch::Tensor& bias,
                                            int64_t out_channels, int64_t scale) {
#ifndef ANIFARM_WITH_CUDA_KERNELS
  (void)feat, (void)x, (void)packed, (void)bias, (void)out_channels, (void)scale;
  return std::nullopt;
#else
  const std::optional<cuda::StorageType> type = StorageTypeOf(feat.scalar_type());
  if (!type || !feat.is_cuda() || feat.dim() != 4 || x.dim() != 4 ||
      !cuda::TailSupported(feat.size(1), out_channels, scale, *type) ||
      !feat.is_contiguous(torch::MemoryFormat::ChannelsLast) || !Aligned(feat) || x.device() != feat.device() ||
      x.scalar_type() != feat.scalar_type() || x.size(0) != feat.size(0) ||
      x.size(1) * scale * scale != out_channels || x.size(2) != feat.size(2) || x.size(3) != feat.size(3) ||
      packed.device() != feat.device() || packed.scalar_type() != feat.scalar_type() || !packed.is_contiguous() ||
      !Aligned(packed) || packed.numel() != feat.size(1) * 9 * cuda::TailPaddedOutputs(out_channels) ||
      bias.device() != feat.device() || bias.scalar_type() != torch::kFloat32 || !bias.is_contiguous() ||
      bias.numel() != out_channels) {
    return std::nullopt;
  }
  const c10::cuda::CUDAGuard device_guard(feat.device());
  torch::Tensor out = at::empty({x.size(0), x.size(1), x.size(2) * scale, x.size(3) * scale},
                                x.options().memory_format(x.suggest_memory_format()));
  const int error = cuda::LaunchCompactTail(ViewOf(feat), packed.data_ptr(), bias.data_ptr<float>(), out_channels,
                                            scale, ViewOf(x), ViewOf(out), *type,
                                            c10::cuda::getCurrentCUDAStream(feat.device().index()).stream());
  if (error == 0) {
    AddFlops(ConvolutionFlops(feat.size(0) * out_channels * feat.size(2) * feat.size(3), feat.size(1) * 9));
  }
  return LaunchedOrDeclined(error, std::move(out), "tail", tail_declined);
#endif
}

}  // namespace anifarm::engine
