// The LibTorch UpscalerEngine: parses the device, caches loaded networks by
// (model sha256, precision, device) and hands out Upscalers that bind a
// cached network to the caller's tiling options.
#include "node/engine/torch_engine.h"

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <dlfcn.h>
#include <sched.h>
#include <unistd.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <fstream>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/byte_size.h"
#include "common/status_macros.h"
#include "node/engine/cuda_allocator.h"
#include "node/engine/device_post_process.h"
#include "node/engine/network.h"
#include "node/engine/network_loader.h"
#include "node/engine/tiled_inference.h"

namespace anifarm {
namespace {

using engine::Network;
using engine::TiledUpscaler;

// The model cache's budget without ANIFARM_MODEL_CACHE: this share of the
// device's memory (GPU memory, or host RAM on a CPU), leaving the rest to
// the frames' activations.
constexpr int64_t kModelCacheShare = 4;

// ANIFARM_MODEL_CACHE: a size (ParseByteSize); 0 or unset (or unreadable:
// a warning) gives the default.
int64_t ModelCacheBudget(int64_t device_memory_bytes) {
  const int64_t fallback = device_memory_bytes > 0 ? device_memory_bytes / kModelCacheShare : int64_t{1} << 30;
  const char* env = std::getenv("ANIFARM_MODEL_CACHE");
  if (env == nullptr || *env == '\0' || std::string(env) == "0") return fallback;
  const int64_t budget = ParseByteSize(env);
  if (budget > 0) return budget;
  std::cerr << "anifarm-engine: ANIFARM_MODEL_CACHE='" << env << "' is not a size like 2G or 512M; using "
            << fallback / (1 << 20) << " MiB\n";
  return fallback;
}
// Largest frame side run in one pass on the CPU (memory stays ~100 MB).
constexpr int kCpuWholeFrameMax = 512;

// LibTorch has no public C++ API for the GPU's name or free memory without
// CUDA headers, which a CPU build lacks; the driver library is always there
// when CUDA works, so ask it through dlopen (CUdevice is an int, CUresult an
// int, CUcontext a pointer).
struct CudaDriverInfo {
  std::string name;
  int64_t free_bytes = -1;
  int64_t total_bytes = 0;
};

CudaDriverInfo QueryCudaDriver(int ordinal) {
  CudaDriverInfo info;
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return info;
  using InitFn = int (*)(unsigned);
  using DeviceGetFn = int (*)(int*, int);
  using GetNameFn = int (*)(char*, int, int);
  using RetainFn = int (*)(void**, int);
  using ReleaseFn = int (*)(int);
  using PushFn = int (*)(void*);
  using PopFn = int (*)(void**);
  using MemInfoFn = int (*)(size_t*, size_t*);
  auto init = reinterpret_cast<InitFn>(dlsym(lib, "cuInit"));
  auto device_get = reinterpret_cast<DeviceGetFn>(dlsym(lib, "cuDeviceGet"));
  auto get_name = reinterpret_cast<GetNameFn>(dlsym(lib, "cuDeviceGetName"));
  auto retain = reinterpret_cast<RetainFn>(dlsym(lib, "cuDevicePrimaryCtxRetain"));
  auto release = reinterpret_cast<ReleaseFn>(dlsym(lib, "cuDevicePrimaryCtxRelease_v2"));
  auto push = reinterpret_cast<PushFn>(dlsym(lib, "cuCtxPushCurrent_v2"));
  auto pop = reinterpret_cast<PopFn>(dlsym(lib, "cuCtxPopCurrent_v2"));
  auto mem_info = reinterpret_cast<MemInfoFn>(dlsym(lib, "cuMemGetInfo_v2"));
  int device = 0;
  if (init != nullptr && device_get != nullptr && init(0) == 0 && device_get(&device, ordinal) == 0) {
    char name[256] = {0};
    if (get_name != nullptr && get_name(name, sizeof(name) - 1, device) == 0) info.name = name;
    // The primary context is the one the CUDA runtime (and so LibTorch)
    // uses: retaining it does not create a second context.
    void* ctx = nullptr;
    if (retain != nullptr && release != nullptr && push != nullptr && pop != nullptr && mem_info != nullptr &&
        retain(&ctx, device) == 0) {
      if (push(ctx) == 0) {
        size_t free_bytes = 0, total_bytes = 0;
        if (mem_info(&free_bytes, &total_bytes) == 0) {
          info.free_bytes = static_cast<int64_t>(free_bytes);
          info.total_bytes = static_cast<int64_t>(total_bytes);
        }
        void* popped = nullptr;
        pop(&popped);
      }
      release(device);
    }
  }
  // The driver stays loaded (LibTorch uses it too); dlclose only drops our
  // reference.
  dlclose(lib);
  return info;
}

// A CPU node's memory: this process's resident set (/proc/self/statm) and
// the host's available and total RAM (/proc/meminfo).
DeviceMemoryUsage HostMemoryUsage() {
  DeviceMemoryUsage usage;
  const int64_t page = sysconf(_SC_PAGE_SIZE);
  std::ifstream statm("/proc/self/statm");
  int64_t size_pages = 0, resident_pages = 0;
  if (statm >> size_pages >> resident_pages) usage.in_use_bytes = resident_pages * page;
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  int64_t kib = 0;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemTotal:") usage.total_bytes = kib * 1024;
    if (key == "MemAvailable:") usage.free_bytes = kib * 1024;
  }
  return usage;
}

absl::StatusOr<torch::Device> ParseDevice(const std::string& spec) {
  if (spec == "cpu") return torch::Device(torch::kCPU);
  absl::string_view rest = spec;
  if (!absl::ConsumePrefix(&rest, "cuda")) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown device '", spec, "' (expected cpu, cuda or cuda:N)"));
  }
  int index = 0;
  if (!rest.empty() &&
      (!absl::ConsumePrefix(&rest, ":") || !absl::SimpleAtoi(rest, &index) || index < 0 || index > 255)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown device '", spec, "' (expected cpu, cuda or cuda:N)"));
  }
  if (!torch::cuda::is_available()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "device '", spec, "': CUDA is not available (no GPU, no driver, or a CPU-only LibTorch)"));
  }
  if (index >= static_cast<int>(torch::cuda::device_count())) {
    return absl::FailedPreconditionError(
        absl::StrCat("device '", spec, "': only ", torch::cuda::device_count(), " CUDA device(s)"));
  }
  return torch::Device(torch::kCUDA, static_cast<torch::DeviceIndex>(index));
}

