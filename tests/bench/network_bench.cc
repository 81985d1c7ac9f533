// network_bench: inference only — a network's forward passes on a frame that
// is already on the device, in its dtype, with no host copies, no 8-bit
// conversion and no post-processing (upscale_bench measures the engine as a
// node runs it, copies included). This is the figure the speed
// target and the PyTorch reference figures are stated in.
//
//   network_bench --model FILE [--size 1920x1080] [--device cpu|cuda:0]
//                 [--precision fp32|fp16|bf16] [--frames N] [--batch B]
//                 [--tile T] [--overlap O] [--gflop-per-mpx G] [--layout nchw|nhwc]
//
// --batch B runs B frames per forward pass (whole frames only); --tile T
// runs each frame through the engine's tiler in T px tiles instead of one
// pass. The input is in the layout the engine hands the network
// (Network::input_memory_format), or the one --layout names (an experiment:
// Compact networks convert to their own). Prints one line: the network, device, dtype, layout, size, frames
// per second, milliseconds per frame and the achieved TFLOP/s: of the
// convolutions and matrix products one pass really runs (FlopCounter, tile
// overlaps included), or of the model's nominal cost per input megapixel
// when --gflop-per-mpx gives it.
#include <c10/core/InferenceMode.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/cli_args.h"
#include "node/engine/flop_counter.h"
#include "node/engine/network.h"
#include "node/engine/network_loader.h"
#include "node/engine/tiled_inference.h"
#include "node/engine/torch_engine.h"

namespace {

torch::ScalarType ParseDtype(const std::string& name) {
  if (name == "fp16") return torch::kFloat16;
  if (name == "bf16") return torch::kBFloat16;
  return torch::kFloat32;
}

// Waits for the device's queued work, so that the clock measures it.
void Sync(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

}  // namespace

int main(int argc, char** argv) {
  anifarm::CliArgs args(
      {"model", "size", "device", "precision", "frames", "batch", "tile", "overlap", "gflop-per-mpx", "layout"}, {});
  if (absl::Status s = args.Parse(argc, argv, 1); !s.ok() || !args.Has("model")) {
    std::cerr << "usage: network_bench --model FILE [--size WxH] [--device D] [--precision P] [--frames N]"
                 " [--batch B] [--tile T] [--overlap O] [--gflop-per-mpx G]\n";
    return 2;
  }
  int width = 0, height = 0;
  std::vector<std::string> size = absl::StrSplit(args.Get("size", "1920x1080"), 'x');
  if (size.size() != 2 || !absl::SimpleAtoi(size[0], &width) || !absl::SimpleAtoi(size[1], &height) ||
      width <= 0 || height <= 0) {
    std::cerr << "network_bench: bad --size '" << args.Get("size") << "' (expected WxH)\n";
    return 2;
  }
  const int frames = *args.GetInt("frames", 10);
  const int batch = *args.GetInt("batch", 1);
  const int tile = *args.GetInt("tile", 0);
  const int overlap = *args.GetInt("overlap", 32);
  if (frames <= 0 || batch <= 0 || (batch > 1 && tile > 0)) {
    std::cerr << "network_bench: --frames and --batch must be positive, and --batch needs whole frames\n";
    return 2;
  }
  double gflop_per_mpx = 0;
  if (args.Has("gflop-per-mpx")) (void)absl::SimpleAtod(args.Get("gflop-per-mpx"), &gflop_per_mpx);

  const std::string device_spec = args.Get("device", "cpu");
  try {
    const torch::Device device(device_spec);
    // The threads the engine gives a frame on a CPU (torch_engine.h).
    if (const int threads = anifarm::CpuThreadsFor(std::getenv("OMP_NUM_THREADS"), std::getenv("MKL_NUM_THREADS"),
                                                   anifarm::UsableCpus(), 1);
        device.is_cpu() && threads > 0) {
      at::set_num_threads(threads);
    }
    if (device.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);  // as the engine does
    absl::StatusOr<std::unique_ptr<anifarm::engine::Network>> net =
        anifarm::engine::LoadNetwork(args.Get("model"), device, ParseDtype(args.Get("precision", "fp32")));
    if (!net.ok()) {
      std::cerr << "network_bench: " << net.status().message() << "\n";
      return 3;
    }
    c10::InferenceMode guard;
    const std::string layout = args.Get("layout", "");
    if (!layout.empty() && layout != "nchw" && layout != "nhwc") {
      std::cerr << "network_bench: bad --layout '" << layout << "' (expected nchw or nhwc)\n";
      return 2;
    }
    const bool channels_last = layout.empty()
                                   ? (*net)->input_memory_format() == torch::MemoryFormat::ChannelsLast
                                   : layout == "nhwc";
    const torch::Tensor input =
        torch::rand({batch, 3, height, width}, torch::TensorOptions().device(device).dtype((*net)->dtype()))
            .contiguous(channels_last ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous);
    anifarm::engine::TiledUpscaler tiler((*net)->scale(), tile, overlap);
    const auto run = [&] {
      return tile > 0 ? tiler.Run(input, **net) : (*net)->Forward(input);
    };
    // Two warm-up passes: allocation, cuDNN's algorithm search, lazy init
    // (and the cuDNN fusion's timing runs) in the first; the second is the
    // one whose work is counted.
    run();
    int64_t counted_flops = 0;
    {
      absl::StatusOr<anifarm::engine::FlopCounter> counter = anifarm::engine::FlopCounter::Start();
      run();
      if (counter.ok()) counted_flops = counter->flops();
    }
    Sync(device);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < frames; ++i) run();
    Sync(device);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double fps = frames * batch / seconds;
    std::printf("%s | %s | %s | %s | batch %d | %s | %dx%d | %.2f fps | %.2f ms/frame",
                (*net)->ToString().c_str(), anifarm::engine::PrecisionName((*net)->dtype()), device.str().c_str(),
                channels_last ? "NHWC input" : "NCHW input", batch, tile > 0 ? ("tiles of " + std::to_string(tile)).c_str() : "whole",
                width, height, fps, 1000.0 / fps);
    if (gflop_per_mpx > 0) {
      std::printf(" | %.2f TFLOP/s", fps * gflop_per_mpx * width * height / 1e6 / 1e3);
    } else if (counted_flops > 0) {
      const double gflop_per_frame = counted_flops / 1e9 / batch;
      std::printf(" | %.2f TFLOP/s (%.3g GFLOP a frame, counted)", fps * gflop_per_frame / 1e3, gflop_per_frame);
    }
    std::printf("\n");
  } catch (const c10::Error& e) {
    std::cerr << "network_bench: " << device_spec << ": " << e.what_without_backtrace() << "\n";
    return 4;
  } catch (const std::exception& e) {
    std::cerr << "network_bench: " << device_spec << ": " << e.what() << "\n";
    return 4;
  }
  return 0;
}
