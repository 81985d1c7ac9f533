// The engine on a CUDA device, checked against the same engine on the CPU:
// every architecture in fp32, fp16 and bf16, tiles against whole frames on
// the GPU, the post-processing on the GPU against the host reference, and
// the VRAM figures a node reports, and frames upscaled side by side on
// their threads' own streams against one at a time.
//
// Without a CUDA device (Debian's CPU LibTorch, a machine with no GPU) every
// case is skipped with the reason, not passed: tests/bench/gpu_session.sh
// runs them on a GPU host. They print their PSNR figures so that a GPU run
// also records how close each precision came.
//
// Bounds: precision_bounds.h against fp32 on the CPU; tiles against the
// whole frame on the GPU >= 50 dB in fp32 and the precision's bound in fp16.
#include <torch/torch.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "node/engine/torch_engine.h"
#include "node/post_process.h"
#include "tests/unit/engine/architectures.h"
#include "tests/unit/engine/engine_test_util.h"
#include "tests/unit/engine/precision_bounds.h"

namespace anifarm::engine {
namespace {

using testutil::AllArchitectures;
using testutil::Architecture;
using testutil::Architectures;
using testutil::BytePsnr;
using testutil::kFp32MinPsnr;
using testutil::MinPsnrFor;
using testutil::TexturedImage;
using testutil::UpscaleFrame;

class CudaEngineTest : public testing::Test {
 protected:
  void SetUp() override {
    if (CudaDeviceCount() == 0) {
      GTEST_SKIP() << "no CUDA device (or a CPU-only LibTorch): tests/bench/gpu_session.sh runs these on a GPU";
    }
    absl::StatusOr<std::unique_ptr<UpscalerEngine>> engine = CreateTorchEngine("cuda:0");
    ASSERT_TRUE(engine.ok()) << engine.status();
    cuda_ = std::move(*engine);
  }