// True when the CPU has bf16 arithmetic (AVX512-BF16 or AMX-BF16), where
// oneDNN's bf16 convolutions ran 2-4x faster than fp32 (docs/benchmarks.md);
// without it they are emulated and slower than fp32.
bool CpuHasNativeBf16() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16") || __builtin_cpu_supports("amx-bf16");
}

// This thread's stream on a CUDA `device`, from LibTorch's pool (through the
// device-generic guard, so this file needs no CUDA headers). Frames upscaled
// from different threads then queue on different streams, and one frame's
// copies overlap another's kernels; on the one default stream they would
// run in turn. Every op of a frame runs on the stream current when it is
// issued, the fused epilogue's kernel included.
c10::Stream ThreadStream(const torch::Device& device) {
  thread_local std::map<int, c10::Stream> streams;
  auto it = streams.find(device.index());
  if (it == streams.end()) {
    c10::impl::VirtualGuardImpl guard(device.type());
    it = streams.emplace(device.index(), guard.getStreamFromGlobalPool(device)).first;
  }
  return it->second;
}

struct Precision {
  torch::ScalarType dtype;
  std::string name;  // fp32, fp16, bf16
  std::string note;  // why it differs from what was asked, if it does
};

absl::StatusOr<Precision> ResolvePrecision(const std::string& asked, const torch::Device& device) {
  const bool cuda = device.is_cuda();
  if (asked == "fp32") return Precision{torch::kFloat32, "fp32", ""};
  if (asked == "auto")
    return cuda ? Precision{torch::kFloat16, "fp16", ""} : Precision{torch::kFloat32, "fp32", ""};
  if (asked == "fp16" || asked == "bf16") {
    if (cuda) return Precision{asked == "fp16" ? torch::kFloat16 : torch::kBFloat16, asked, ""};
    // LibTorch has no fp16 convolutions on the CPU, and bf16 ones are only
    // fast where the CPU computes bf16 itself (AVX512-BF16, AMX); a
    // farm-wide half-precision setting must not fail or slow CPU nodes.
    if (asked == "bf16" && CpuHasNativeBf16()) return Precision{torch::kBFloat16, "bf16", ""};
    return Precision{torch::kFloat32, "fp32",
                     absl::StrCat(asked, " requested, not used on ",
                                  asked == "bf16" ? "this CPU (no native bf16)" : "CPU")};
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown precision '", asked, "' (expected fp16, bf16, fp32, auto)"));
}

// A cached network plus its description.
struct LoadedModel {
  std::unique_ptr<Network> net;
  std::string description;
  // Set when the network runs at another precision than the one asked for
  // (an fp32-only architecture, whose description says so): "fp16 requested".
  std::string precision_note;
  // The family it was recognised as, one of the engine's architectures().
  std::string architecture;
  int64_t weight_bytes = 0;  // its weights on the device
};

class TorchUpscaler : public Upscaler {
 public:
  // `note` qualifies the description (a precision fallback).
  // cpu_threads: LibTorch threads per frame on a CPU (CpuThreadsFor; 0: LibTorch's own).
  TorchUpscaler(std::shared_ptr<const LoadedModel> model, const std::string& note, int tile, int overlap,
                int frames_in_flight, int cpu_threads)
      : model_(std::move(model)),
        frames_in_flight_(frames_in_flight),
        cpu_threads_(cpu_threads),
        description_(note.empty() ? model_->description : absl::StrCat(model_->description, " (", note, ")")),
        tiler_(std::make_shared<TiledUpscaler>(model_->net->scale(), tile, overlap)) {}

  int native_scale() const override { return model_->net->scale(); }
  std::string description() const override { return description_; }
  std::string architecture() const override { return model_->architecture; }
  int frames_in_flight() const override { return frames_in_flight_; }

  absl::StatusOr<RgbImage> Upscale(const RgbImage& input) override { return Run(input, nullptr); }

  // The post-processing runs as tensor ops on the network's device (CPU or
  // CUDA alike) on the uint8 frame, before it is copied to the host.
  bool post_processes_on_device() const override { return true; }
  absl::StatusOr<RgbImage> UpscaleAndPostProcess(const RgbImage& input,
                                                 const PostProcessOptions& post) override {
    for (float factor : {post.sharpen, post.contrast, post.saturation}) {
      if (!std::isfinite(factor)) {
        return absl::InvalidArgumentError(
            absl::StrCat("post-process factors must be finite, got ", factor));
      }
    }
    return Run(input, &post);
  }

 private:
  // `post` (may be null): applied on the device after inference.
  absl::StatusOr<RgbImage> Run(const RgbImage& input, const PostProcessOptions* post) {
    if (input.width <= 0 || input.height <= 0 ||
        input.pixels.size() != static_cast<size_t>(input.width) * input.height * 3) {
      return absl::InvalidArgumentError(absl::StrCat("Upscale: bad image ", input.width, "x", input.height,
                                                     " with ", input.pixels.size(), " bytes"));
    }
    // Out of device memory: the tile halves and the frame is tried again
    // (the guide's rule), down to 32 px; later frames keep the smaller tile.
    while (true) {
      std::shared_ptr<TiledUpscaler> tiler = CurrentTiler();
      absl::StatusOr<RgbImage> out = UpscaleWith(*tiler, input, post);
      if (out.ok() || out.status().code() != absl::StatusCode::kResourceExhausted) return out;
      // A network that runs frames whole has no smaller tile to try.
      if (!model_->net->whole_frame_reason().empty()) return out;
      const int edge = tiler->tile() > 0 ? tiler->tile() : std::max(input.width, input.height);
      if (edge / 2 < 32) return out;
      std::cerr << "anifarm-engine: out of memory with " << edge << " px tiles; retrying with "
                << edge / 2 << " px\n";
      // The failed pass's cached blocks go back to the driver first, so the
      // smaller tiles are not fighting the fragments of the larger ones.
      if (model_->net->device().is_cuda()) engine::ReleaseCachedCudaMemory();
      std::lock_guard<std::mutex> lock(mu_);
      if (tiler_ == tiler) {
        tiler_ = std::make_shared<TiledUpscaler>(tiler->scale(), edge / 2, tiler->overlap());
      }
    }
  }

  std::shared_ptr<TiledUpscaler> CurrentTiler() {
    std::lock_guard<std::mutex> lock(mu_);
    return tiler_;
  }

  static bool IsOutOfMemory(const std::string& message) {
    return message.find("out of memory") != std::string::npos ||
           message.find("CUDNN_STATUS_ALLOC_FAILED") != std::string::npos;
  }

  absl::StatusOr<RgbImage> UpscaleWith(TiledUpscaler& tiler, const RgbImage& input,
                                       const PostProcessOptions* post) {
    const Network& net = *model_->net;
    const int s = net.scale();
    // Test-only hook: ANIFARM_TEST_OOM_ABOVE_TILE=N makes any pass with
    // tiles (or a whole frame) larger than N px fail as out of memory, so
    // the retry path can be tested on a CPU.
    if (const char* limit = std::getenv("ANIFARM_TEST_OOM_ABOVE_TILE")) {
      const int edge = tiler.tile() > 0 ? tiler.tile() : std::max(input.width, input.height);
      if (edge > std::atoi(limit)) {
        return absl::ResourceExhaustedError(absl::StrCat("simulated out of memory at ", edge, " px"));
      }
    }
    try {
      c10::InferenceMode guard;
      // OpenMP counts threads per calling thread: each worker sets its own.
      if (cpu_threads_ > 0 && net.device().is_cpu() && at::get_num_threads() != cpu_threads_) {
        at::set_num_threads(cpu_threads_);
      }
      std::optional<c10::StreamGuard> stream;
      if (net.device().is_cuda() && frames_in_flight_ > 1) stream.emplace(ThreadStream(net.device()));
      // from_blob does not take ownership; the const_cast is safe as the
      // tensor is only read (copied by .to()).
      torch::Tensor x = torch::from_blob(const_cast<uint8_t*>(input.pixels.data()),
                                         {input.height, input.width, 3}, torch::kUInt8)
                            .to(net.device())
                            .permute({2, 0, 1})
                            .unsqueeze(0)
                            .to(torch::kFloat32)
                            .div_(255.0f)
                            .to(net.dtype())
                            .contiguous(net.input_memory_format());
      // Networks with frame-wide statistics take extra passes over the tiles.
      torch::Tensor y = tiler.Run(x, net);
      torch::Tensor chw = y[0].clamp(0.0f, 1.0f).mul_(255.0f).round_().to(torch::kUInt8);
      if (post != nullptr) {
        // Pillow-exact sharpen -> contrast -> saturation on the device,
        // byte-identical to the host's ApplyPostProcess.
        chw = engine::DevicePostProcess(chw, post->sharpen, post->contrast, post->saturation);
      }
      // Straight into the frame's own buffer: one host write of the bytes
      // (the interleave on the CPU, the device-to-host copy on a GPU), not
      // a temporary tensor and then a memcpy of it.
      RgbImage out(input.width * s, input.height * s);
      torch::from_blob(out.pixels.data(), {out.height, out.width, 3}, torch::kUInt8).copy_(chw.permute({1, 2, 0}));
      return out;
    } catch (const c10::Error& e) {
      const std::string message = e.what_without_backtrace();
      if (IsOutOfMemory(message)) {
        return absl::ResourceExhaustedError(
            absl::StrCat("Upscale on ", net.device().str(), " ran out of memory: ", message));
      }
      return absl::InternalError(absl::StrCat("Upscale on ", net.device().str(), " failed: ", message));
    } catch (const std::bad_alloc& e) {  // host memory, e.g. a huge frame on the CPU
      return absl::ResourceExhaustedError(
          absl::StrCat("Upscale on ", net.device().str(), " ran out of memory: ", e.what()));
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("Upscale on ", net.device().str(), " failed: ", e.what()));
    }
  }

  std::shared_ptr<const LoadedModel> model_;
  const int frames_in_flight_;
  const int cpu_threads_;
  const std::string description_;
  std::mutex mu_;
  std::shared_ptr<TiledUpscaler> tiler_;  // guarded by mu_; shrinks after out-of-memory
};

