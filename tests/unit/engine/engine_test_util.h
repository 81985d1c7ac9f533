// Helpers shared by the engine tests: synthetic images, PSNR, temp files.
#ifndef ANIFARM_TESTS_UNIT_ENGINE_ENGINE_TEST_UTIL_H_
#define ANIFARM_TESTS_UNIT_ENGINE_ENGINE_TEST_UTIL_H_

#include <c10/core/InferenceMode.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/image.h"
#include "gtest/gtest.h"
#include "node/engine/flop_counter.h"
#include "node/engine/pth_checkpoint.h"
#include "node/engine/network.h"
#include "node/engine/tiled_inference.h"
#include "node/engine/torch_engine.h"

namespace anifarm::engine::testutil {

inline std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "_" + name)).string();
}

inline void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

inline std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A smooth image with a few features on several scales.
inline RgbImage SmoothImage(int w, int h) {
  RgbImage img(w, h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = img.row(y) + 3 * x;
      p[0] = static_cast<uint8_t>(128 + 90 * std::sin(x / 9.0) * std::cos(y / 11.0));
      p[1] = static_cast<uint8_t>(128 + 80 * std::cos((x + y) / 13.0));
      p[2] = static_cast<uint8_t>(40 + 170.0 * x / w);
    }
  }
  return img;
}

// Smooth content plus sharp edges and noise: what makes a network's seams
// and rounding show.
inline RgbImage TexturedImage(int w, int h) {
  RgbImage img = SmoothImage(w, h);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> noise(-20, 20);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < 3; ++c) {
        int v = img.row(y)[3 * x + c] + noise(rng) + (((x / 6) + (y / 5)) % 2 ? 40 : -40);
        img.row(y)[3 * x + c] = static_cast<uint8_t>(std::clamp(v, 0, 255));
      }
    }
  }
  return img;
}

// TexturedImage as [1, 3, h, w] float in [0, 1].
inline torch::Tensor TexturedInput(int w, int h) {
  RgbImage img = TexturedImage(w, h);
  return torch::from_blob(img.pixels.data(), {h, w, 3}, torch::kUInt8)
      .permute({2, 0, 1})
      .unsqueeze(0)
      .to(torch::kFloat32)
      .div(255.0)
      .contiguous();
}

// [H, W, 3] float64.
inline torch::Tensor ToTensor(const RgbImage& img) {
  return torch::from_blob(const_cast<uint8_t*>(img.pixels.data()), {img.height, img.width, 3}, torch::kUInt8)
      .to(torch::kFloat64);
}

inline double Psnr(const torch::Tensor& a, const torch::Tensor& b, double peak) {
  const double mse = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).pow(2).mean().item<double>();
  return mse == 0 ? 200.0 : 10.0 * std::log10(peak * peak / mse);
}

// `img` upscaled by bicubic (align_corners=false) to w x h, as [h, w, 3]
// rounded bytes in float64.
inline torch::Tensor BicubicBytes(const RgbImage& img, int w, int h) {
  torch::Tensor x = ToTensor(img).permute({2, 0, 1}).unsqueeze(0);
  torch::Tensor y = torch::nn::functional::interpolate(x, torch::nn::functional::InterpolateFuncOptions()
                                                              .size(std::vector<int64_t>{h, w})
                                                              .mode(torch::kBicubic)
                                                              .align_corners(false));
  return y.clamp(0, 255).round()[0].permute({1, 2, 0});
}

// The engine on the CPU (a test failure, and null, if it cannot start).
inline std::unique_ptr<UpscalerEngine> CpuEngine() {
  absl::StatusOr<std::unique_ptr<UpscalerEngine>> engine = CreateTorchEngine("cpu");
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? std::move(*engine) : nullptr;
}

// An engine on `device` created while the environment variable `name` is
// `value`, which is unset again afterwards: the engine reads its variables
// (ANIFARM_MODEL_CACHE, ANIFARM_FRAMES_IN_FLIGHT) once, at creation.
inline absl::StatusOr<std::unique_ptr<UpscalerEngine>> EngineWithVariable(const std::string& device,
                                                                          const char* name, const char* value) {
  setenv(name, value, 1);
  absl::StatusOr<std::unique_ptr<UpscalerEngine>> engine = CreateTorchEngine(device);
  unsetenv(name);
  return engine;
}

// PSNR of two 8-bit frames (peak 255); 0 when their sizes differ.
inline double BytePsnr(const RgbImage& a, const RgbImage& b) {
  EXPECT_EQ(a.width, b.width);
  EXPECT_EQ(a.height, b.height);
  if (a.width != b.width || a.height != b.height) return 0;
  return Psnr(ToTensor(a), ToTensor(b), 255.0);
}

// The model at `path` upscaling `input` through `engine` at `precision`, in
// tiles of `tile` px (0: the engine's automatic tile, which covers small
// frames whole); `description` (may be null) gets the upscaler's.
inline absl::StatusOr<RgbImage> UpscaleFrame(UpscalerEngine& engine, const std::string& path,
                                             const std::string& precision, const RgbImage& input, int tile = 0,
                                             int overlap = 16, std::string* description = nullptr) {
  UpscaleOptions options;
  options.precision = precision;
  options.tile = tile;
  options.tile_overlap = overlap;
  absl::StatusOr<std::shared_ptr<Upscaler>> upscaler = engine.GetUpscaler(path, "", options);
  if (!upscaler.ok()) return upscaler.status();
  if (description != nullptr) *description = (*upscaler)->description();
  return (*upscaler)->Upscale(input);
}

// PSNR (peak 1, outputs clamped to [0, 1]) of `net` run on `input` in
// tiles of `tile` px overlapping by `overlap` against the whole frame.
inline double TiledVsWholeFramePsnr(const Network& net, const torch::Tensor& input, int tile, int overlap) {
  c10::InferenceMode guard;
  // Whole: one Forward. Tiled: through the tiler's Network overload, with
  // the extra passes of networks with frame-wide statistics.
  const torch::Tensor whole = net.Forward(input).to(torch::kFloat32);
  const torch::Tensor tiled = TiledUpscaler(net.scale(), tile, overlap).Run(input, net);
  EXPECT_EQ(tiled.sizes(), whole.sizes());
  return Psnr(tiled.clamp(0, 1), whole.clamp(0, 1), 1.0);
}

// FLOP `work` runs (FlopCounter), -1 if a counter could not start.
template <typename Work>
int64_t CountedFlops(Work work) {
  absl::StatusOr<FlopCounter> counter = FlopCounter::Start();
  EXPECT_TRUE(counter.ok()) << counter.status();
  if (!counter.ok()) return -1;
  c10::InferenceMode guard;
  work();
  return counter->flops();
}

// `weights` without `key`, or with it replaced by `replacement` if defined.
inline TensorMap Edited(const TensorMap& weights, const std::string& key,
                        const torch::Tensor& replacement = torch::Tensor()) {
  TensorMap out;
  for (const auto& [name, t] : weights) {
    if (name != key) {
      out.emplace_back(name, t);
    } else if (replacement.defined()) {
      out.emplace_back(name, replacement);
    }
  }
  return out;
}

}  // namespace anifarm::engine::testutil

#endif  // ANIFARM_TESTS_UNIT_ENGINE_ENGINE_TEST_UTIL_H_
