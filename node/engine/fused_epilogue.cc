#include "node/engine/fused_epilogue.h"

#include <c10/util/Exception.h>

#include <cstdlib>
#include <cstring>

#ifdef ANIFARM_WITH_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "node/engine/cuda/epilogue_kernels.h"
#endif

namespace anifarm::engine {
namespace {

bool TurnedOffByEnvironment() {
  const char* value = std::getenv("ANIFARM_FUSED_EPILOGUE");
  return value != nullptr && (std::strcmp(value, "0") == 0 || std::strcmp(value, "off") == 0);
}

torch::Tensor EagerBiasPrelu(torch::Tensor y, const torch::Tensor& bias, const torch::Tensor& slope) {
  y.add_(bias.to(y.scalar_type()).view({1, -1, 1, 1}));
  return at::prelu(y, slope.to(y.scalar_type()));
}

}  // namespace

bool CudaKernelsBuiltIn() {
#ifdef ANIFARM_WITH_CUDA_KERNELS
  return true;
#else
  return false;
#endif
}

bool FusedEpilogueEnabled(const torch::Device& device) {
  return device.is_cuda() && CudaKernelsBuiltIn() && !TurnedOffByEnvironment();
}

int64_t DenseChannelStride(const torch::Tensor& x) {
  if (x.dim() != 4) return 0;
  if (x.is_contiguous(torch::MemoryFormat::ChannelsLast)) return 1;
  if (x.is_contiguous()) return x.size(2) * x.size(3);
  return 0;
}

torch::Tensor FusedBiasPrelu(torch::Tensor y, const torch::Tensor& bias, const torch::Tensor& slope) {
  TORCH_CHECK(y.dim() == 4 && bias.numel() == y.size(1) && slope.numel() == y.size(1),
              "FusedBiasPrelu: expected [N, C, H, W] with C biases and slopes, got ", y.sizes());
#ifdef ANIFARM_WITH_CUDA_KERNELS
  if (!y.is_cuda()) return EagerBiasPrelu(std::move(y), bias, slope);
  cuda::StorageType type;
  switch (y.scalar_type()) {
    case torch::kFloat32: type = cuda::StorageType::kFloat32; break;
    case torch::kFloat16: type = cuda::StorageType::kFloat16; break;
    case torch::kBFloat16: type = cuda::StorageType::kBFloat16; break;
    default: return EagerBiasPrelu(std::move(y), bias, slope);
  }
  TORCH_CHECK(bias.is_cuda() && slope.is_cuda() && bias.scalar_type() == torch::kFloat32 &&
                  slope.scalar_type() == torch::kFloat32 && bias.is_contiguous() && slope.is_contiguous(),
              "FusedBiasPrelu: bias and slope must be contiguous fp32 on ", y.device());
  if (DenseChannelStride(y) == 0) y = y.contiguous(torch::MemoryFormat::ChannelsLast);
  const c10::cuda::CUDAGuard device_guard(y.device());
  const int error = cuda::LaunchBiasPrelu(y.data_ptr(), type, y.numel(), y.size(1), DenseChannelStride(y),
                                          bias.data_ptr<float>(), slope.data_ptr<float>(),
                                          c10::cuda::getCurrentCUDAStream(y.device().index()).stream());
  TORCH_CHECK(error == 0, "FusedBiasPrelu: CUDA kernel launch failed (cudaError ", error, ")");
  return y;
#else
  return EagerBiasPrelu(std::move(y), bias, slope);
#endif
}

torch::Tensor PerChannelFp32(const torch::Tensor& values, double fill, int64_t channels, const torch::Device& device) {
  if (!values.defined()) return torch::full({channels}, fill, torch::TensorOptions().device(device).dtype(torch::kFloat32));
  return values.to(torch::kFloat32).reshape({-1}).expand({channels}).contiguous();
}

}  // namespace anifarm::engine
