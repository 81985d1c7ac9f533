// The node's view of an inference engine, free of LibTorch types so that
// code which only schedules work (the node's worker loop, `anifarm run`)
// compiles and links without it.
//
//   UpscalerEngine  one per process and device; owns the model cache.
//   Upscaler        one loaded model at one precision on that device.
#ifndef ANIFARM_NODE_UPSCALER_H_
#define ANIFARM_NODE_UPSCALER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/image.h"
#include "node/post_process.h"  // PostProcessOptions: plain factors, torch-free

namespace anifarm {

struct UpscaleOptions {
  // Overall scale wanted; 0 = the model's native scale. The skeleton only
  // supports the native scale (later: repeated passes and a downscale).
  int scale = 0;
  std::string precision = "auto";  // fp16 | bf16 | fp32 | auto
  int tile = 0;                     // tile edge in input pixels, 0 = auto
  int tile_overlap = 32;            // input pixels
};

class Upscaler {
 public:
  virtual ~Upscaler() = default;
  // Scale factor of one pass of the network.
  virtual int native_scale() const = 0;
  // "SRVGGNetCompact(num_feat=64, num_conv=16, scale=2) fp32 on cpu".
  virtual std::string description() const = 0;
  // The architecture family the model was recognised as, one of
  // UpscalerEngine::architectures() ("" when the engine does not say).
  virtual std::string architecture() const { return ""; }
  // Upscales one frame (tiled, blended); the result is native_scale() times
  // larger in both dimensions.
  virtual absl::StatusOr<RgbImage> Upscale(const RgbImage& input) = 0;

  // True when UpscaleAndPostProcess is implemented: the engine applies the
  // guide's post-processing itself, on its device, before the frame leaves
  // it. Otherwise callers run ApplyPostProcess (node/post_process.h, the
  // reference implementation) on the host.
  virtual bool post_processes_on_device() const { return false; }
  // Upscale(input), then `post` applied to the upscaled frame: byte-identical
  // to ApplyPostProcess(post, *Upscale(input)). The caller validates `post`
  // (ValidatePostProcess); non-finite factors are refused (InvalidArgument).
  // Unimplemented unless post_processes_on_device().
  virtual absl::StatusOr<RgbImage> UpscaleAndPostProcess(const RgbImage& input,
                                                         const PostProcessOptions& post) {
    (void)input;
    (void)post;
    return absl::UnimplementedError("this engine does not post-process on its device");
  }
  // How many frames the node may give this upscaler at once, each from its
  // own thread: more than 1 where one frame's copies and host work overlap
  // another's device work (a GPU). Upscale and UpscaleAndPostProcess are
  // thread-safe whatever this says.
  virtual int frames_in_flight() const { return 1; }
};

// What a device's memory holds now (upscaler-side twin of v1::DeviceMemory).
// What an engine's model cache holds: loaded networks, least recently used
// out first once their weights pass the budget.
struct ModelCacheUsage {
  int models = 0;
  int64_t bytes = 0;         // their weights on the device
  int64_t budget_bytes = 0;  // the most they may hold (the newest model always stays)
};

struct DeviceMemoryUsage {
  int64_t in_use_bytes = 0;
  int64_t free_bytes = -1;  // -1 = unknown
  int64_t total_bytes = 0;
  // LibTorch's CUDA caching allocator: live tensors, and what it holds from
  // the driver (live + cached). -1 = unknown (CPU).
  int64_t allocated_bytes = -1;
  int64_t reserved_bytes = -1;
  ModelCacheUsage model_cache;
};

class UpscalerEngine {
 public:
  virtual ~UpscalerEngine() = default;
  // "cpu", "cuda:0".
  virtual std::string device() const = 0;
  // Human-readable device name ("CPU", "NVIDIA H100 80GB HBM3").
  virtual std::string device_name() const = 0;
  // Memory available to models on the device (GPU memory; host RAM for the
  // CPU). 0 when unknown.
  virtual int64_t memory_bytes() const = 0;
  // Capabilities advertised to the coordinator (RegisterNodeRequest).
  virtual std::vector<std::string> model_formats() const { return {}; }
  virtual std::vector<std::string> precisions() const { return {}; }
  virtual std::vector<std::string> architectures() const { return {}; }
  // Memory in use and free now: device-wide GPU memory from the driver, or
  // this process's resident memory and the host's available RAM on a CPU.
  virtual DeviceMemoryUsage memory_usage() const { return {}; }
  virtual ModelCacheUsage model_cache() const { return {}; }
  // Returns the cached upscaler for (model_sha256, precision), loading the
  // file at `model_path` on first use. Errors name the file (InvalidArgument
  // for an unreadable or unrecognised model).
  virtual absl::StatusOr<std::shared_ptr<Upscaler>> GetUpscaler(
      const std::string& model_path, const std::string& model_sha256,
      const UpscaleOptions& options) = 0;
};

}  // namespace anifarm

#endif  // ANIFARM_NODE_UPSCALER_H_