class TorchEngine : public UpscalerEngine {
 public:
  TorchEngine(torch::Device device, std::string device_name, int64_t cuda_free_bytes,
              int64_t memory_bytes)
      : device_(device),
        device_name_(std::move(device_name)),
        cuda_free_bytes_(cuda_free_bytes),
        memory_bytes_(memory_bytes),
        cache_budget_bytes_(ModelCacheBudget(memory_bytes)),
        frames_in_flight_(FramesInFlightFor(device.is_cuda(), cuda_free_bytes,
                                            std::getenv("ANIFARM_FRAMES_IN_FLIGHT"))),
        cpu_threads_(device.is_cpu() ? CpuThreadsFor(std::getenv("OMP_NUM_THREADS"), std::getenv("MKL_NUM_THREADS"),
                                                     UsableCpus(), frames_in_flight_)
                                     : 0) {}

  std::string device() const override { return device_.str(); }
  std::string device_name() const override { return device_name_; }
  int64_t memory_bytes() const override { return memory_bytes_; }
  std::vector<std::string> model_formats() const override { return {"pytorch", "ncnn"}; }
  // A CPU runs fp16 requests in fp32, and bf16 ones too unless it has
  // native bf16 (ResolvePrecision).
  std::vector<std::string> precisions() const override {
    if (device_.is_cuda()) return {"fp16", "bf16", "fp32"};
    if (CpuHasNativeBf16()) return {"bf16", "fp32"};
    return {"fp32"};
  }
  std::vector<std::string> architectures() const override {
    return {"SRVGGNetCompact", "RRDBNet", "OmniSR", "SPAN", "RealPLKSR", "DAT", "TorchScript",
            "ncnn graph"};
  }
  ModelCacheUsage model_cache() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return {static_cast<int>(cache_.size()), cache_bytes_, cache_budget_bytes_};
  }
  DeviceMemoryUsage memory_usage() const override {
    DeviceMemoryUsage usage;
    if (!device_.is_cuda()) {
      usage = HostMemoryUsage();
    } else {
      // Device-wide, from the driver: what this process's cache holds plus
      // anything else on the GPU, which is what decides whether work fits.
      const CudaDriverInfo info = QueryCudaDriver(device_.index());
      usage.free_bytes = info.free_bytes;
      usage.total_bytes = info.total_bytes;
      if (info.free_bytes >= 0) usage.in_use_bytes = info.total_bytes - info.free_bytes;
      // This process's own share, from LibTorch's caching allocator.
      const engine::CudaAllocatorStats allocator = engine::ReadCudaAllocatorStats(device_.index());
      usage.allocated_bytes = allocator.allocated_bytes;
      usage.reserved_bytes = allocator.reserved_bytes;
    }
    usage.model_cache = model_cache();
    return usage;
  }

  absl::StatusOr<std::shared_ptr<Upscaler>> GetUpscaler(const std::string& model_path,
                                                        const std::string& model_sha256,
                                                        const UpscaleOptions& options) override {
    ASSIGN_OR_RETURN(Precision precision, ResolvePrecision(options.precision, device_));
    if (options.tile < 0 || options.tile_overlap < 0) {
      return absl::InvalidArgumentError("tile and tile_overlap must not be negative");
    }
    ASSIGN_OR_RETURN(std::shared_ptr<const LoadedModel> model, GetModel(model_path, model_sha256, precision));
    if (options.scale != 0 && options.scale != model->net->scale()) {
      return absl::InvalidArgumentError(absl::StrCat(model_path, ": scale ", options.scale,
                                                     " requested but only the model's native scale ",
                                                     model->net->scale(), " is supported"));
    }
    const std::string& note = precision.note.empty() ? model->precision_note : precision.note;
    return std::make_shared<TorchUpscaler>(
        model, note, options.tile > 0 ? options.tile : AutoTile(), options.tile_overlap, frames_in_flight_,
        cpu_threads_);
  }

 private:
  // 0 = whole frame. The CPU's tile only bounds memory for big frames.
  int AutoTile() const {
    if (device_.is_cuda()) return AutoTileForFreeGpuMemory(cuda_free_bytes_);
    return kCpuWholeFrameMax;  // frames up to 512 px a side are one tile
  }

  absl::StatusOr<std::shared_ptr<const LoadedModel>> GetModel(const std::string& path,
                                                              const std::string& sha256,
                                                              const Precision& precision) {
    const std::string key =
        absl::StrCat(sha256.empty() ? "path:" + path : sha256, "|", precision.name, "|", device_.str());
    // Loading under the lock keeps two workers from loading one model twice;
    // a load takes well under a second for Compact models.
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      lru_.remove(key);
      lru_.push_front(key);
      return it->second;
    }
    engine::LoadedNetworkInfo info;
    ASSIGN_OR_RETURN(std::unique_ptr<Network> net, engine::LoadNetwork(path, device_, precision.dtype, &info));
    // The weights' conversions ran on this thread's stream; frames in flight
    // read them from other, non-blocking streams, which do not wait for it.
    if (device_.is_cuda()) torch::cuda::synchronize(device_.index());
    const std::string& fp32_only = info.fp32_only;
    auto model = std::make_shared<LoadedModel>();
    model->architecture = info.family;
    // The precision it runs at, which an fp32-only architecture decides;
    // `models inspect` prints this description.
    model->description =
        absl::StrCat(net->ToString(), " ", engine::PrecisionName(net->dtype()), " on ", device_.str(),
                     fp32_only.empty() ? "" : absl::StrCat(" [fp32 only: ", fp32_only, "]"));
    if (const std::string whole = net->whole_frame_reason(); !whole.empty()) {
      absl::StrAppend(&model->description, " [whole frames: ", whole, "]");
    }
    if (!fp32_only.empty() && net->dtype() != precision.dtype) {
      model->precision_note = absl::StrCat(precision.name, " requested");
    }
    model->net = std::move(net);
    model->weight_bytes = info.weight_bytes;
    cache_.emplace(key, model);
    lru_.push_front(key);
    cache_bytes_ += model->weight_bytes;
    // The newest model always stays, even alone over the budget.
    while (lru_.size() > 1 && cache_bytes_ > cache_budget_bytes_) {
      auto evicted = cache_.find(lru_.back());
      cache_bytes_ -= evicted->second->weight_bytes;
      std::cerr << "anifarm-engine: model cache over " << cache_budget_bytes_ / (1 << 20) << " MiB; unloading "
                << evicted->second->description << "\n";
      cache_.erase(evicted);  // Upscalers still using it keep it alive
      lru_.pop_back();
    }
    return std::shared_ptr<const LoadedModel>(model);
  }

  const torch::Device device_;
  const std::string device_name_;
  const int64_t cuda_free_bytes_;
  const int64_t memory_bytes_;
  mutable std::mutex mu_;
  const int64_t cache_budget_bytes_;
  const int frames_in_flight_;  // every Upscaler's (FramesInFlightFor)
  const int cpu_threads_;       // every Upscaler's on a CPU (CpuThreadsFor)
  std::map<std::string, std::shared_ptr<const LoadedModel>> cache_;  // guarded by mu_
  int64_t cache_bytes_ = 0;                                          // their weights; guarded by mu_
  std::list<std::string> lru_;                                       // most recent first; guarded by mu_
};

}  // namespace

