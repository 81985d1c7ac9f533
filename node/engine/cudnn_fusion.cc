#include "node/engine/cudnn_fusion.h"

#include <cstdlib>
#include <cstring>

#include "node/engine/flop_counter.h"
#include "node/engine/fused_epilogue.h"

#ifdef ANIFARM_WITH_CUDNN_FUSION
#include <ATen/cudnn/Handle.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cudnn.h>

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iostream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

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

// How many of the heuristics' finalized plans are timed per shape: each
// runtime-compiled one costs a compilation, and the heuristics' order is
// usually close.
constexpr int kTimedCandidates = 4;
constexpr int kTimedRuns = 3;

struct EventDeleter {
  void operator()(cudaEvent_t event) const { cudaEventDestroy(event); }
};
using Event = std::unique_ptr<CUevent_st, EventDeleter>;

Event MakeTimingEvent() {
  cudaEvent_t event = nullptr;
  if (cudaEventCreate(&event) != cudaSuccess) return Event();
  return Event(event);
}

// Milliseconds per call of `run` on `stream`, after one untimed call (which
// also lets cuDNN's benchmark mode pick the unfused convolution's
// algorithm); a negative value when `run` fails or the events do.
double MillisecondsPerRun(const std::function<bool()>& run, cudaStream_t stream) {
  if (!run()) return -1;
  const Event start = MakeTimingEvent();
  const Event stop = MakeTimingEvent();
  if (!start || !stop || cudaEventRecord(start.get(), stream) != cudaSuccess) return -1;
  for (int i = 0; i < kTimedRuns; ++i) {
    if (!run()) return -1;
  }
  float total = 0;
  if (cudaEventRecord(stop.get(), stream) != cudaSuccess || cudaEventSynchronize(stop.get()) != cudaSuccess ||
      cudaEventElapsedTime(&total, start.get(), stop.get()) != cudaSuccess) {
    return -1;
  }
  return total / kTimedRuns;
}

// Whether fp32 convolutions may use TF32 tensor cores (LibTorch's
// torch.backends.cudnn.allow_tf32). PyTorch 2.9 and later throw from the
// unqualified query when the convolution and RNN settings differ; a throw
// reads as no.
bool AllowTf32Convolutions(cuda::StorageType type) {
  if (type != cuda::StorageType::kFloat32) return false;  // fp16/bf16: irrelevant
  try {
    return at::globalContext().allowTF32CuDNN();
  } catch (const c10::Error&) {
    return false;
  }
}

absl::Status ExecutePlan(const cuda::CudnnConvPreluPlan& plan, cudnnHandle_t handle, const torch::Tensor& x,
                         const torch::Tensor& weight, const torch::Tensor& bias, const torch::Tensor& slope,
                         torch::Tensor& y, torch::Tensor& workspace) {
  if (plan.workspace_bytes() > 0 && (!workspace.defined() || workspace.numel() < plan.workspace_bytes())) {
    workspace = at::empty({plan.workspace_bytes()}, x.options().dtype(torch::kUInt8));
  }
  return plan.Execute(handle, x.data_ptr(), weight.data_ptr(), bias.data_ptr<float>(), slope.data_ptr<float>(),
                      y.data_ptr(), workspace.defined() ? workspace.data_ptr() : nullptr);
}

// The fastest of `candidates` against the unfused layer (convolution, then
// FusedBiasPrelu), each timed on this layer's own tensors: the fusion is only
// worth keeping where it is faster than what it replaces. -1 when none runs,
// or when `require_faster_than_unfused` and the unfused layer is at least as
// fast; `timings` gets every figure, for the log. Not counted by a
// FlopCounter: the runs are not the frame's work.
int FastestCandidate(const std::vector<std::unique_ptr<cuda::CudnnConvPreluPlan>>& candidates,
                     cudnnHandle_t handle, const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias, const torch::Tensor& slope, bool require_faster_than_unfused,
                     std::string* timings) {
  const FlopCountPause not_a_frame;
  const cuda::ConvPreluShape& shape = candidates.front()->shape();
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(x.device().index()).stream();
  torch::Tensor scratch = at::empty({shape.batch, shape.out_channels, shape.out_height(), shape.out_width()},
                                    x.options().memory_format(torch::MemoryFormat::ChannelsLast));
  torch::Tensor workspace;
  const double unfused_ms = MillisecondsPerRun(
      [&] {
        ConvBiasPrelu(nullptr, x, weight, bias, slope);
        return true;
      },
      stream);
  *timings = absl::StrFormat("unfused %.3f ms", unfused_ms);
  int best = -1;
  double best_ms = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const cuda::CudnnConvPreluPlan& candidate = *candidates[i];
    const double ms = MillisecondsPerRun(
        [&] { return ExecutePlan(candidate, handle, x, weight, bias, slope, scratch, workspace).ok(); }, stream);
    absl::StrAppend(timings, absl::StrFormat(", %s %s", candidate.engine_description(),
                                             ms < 0 ? std::string("failed") : absl::StrFormat("%.3f ms", ms)));
    if (ms >= 0 && (best < 0 || ms < best_ms)) {
      best = static_cast<int>(i);
      best_ms = ms;
    }
  }
  if (require_faster_than_unfused && unfused_ms > 0 && best >= 0 && best_ms >= unfused_ms) return -1;
  return best;
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

