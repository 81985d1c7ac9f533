// post_process_bench: time of the guide's post-processing (sharpen ->
// contrast -> saturation, Pillow-exact) on one frame, host reference
// (node/post_process.h, table lookups on RgbImage) against the tensor ops
// the engine runs on its device (node/engine/device_post_process.h).
//
//   post_process_bench [--size 1280x720] [--device cpu|cuda:0] [--runs N]
//                      [--sharpen 0.5] [--contrast 1.1] [--saturation 1.2]
//
// Prints the median over N runs (after one warm-up) of each, and checks that
// both give the same bytes. The device time is tensor in, tensor out (uint8
// [3, H, W] on the device); the copy to the host is not included, since the
// frame is copied after inference either way.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/cli_args.h"
#include "node/engine/device_post_process.h"
#include "node/post_process.h"

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void Sync(const torch::Device& device) {
  // LibTorch 1.13 has no public C++ device synchronize without CUDA headers;
  // reading one byte back waits for the queued kernels on the stream.
  if (device.is_cuda()) (void)torch::zeros({1}, torch::TensorOptions().device(device)).cpu();
}

}  // namespace

int main(int argc, char** argv) {
  anifarm::CliArgs args({"size", "device", "runs", "sharpen", "contrast", "saturation"}, {});
  if (absl::Status s = args.Parse(argc, argv, 1); !s.ok()) {
    std::cerr << "usage: post_process_bench [--size WxH] [--device D] [--runs N] [--sharpen S]"
                 " [--contrast C] [--saturation S]\n";
    return 2;
  }
  int width = 0, height = 0;
  std::vector<std::string> size = absl::StrSplit(args.Get("size", "1280x720"), 'x');
  if (size.size() != 2 || !absl::SimpleAtoi(size[0], &width) || !absl::SimpleAtoi(size[1], &height)) {
    std::cerr << "post_process_bench: bad --size\n";
    return 2;
  }
  const int runs = std::max(1, *args.GetInt("runs", 10));
  anifarm::PostProcessOptions post;
  (void)absl::SimpleAtof(args.Get("sharpen", "0.5"), &post.sharpen);
  (void)absl::SimpleAtof(args.Get("contrast", "1.1"), &post.contrast);
  (void)absl::SimpleAtof(args.Get("saturation", "1.2"), &post.saturation);
  if (absl::Status s = anifarm::ValidatePostProcess(post); !s.ok()) {
    std::cerr << "post_process_bench: " << s.message() << "\n";
    return 2;
  }
  const torch::Device device(args.Get("device", "cpu"));

  // Anime-like frame: flat areas, a gradient, hard edges and some noise.
  anifarm::RgbImage frame(width, height);
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> noise(-6, 6);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = frame.row(y) + x * 3;
      const bool block = ((x / 64 + y / 48) % 3) == 0;
      p[0] = static_cast<uint8_t>(std::clamp((x * 255) / width + noise(rng), 0, 255));
      p[1] = static_cast<uint8_t>(block ? 230 : (y * 255) / height);
      p[2] = static_cast<uint8_t>(block ? 40 : 180 + noise(rng));
    }
  }

  std::vector<double> host_ms;
  anifarm::RgbImage host_out;
  for (int i = 0; i <= runs; ++i) {
    anifarm::RgbImage image = frame;  // the copy is outside the timing
    const auto start = std::chrono::steady_clock::now();
    if (!anifarm::ApplyPostProcess(post, image).ok()) return 3;
    const auto stop = std::chrono::steady_clock::now();
    if (i > 0) host_ms.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
    host_out = std::move(image);
  }

  torch::NoGradGuard no_grad;
  const torch::Tensor chw = torch::from_blob(frame.pixels.data(), {height, width, 3}, torch::kUInt8)
                                .permute({2, 0, 1})
                                .contiguous()
                                .to(device);
  std::vector<double> device_ms;
  torch::Tensor device_out;
  for (int i = 0; i <= runs; ++i) {
    Sync(device);
    const auto start = std::chrono::steady_clock::now();
    device_out = anifarm::engine::DevicePostProcess(chw, post.sharpen, post.contrast, post.saturation);
    Sync(device);
    const auto stop = std::chrono::steady_clock::now();
    if (i > 0) device_ms.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
  }
  // Per step, for the record (each on the original frame).
  auto time_step = [&](auto&& step) {
    std::vector<double> ms;
    for (int i = 0; i <= runs; ++i) {
      Sync(device);
      const auto start = std::chrono::steady_clock::now();
      (void)step();
      Sync(device);
      const auto stop = std::chrono::steady_clock::now();
      if (i > 0) ms.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
    }
    return Median(ms);
  };
  const float sharpness = static_cast<float>(1.0 + static_cast<double>(post.sharpen));
  const double smooth_ms = time_step([&] { return anifarm::engine::DeviceSmooth(chw); });
  const double sharp_ms = time_step([&] { return anifarm::engine::DeviceSharpness(chw, sharpness); });
  const double contrast_ms = time_step([&] { return anifarm::engine::DeviceContrast(chw, post.contrast); });
  const double color_ms = time_step([&] { return anifarm::engine::DeviceColor(chw, post.saturation); });

  const torch::Tensor hwc = device_out.permute({1, 2, 0}).contiguous().cpu();
  const bool same = std::memcmp(hwc.data_ptr<uint8_t>(), host_out.pixels.data(), host_out.pixels.size()) == 0;

  std::printf("post-process %dx%d sharpen %.2f contrast %.2f saturation %.2f, median of %d runs:\n", width,
              height, post.sharpen, post.contrast, post.saturation, runs);
  std::printf("  host (RgbImage, tables):   %8.2f ms\n", Median(host_ms));
  std::printf("  tensor ops on %-10s  %8.2f ms  (%d intra-op threads)\n", device.str().c_str(),
              Median(device_ms), torch::get_num_threads());
  std::printf("    of which: smooth %.2f ms, sharpness (smooth + blend) %.2f ms, contrast %.2f ms,"
              " color %.2f ms\n", smooth_ms, sharp_ms, contrast_ms, color_ms);
  std::printf("  bytes identical: %s\n", same ? "yes" : "NO");
  return same ? 0 : 1;
}
