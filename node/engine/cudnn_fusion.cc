#include "node/engine/cudnn_fusion.h"

#include <cstdlib>
#include <cstring>

#include "node/engine/fused_epilogue.h"

#ifdef ANIFARM_WITH_CUDNN_FUSION
#include <ATen/cudnn/Handle.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cudnn.h>

#include <chrono>
#include <cstdint>
#include <iostream>

#include "node/engine/cuda/cudnn_conv_prelu.h"
#endif

namespace anifarm::engine {
namespace {

bool AskedForByEnvironment() {
  const char* value = std::getenv("ANIFARM_CUDNN_FUSION");
  return value != nullptr && std::strcmp(value, "1") == 0;
}

#ifdef ANIFARM_WITH_CUDNN_FUSION
std::optional<cuda::StorageType> StorageTypeOf(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32: return cuda::StorageType::kFloat32;
    case torch::kFloat16: return cuda::StorageType::kFloat16;
    case torch::kBFloat16: return cuda::StorageType::kBFloat16;
    default: return std::nullopt;
  }
}

// cuDNN's tensors are declared 16-byte aligned; LibTorch's allocations are,
// views into them need not be.
bool Aligned(const torch::Tensor& t) { return reinterpret_cast<std::uintptr_t>(t.data_ptr()) % 16 == 0; }

bool PerChannelOperand(const torch::Tensor& t, int64_t channels, const torch::Device& device) {
  return t.defined() && t.device() == device && t.scalar_type() == torch::kFloat32 && t.is_contiguous() &&
         t.numel() == channels && Aligned(t);
}
#endif

}  // namespace

bool CudnnFusionBuiltIn() {
#ifdef ANIFARM_WITH_CUDNN_FUSION
  return true;
#else
  return false;
#endif
}

bool CudnnFusionEnabled(const torch::Device& device) {
  return device.is_cuda() && CudnnFusionBuiltIn() && AskedForByEnvironment();
}

ConvBiasPreluFusion::ConvBiasPreluFusion() = default;
ConvBiasPreluFusion::~ConvBiasPreluFusion() = default;

std::optional<torch::Tensor> ConvBiasPreluFusion::Run(const torch::Tensor& x, const torch::Tensor& weight,
                                                      const torch::Tensor& bias, const torch::Tensor& slope) const {
#ifndef ANIFARM_WITH_CUDNN_FUSION
  (void)x, (void)weight, (void)bias, (void)slope;
  return std::nullopt;
#else
  constexpr auto kChannelsLast = torch::MemoryFormat::ChannelsLast;
  if (!x.is_cuda() || x.dim() != 4 || weight.dim() != 4 || weight.device() != x.device() ||
      weight.scalar_type() != x.scalar_type() || weight.size(1) != x.size(1) || weight.size(2) != weight.size(3) ||
      weight.size(2) % 2 == 0 || !x.is_contiguous(kChannelsLast) || !weight.is_contiguous(kChannelsLast) ||
      !Aligned(x) || !Aligned(weight) || !PerChannelOperand(bias, weight.size(0), x.device()) ||
      !PerChannelOperand(slope, weight.size(0), x.device())) {
    return std::nullopt;
  }
  const std::optional<cuda::StorageType> type = StorageTypeOf(x.scalar_type());
  if (!type) return std::nullopt;
  cuda::ConvPreluShape shape;
  shape.batch = x.size(0);
  shape.in_channels = x.size(1);
  shape.height = x.size(2);
  shape.width = x.size(3);
  shape.out_channels = weight.size(0);
  shape.kernel = weight.size(2);
  shape.padding = shape.kernel / 2;
  shape.type = *type;
  const ShapeKey key{x.device().index(), shape.batch,  shape.in_channels, shape.out_channels,
                     shape.height,       shape.width,  shape.kernel,      static_cast<int>(x.scalar_type())};

  const c10::cuda::CUDAGuard device_guard(x.device());
  const cudnnHandle_t handle = at::native::getCudnnHandle();
  cudnnSetStream(handle, c10::cuda::getCurrentCUDAStream(x.device().index()).stream());

  std::shared_ptr<const cuda::CudnnConvPreluPlan> plan;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (unfusable_.count(key) > 0) return std::nullopt;
    const auto found = plans_.find({handle, key});
    if (found != plans_.end()) {
      plan = found->second;
    } else {
      // Built under the lock: a runtime-compiled engine takes a while the
      // first time, and the other threads want the same shapes.
      const auto started = std::chrono::steady_clock::now();
      absl::StatusOr<std::unique_ptr<cuda::CudnnConvPreluPlan>> made = cuda::CudnnConvPreluPlan::Create(handle, shape);
      if (!made.ok()) {
        unfusable_.insert(key);
        std::cerr << "anifarm-engine: " << made.status().message()
                  << "; this layer runs the convolution and the fused epilogue instead\n";
        return std::nullopt;
      }
      const auto built = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
      std::cerr << "anifarm-engine: cuDNN fusion plan for " << shape.ToString() << ": " << (*made)->engine_description()
                << ", workspace " << (*made)->workspace_bytes() << " B, built in " << built.count() << " ms\n";
      plan = std::shared_ptr<const cuda::CudnnConvPreluPlan>(std::move(*made));
      plans_.emplace(std::make_pair(static_cast<void*>(handle), key), plan);
    }
  }

  torch::Tensor y = at::empty({shape.batch, shape.out_channels, shape.out_height(), shape.out_width()},
                              x.options().memory_format(kChannelsLast));
  torch::Tensor workspace;
  if (plan->workspace_bytes() > 0) workspace = at::empty({plan->workspace_bytes()}, x.options().dtype(torch::kUInt8));
  const absl::Status run = plan->Execute(handle, x.data_ptr(), weight.data_ptr(), bias.data_ptr<float>(),
                                         slope.data_ptr<float>(), y.data_ptr(),
                                         workspace.defined() ? workspace.data_ptr() : nullptr);
  if (!run.ok()) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (unfusable_.insert(key).second) {
      std::cerr << "anifarm-engine: " << run.message() << "; this layer runs the convolution and the fused epilogue from now on\n";
    }
    return std::nullopt;
  }
  return y;
#endif
}

torch::Tensor ConvBiasPrelu(const ConvBiasPreluFusion* fusion, const torch::Tensor& x, const torch::Tensor& weight,
                            const torch::Tensor& bias, const torch::Tensor& slope) {
  if (fusion != nullptr) {
    std::optional<torch::Tensor> fused = fusion->Run(x, weight, bias, slope);
    if (fused) return *std::move(fused);
  }
  const int64_t padding = weight.size(2) / 2;
  torch::Tensor y = at::conv2d(x, weight, /*bias=*/{}, /*stride=*/{1, 1}, {padding, padding});
  return FusedBiasPrelu(std::move(y), bias, slope);
}

}  // namespace anifarm::engine