ConvBiasPreluFusion::ConvBiasPreluFusion(bool require_faster_than_unfused)
    : require_faster_than_unfused_(require_faster_than_unfused) {}
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
      weight.size(2) % 2 == 0 || !Aligned(x) || !Aligned(weight) ||
      !PerChannelOperand(bias, weight.size(0), x.device()) || !PerChannelOperand(slope, weight.size(0), x.device())) {
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

  if (!x.is_contiguous(kChannelsLast) || !weight.is_contiguous(kChannelsLast)) {
    // Correct unfused, but say so: a layer that never fuses is otherwise
    // invisible in the logs (an ncnn graph's first layer gets NCHW frames).
    const std::lock_guard<std::mutex> lock(mutex_);
    if (declined_layout_.insert(key).second) {
      std::cerr << "anifarm-engine: cuDNN fusion for " << shape.ToString()
                << " declined: its tensors are not channels-last; this layer runs unfused\n";
    }
    return std::nullopt;
  }

  const c10::cuda::CUDAGuard device_guard(x.device());
  // LibTorch's handle for this thread, already on the current stream.
  const cudnnHandle_t handle = at::native::getCudnnHandle();

  std::shared_ptr<const cuda::CudnnConvPreluPlan> plan;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    // A plan this handle already holds first: a later failure on another
    // handle marks the shape unfusable for new handles only.
    const auto found = plans_.find({handle, key});
    if (found != plans_.end()) {
      plan = found->second;
    } else if (unfusable_.count(key) > 0) {
      return std::nullopt;
    } else {
      // Decided on another handle: the same candidate, built for this one
      // and not timed again; otherwise the first few, timed.
      const auto kept = kept_candidate_.find(key);
      const bool decided = kept != kept_candidate_.end();
      // Built (and timed) under the lock: a runtime-compiled engine takes a
      // while the first time, and the other threads want the same shapes.
      const auto started = std::chrono::steady_clock::now();
      absl::StatusOr<std::vector<std::unique_ptr<cuda::CudnnConvPreluPlan>>> made =
          cuda::CudnnConvPreluPlan::CreateCandidates(handle, shape, decided ? kept->second + 1 : kTimedCandidates,
                                                     AllowTf32Convolutions(shape.type));
      if (!made.ok()) {
        unfusable_.insert(key);
        std::cerr << "anifarm-engine: " << made.status().message()
                  << "; this layer runs the convolution and the fused epilogue instead\n";
        return std::nullopt;
      }
      // The heuristics' order is deterministic; should a candidate fail to
      // finalize on this handle only, the last one made stands in.
      size_t chosen = decided ? std::min(made->size() - 1, static_cast<size_t>(kept->second)) : 0;
      if (!decided) {
        std::string timings;
        const int best =
            FastestCandidate(*made, handle, x, weight, bias, slope, require_faster_than_unfused_, &timings);
        const auto built =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
        if (best < 0) {
          unfusable_.insert(key);
          std::cerr << "anifarm-engine: cuDNN fusion for " << shape.ToString() << " not kept (" << timings
                    << "; " << built.count() << " ms); this layer runs the convolution and the fused epilogue\n";
          return std::nullopt;
        }
        std::cerr << "anifarm-engine: cuDNN fusion plan for " << shape.ToString() << ": "
                  << (*made)[best]->engine_description() << ", workspace " << (*made)[best]->workspace_bytes()
                  << " B (" << timings << "; built and timed in " << built.count() << " ms)\n";
        kept_candidate_.emplace(key, best);
        chosen = static_cast<size_t>(best);
      }
      plan = std::shared_ptr<const cuda::CudnnConvPreluPlan>(std::move((*made)[chosen]));
      plans_.emplace(std::make_pair(static_cast<void*>(handle), key), plan);
    }
  }

  torch::Tensor y = at::empty({shape.batch, shape.out_channels, shape.out_height(), shape.out_width()},
                              x.options().memory_format(kChannelsLast));
  torch::Tensor workspace;
  const absl::Status run = ExecutePlan(*plan, handle, x, weight, bias, slope, y, workspace);
  if (!run.ok()) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (unfusable_.insert(key).second) {
      std::cerr << "anifarm-engine: " << run.message() << "; this layer runs the convolution and the fused epilogue from now on\n";
    }
    return std::nullopt;
  }
  AddFlops(ConvolutionFlops(y.numel(), weight.numel() / weight.size(0)));
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