// Sized for about fp16 Compact-64. 1024 px tiles cut a 1080p frame into
// four with overlaps, which ran at 47-58 frames/s on an H200 against 88
// whole (docs/benchmarks.md); RRDB-sized models that do not fit halve the
// tile on their first out-of-memory error, as everywhere.
int AutoTileForFreeGpuMemory(int64_t free_bytes) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  if (free_bytes < 0) return 512;  // unknown: a middle value
  if (free_bytes >= 40 * kGiB) return 2048;
  if (free_bytes >= 16 * kGiB) return 1024;
  if (free_bytes >= 12 * kGiB) return 768;
  if (free_bytes >= 8 * kGiB) return 512;
  if (free_bytes >= 6 * kGiB) return 384;
  if (free_bytes >= 4 * kGiB) return 256;
  return 128;
}

int FramesInFlightFor(bool cuda, int64_t free_bytes, const char* env) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  const int fallback = cuda && free_bytes >= 16 * kGiB ? 2 : 1;
  if (env == nullptr || *env == '\0') return fallback;
  int frames = 0;
  if (absl::SimpleAtoi(env, &frames) && frames >= 1 && frames <= kMaxFramesInFlight) return frames;
  std::cerr << "anifarm-engine: ANIFARM_FRAMES_IN_FLIGHT='" << env << "' is not a number from 1 to "
            << kMaxFramesInFlight << "; using " << fallback << "\n";
  return fallback;
}

