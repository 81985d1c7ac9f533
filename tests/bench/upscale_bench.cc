// upscale_bench: frames per second of the engine for a model, a frame size,
// a device and a precision.
//
//   upscale_bench --model FILE [--size 1920x1080] [--device cpu|cuda:0]
//                 [--precision fp32|fp16|bf16] [--frames N] [--tile N]
//                 [--in-flight N]
//
// --in-flight N: frames upscaled at once, each from its own thread, as the
// node does (default: what the engine chooses, Upscaler::frames_in_flight).
//
// Prints one line per run: model, device, precision, size, fps, and the
// achieved TFLOP/s: of the convolutions and matrix products one frame really
// runs (FlopCounter, tile overlaps included), or of the model's nominal cost
// when --gflop-per-mpx gives it (multiply-adds counted as 2 FLOP, per
// megapixel of input); then the
// memory figures a node reports (in use, free, the CUDA allocator's
// allocated and reserved bytes, the model cache).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/cli_args.h"
#include "common/hashing.h"
#include "node/engine/flop_counter.h"
#include "node/engine/torch_engine.h"

int main(int argc, char** argv) {
  anifarm::CliArgs args({"model", "size", "device", "precision", "frames", "tile", "in-flight",
                         "gflop-per-mpx"},
                        {});
  if (absl::Status s = args.Parse(argc, argv, 1); !s.ok() || !args.Has("model")) {
    std::cerr << "usage: upscale_bench --model FILE [--size WxH] [--device D] [--precision P]"
                 " [--frames N] [--tile N] [--in-flight N] [--gflop-per-mpx G]\n";
    return 2;
  }
  int width = 0, height = 0;
  std::vector<std::string> size = absl::StrSplit(args.Get("size", "1920x1080"), 'x');
  if (size.size() != 2 || !absl::SimpleAtoi(size[0], &width) || !absl::SimpleAtoi(size[1], &height)) {
    std::cerr << "upscale_bench: bad --size\n";
    return 2;
  }
  const int frames = *args.GetInt("frames", 5);
  double gflop_per_mpx = 0;
  if (args.Has("gflop-per-mpx")) (void)absl::SimpleAtod(args.Get("gflop-per-mpx"), &gflop_per_mpx);
  auto engine = anifarm::CreateTorchEngine(args.Get("device", "cpu"));
  if (!engine.ok()) {
    std::cerr << "upscale_bench: " << engine.status().message() << "\n";
    return 3;
  }
  anifarm::UpscaleOptions options;
  options.precision = args.Get("precision", "auto");
  options.tile = *args.GetInt("tile", 0);
  const std::string model = args.Get("model");
  auto sha = anifarm::Sha256OfFile(model);
  auto upscaler = (*engine)->GetUpscaler(model, sha.ok() ? *sha : model, options);
  if (!upscaler.ok()) {
    std::cerr << "upscale_bench: " << upscaler.status().message() << "\n";
    return 3;
  }
  anifarm::RgbImage frame(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = frame.row(y) + x * 3;
      p[0] = static_cast<uint8_t>((x * 255) / width);
      p[1] = static_cast<uint8_t>((y * 255) / height);
      p[2] = static_cast<uint8_t>(((x / 32 + y / 32) % 2) * 200);
    }
  }
  const int in_flight = *args.GetInt("in-flight", (*upscaler)->frames_in_flight());
  if (in_flight < 1) {
    std::cerr << "upscale_bench: --in-flight must be at least 1\n";
    return 2;
  }
  // The node upscales on worker threads, so the benchmark does too
  // (LibTorch's CPU kernels run measurably slower from the main thread).
  // One warm-up frame per thread first: allocation, kernel selection, and
  // each thread's CUDA stream.
  std::mutex failure_mu;
  absl::Status failure;
  auto upscale_one = [&]() -> bool {
    absl::StatusOr<anifarm::RgbImage> out = (*upscaler)->Upscale(frame);
    if (out.ok()) return true;
    std::lock_guard<std::mutex> lock(failure_mu);
    failure = out.status();
    return false;
  };
  auto run_threads = [&](const std::function<void()>& body) {
    std::vector<std::thread> threads;
    for (int t = 0; t < in_flight; ++t) threads.emplace_back(body);
    for (std::thread& thread : threads) thread.join();
  };
  run_threads([&] { upscale_one(); });
  // One more frame, alone, whose work is counted.
  int64_t counted_flops = 0;
  if (failure.ok()) {
    absl::StatusOr<anifarm::engine::FlopCounter> counter = anifarm::engine::FlopCounter::Start();
    std::thread([&] { upscale_one(); }).join();
    if (counter.ok()) counted_flops = counter->flops();
  }
  double seconds = 0;
  if (failure.ok()) {
    std::atomic<int> next{0};
    const auto start = std::chrono::steady_clock::now();
    run_threads([&] {
      while (next++ < frames && upscale_one()) {
      }
    });
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  if (!failure.ok()) {
    std::cerr << "upscale_bench: " << failure.message() << "\n";
    return 4;
  }
  const double fps = frames / seconds;
  std::printf("%s | %s | %s | %dx%d | %d in flight | %.3f fps", (*upscaler)->description().c_str(),
              (*engine)->device_name().c_str(), options.precision.c_str(), width, height, in_flight,
              fps);
  if (gflop_per_mpx > 0) {
    std::printf(" | %.2f TFLOP/s", fps * gflop_per_mpx * width * height / 1e6 / 1e3);
  } else if (counted_flops > 0) {
    std::printf(" | %.3f TFLOP/s (%.3g GFLOP a frame, counted)", fps * counted_flops / 1e12, counted_flops / 1e9);
  }
  std::printf("\n");
  // The VRAM figures a node reports, after the run.
  const anifarm::DeviceMemoryUsage memory = (*engine)->memory_usage();
  const auto mib = [](int64_t bytes) { return bytes < 0 ? -1.0 : bytes / double(1 << 20); };
  std::printf("memory: in use %.0f MiB, free %.0f MiB, allocated %.0f MiB, reserved %.0f MiB (-1: unknown), "
              "model cache %d model(s), %.1f MiB of %.0f MiB\n",
              mib(memory.in_use_bytes), mib(memory.free_bytes), mib(memory.allocated_bytes),
              mib(memory.reserved_bytes), memory.model_cache.models, mib(memory.model_cache.bytes),
              mib(memory.model_cache.budget_bytes));
  return 0;
}