  std::unique_ptr<UpscalerEngine> cuda_;
};

class CudaPrecisionTest : public CudaEngineTest, public testing::WithParamInterface<Architecture> {};
class CudaTileTest : public CudaEngineTest, public testing::WithParamInterface<Architecture> {};

TEST_P(CudaPrecisionTest, MatchesTheCpuInEveryPrecision) {
  const Architecture& arch = GetParam();
  std::unique_ptr<UpscalerEngine> cpu = testutil::CpuEngine();
  ASSERT_NE(cpu, nullptr);
  const RgbImage input = TexturedImage(96, 80);
  absl::StatusOr<RgbImage> reference = UpscaleFrame(*cpu, arch.path, "fp32", input);
  ASSERT_TRUE(reference.ok()) << reference.status();
  for (const std::string precision : {"fp32", "fp16", "bf16"}) {
    std::string description;
    absl::StatusOr<RgbImage> out = UpscaleFrame(*cuda_, arch.path, precision, input, 0, 16, &description);
    ASSERT_TRUE(out.ok()) << arch.label << " " << precision << ": " << out.status();
    const double psnr = BytePsnr(*out, *reference);
    std::printf("%s %s on %s vs fp32 on the CPU: %.2f dB (%s)\n", arch.label, precision.c_str(),
                cuda_->device_name().c_str(), psnr, description.c_str());
    EXPECT_GE(psnr, MinPsnrFor(precision, description)) << arch.label << " " << precision;
  }
}

TEST_P(CudaTileTest, TilesEqualTheWholeFrame) {
  const Architecture& arch = GetParam();
  const RgbImage input = TexturedImage(160, 136);
  for (const std::string precision : {"fp32", "fp16"}) {
    std::string description;
    absl::StatusOr<RgbImage> whole = UpscaleFrame(*cuda_, arch.path, precision, input, 0, 16, &description);
    ASSERT_TRUE(whole.ok()) << whole.status();
    for (const auto& [tile, overlap] : {std::pair{64, 8}, std::pair{64, 32}, std::pair{128, 64}}) {
      absl::StatusOr<RgbImage> tiled = UpscaleFrame(*cuda_, arch.path, precision, input, tile, overlap);
      ASSERT_TRUE(tiled.ok()) << tiled.status();
      const double psnr = BytePsnr(*tiled, *whole);
      std::printf("%s %s on the GPU, tile %d overlap %d vs whole frame: %.2f dB\n", arch.label,
                  precision.c_str(), tile, overlap, psnr);
      EXPECT_GE(psnr, precision == "fp32" ? kFp32MinPsnr : MinPsnrFor(precision, description))
          << arch.label << " " << precision << " tile " << tile << " overlap " << overlap;
    }
  }
}

const auto kLabel = [](const testing::TestParamInfo<Architecture>& info) { return info.param.label; };
INSTANTIATE_TEST_SUITE_P(EveryArchitecture, CudaPrecisionTest, testing::ValuesIn(AllArchitectures()), kLabel);
// OmniSR runs frames whole: it has no tiles to compare.
INSTANTIATE_TEST_SUITE_P(EveryArchitecture, CudaTileTest, testing::ValuesIn(Architectures()), kLabel);

// The device's post-processing promises the host's bytes exactly
// (node/upscaler.h); on a GPU that rules out fused multiply-adds and
// reordered sums the host does not do.
TEST_F(CudaEngineTest, PostProcessingOnTheGpuIsByteIdenticalToTheHost) {
  UpscaleOptions options;
  options.precision = "fp16";
  absl::StatusOr<std::shared_ptr<Upscaler>> upscaler =
      cuda_->GetUpscaler(testutil::ModelPath("2x-AniScale.pth"), "", options);
  ASSERT_TRUE(upscaler.ok()) << upscaler.status();
  ASSERT_TRUE((*upscaler)->post_processes_on_device());
  const RgbImage input = TexturedImage(120, 72);
  for (const PostProcessOptions& post : {PostProcessOptions{1.5f, 1.2f, 0.7f}, PostProcessOptions{0.3f, 0.8f, 1.6f},
                                         PostProcessOptions{5.0f, 1.0f, 1.0f}}) {
    absl::StatusOr<RgbImage> on_device = (*upscaler)->UpscaleAndPostProcess(input, post);
    ASSERT_TRUE(on_device.ok()) << on_device.status();
    absl::StatusOr<RgbImage> on_host = (*upscaler)->Upscale(input);
    ASSERT_TRUE(on_host.ok()) << on_host.status();
    ASSERT_TRUE(ApplyPostProcess(post, *on_host).ok());
    int differing = 0;
    for (size_t i = 0; i < on_host->pixels.size(); ++i) differing += on_host->pixels[i] != on_device->pixels[i];
    EXPECT_EQ(differing, 0) << "sharpen " << post.sharpen << " contrast " << post.contrast << " saturation "
                            << post.saturation;
  }
}

// What `anifarm nodes` shows for a GPU node: the caching allocator's live and
// reserved bytes, the driver's free and total, and the loaded model.
TEST_F(CudaEngineTest, ReportsTheAllocatorsFigures) {
  absl::StatusOr<RgbImage> out =
      UpscaleFrame(*cuda_, testutil::ModelPath("2x-AniScale.pth"), "fp16", TexturedImage(64, 48));
  ASSERT_TRUE(out.ok()) << out.status();
  const DeviceMemoryUsage memory = cuda_->memory_usage();
  std::printf("allocated %lld, reserved %lld, free %lld, total %lld, model cache %lld bytes in %d model(s)\n",
              static_cast<long long>(memory.allocated_bytes), static_cast<long long>(memory.reserved_bytes),
              static_cast<long long>(memory.free_bytes), static_cast<long long>(memory.total_bytes),
              static_cast<long long>(memory.model_cache.bytes), memory.model_cache.models);
  // The weights stay on the device between frames.
  EXPECT_GE(memory.allocated_bytes, memory.model_cache.bytes);
  EXPECT_GE(memory.reserved_bytes, memory.allocated_bytes);
  EXPECT_GT(memory.free_bytes, 0);
  EXPECT_GT(memory.total_bytes, memory.free_bytes);
  EXPECT_EQ(memory.model_cache.models, 1);
  // AniScale's fp16 weights: about 1.2 M parameters.
  EXPECT_GT(memory.model_cache.bytes, 1'000'000);
  EXPECT_LT(memory.model_cache.bytes, 8'000'000);
}

// Frames in flight (Upscaler::frames_in_flight): three threads, each on its
// own CUDA stream, upscale different frames at once, and every frame comes
// out as it does alone on the default stream. A missing wait between a
// stream's copies and its kernels shows up here as a torn or mixed frame.
TEST_F(CudaEngineTest, FramesInFlightOnTheirOwnStreamsMatchOneAtATime) {
  UpscaleOptions options;
  options.precision = "fp16";
  const std::string model = testutil::ModelPath("2x-AniScale.pth");
  absl::StatusOr<std::unique_ptr<UpscalerEngine>> three =
      testutil::EngineWithVariable("cuda:0", "ANIFARM_FRAMES_IN_FLIGHT", "3");
  absl::StatusOr<std::unique_ptr<UpscalerEngine>> one =
      testutil::EngineWithVariable("cuda:0", "ANIFARM_FRAMES_IN_FLIGHT", "1");
  ASSERT_TRUE(three.ok() && one.ok());
  absl::StatusOr<std::shared_ptr<Upscaler>> parallel = (*three)->GetUpscaler(model, "", options);
  absl::StatusOr<std::shared_ptr<Upscaler>> serial = (*one)->GetUpscaler(model, "", options);
  ASSERT_TRUE(parallel.ok() && serial.ok());
  ASSERT_EQ((*parallel)->frames_in_flight(), 3);
  ASSERT_EQ((*serial)->frames_in_flight(), 1);
  constexpr int kThreads = 3, kFramesEach = 4;
  std::vector<RgbImage> inputs;
  for (int i = 0; i < kThreads * kFramesEach; ++i) inputs.push_back(TexturedImage(320 + 16 * (i % 3), 180));
  std::vector<absl::StatusOr<RgbImage>> outputs(inputs.size());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kFramesEach; ++k) {
        const size_t i = static_cast<size_t>(t * kFramesEach + k);
        outputs[i] = (*parallel)->Upscale(inputs[i]);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_TRUE(outputs[i].ok()) << outputs[i].status();
    absl::StatusOr<RgbImage> alone = (*serial)->Upscale(inputs[i]);
    ASSERT_TRUE(alone.ok()) << alone.status();
    ASSERT_EQ(outputs[i]->width, alone->width);
    const double psnr = BytePsnr(*outputs[i], *alone);
    std::printf("frame %zu: %.1f dB against one at a time\n", i, psnr);
    EXPECT_GE(psnr, 60.0) << "frame " << i;
  }
}

}  // namespace
}  // namespace anifarm::engine