int CpuThreadsFor(const char* omp_env, const char* mkl_env, int usable_cpus, int frames_in_flight) {
  for (const char* env : {omp_env, mkl_env}) {
    int threads = 0;
    if (env != nullptr && absl::SimpleAtoi(env, &threads) && threads > 0) return 0;
  }
  return std::max(1, std::max(1, usable_cpus) / std::max(1, frames_in_flight));
}

int UsableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return std::max(1u, std::thread::hardware_concurrency());
}

int CudaDeviceCount() {
  try {
    return torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
  } catch (const std::exception&) {
    return 0;
  }
}

absl::StatusOr<std::unique_ptr<UpscalerEngine>> CreateTorchEngine(const std::string& device) {
  try {
    ASSIGN_OR_RETURN(torch::Device parsed, ParseDevice(device));
    if (parsed.is_cpu()) {
      // Denormal activations (deep in flat regions) run at a fraction of the
      // normal speed on x86 CPUs; flushing them changes nothing visible.
      at::globalContext().setFlushDenormal(true);
      const long pages = sysconf(_SC_PHYS_PAGES);
      const long page_size = sysconf(_SC_PAGE_SIZE);
      const int64_t ram = pages > 0 && page_size > 0 ? int64_t{pages} * page_size : 0;
      return std::make_unique<TorchEngine>(parsed, "CPU", -1, ram);
    }
    // cuDNN times its convolution algorithms once per input shape and keeps
    // the fastest: a tiler runs the same few tile shapes over and over.
    at::globalContext().setBenchmarkCuDNN(true);
    CudaDriverInfo info = QueryCudaDriver(parsed.index());
    std::string name =
        info.name.empty() ? absl::StrCat("CUDA device ", static_cast<int>(parsed.index())) : info.name;
    return std::make_unique<TorchEngine>(parsed, std::move(name), info.free_bytes,
                                         info.total_bytes);
  } catch (const c10::Error& e) {
    return absl::FailedPreconditionError(absl::StrCat("device '", device, "': ", e.what_without_backtrace()));
  }
}

}  // namespace anifarm

extern "C" anifarm::UpscalerEngine* anifarm_create_torch_engine(const char* device, std::string* error) {
  absl::StatusOr<std::unique_ptr<anifarm::UpscalerEngine>> engine =
      anifarm::CreateTorchEngine(device == nullptr ? "cpu" : device);
  if (!engine.ok()) {
    if (error != nullptr) *error = engine.status().ToString();
    return nullptr;
  }
  return engine->release();  // the caller owns it (dlopen boundary)
}
