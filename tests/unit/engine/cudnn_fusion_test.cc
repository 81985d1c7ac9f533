// The cuDNN convolution + bias + PReLU fusion (node/engine/cudnn_fusion.h):
// the switch (off unless ANIFARM_CUDNN_FUSION=1 on a CUDA device in a build
// with cuDNN's headers), that it declines what it cannot run instead of
// failing, and, on a CUDA device, the fused layer against the convolution
// and PReLU in fp32, and Compact with the fusion against Compact without
// (skipped without one: tests/bench/gpu_session.sh runs them on a GPU).
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "node/engine/cudnn_fusion.h"
#include "node/engine/fused_epilogue.h"
#include "node/engine/pth_checkpoint.h"
#include "node/engine/srvgg_compact.h"
#include "node/engine/torch_engine.h"
#include "tests/unit/engine/architectures.h"
#include "tests/unit/engine/engine_test_util.h"
#include "tests/scoped_variable.h"

namespace anifarm::engine {
namespace {

const char kModel[] = ANIFARM_TEST_MODEL_DIR "/2x-AniScale.pth";

using testing_util::ScopedVariable;

TEST(CudnnFusionTest, OffUnlessAskedForOnACudaDevice) {
  const torch::Device cpu("cpu");
  const torch::Device cuda("cuda:0");
  unsetenv("ANIFARM_CUDNN_FUSION");
  EXPECT_FALSE(CudnnFusionEnabled(cuda));
  {
    const ScopedVariable on("ANIFARM_CUDNN_FUSION", "1");
    EXPECT_FALSE(CudnnFusionEnabled(cpu));
    EXPECT_EQ(CudnnFusionEnabled(cuda), CudnnFusionBuiltIn());
  }
  const ScopedVariable other("ANIFARM_CUDNN_FUSION", "yes");
  EXPECT_FALSE(CudnnFusionEnabled(cuda));
}

TEST(CudnnFusionTest, DeclinesWhatItCannotRun) {
  const ConvBiasPreluFusion fusion;
  const torch::Tensor x = torch::rand({1, 8, 6, 5}).contiguous(torch::MemoryFormat::ChannelsLast);
  const torch::Tensor w = torch::rand({8, 8, 3, 3}).contiguous(torch::MemoryFormat::ChannelsLast);
  c10::InferenceMode guard;
  // CPU tensors: the caller's own path runs them.
  EXPECT_FALSE(fusion.Run(x, w, torch::zeros({8}), torch::zeros({8})).has_value());
}

// The helper every fused network calls: without a fusion (and, on the CPU,
// without the CUDA kernels) it is the convolution with its kernel's own
// padding, the bias and the PReLU.
TEST(CudnnFusionTest, ConvBiasPreluWithoutAFusionIsTheConvolutionAndPrelu) {
  c10::InferenceMode guard;
  torch::manual_seed(3);
  for (const int64_t kernel : {1, 3, 5}) {
    const torch::Tensor x = torch::rand({1, 6, 11, 9}).contiguous(torch::MemoryFormat::ChannelsLast);
    const torch::Tensor w = torch::randn({4, 6, kernel, kernel}).contiguous(torch::MemoryFormat::ChannelsLast);
    const torch::Tensor bias = torch::randn({4});
    const torch::Tensor slope = torch::rand({4}) * 2.0 - 0.5;
    const torch::Tensor got = ConvBiasPrelu(nullptr, x, w, bias, slope);
    const torch::Tensor expected = at::prelu(at::conv2d(x, w, bias, {1, 1}, {kernel / 2, kernel / 2}), slope);
    ASSERT_EQ(got.sizes(), expected.sizes()) << kernel << "x" << kernel;
    EXPECT_LE((got - expected).abs().max().item<double>(), 1e-4) << kernel << "x" << kernel;
  }
}

// The fused layer on the GPU against the convolution with its bias and the
// PReLU, in fp32 from the same rounded inputs: one rounding of the result
// in the storage type apart (the fused kernel also skips the rounding of
// the convolution's output that the unfused path makes).
TEST(CudnnFusionCudaTest, MatchesTheConvolutionAndPrelu) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device (or a CPU-only LibTorch)";
  if (!CudnnFusionBuiltIn()) GTEST_SKIP() << "built without cuDNN's headers: no fusion to check";
  const torch::Device device("cuda:0");
  c10::InferenceMode guard;
  torch::manual_seed(7);
  // Every plan kept, even one slower than the unfused layer at this size:
  // this is about the fused kernel's arithmetic.
  const ConvBiasPreluFusion fusion(/*require_faster_than_unfused=*/false);
  const auto channels_last = torch::MemoryFormat::ChannelsLast;
  struct Case {
    int64_t in, out;
  };
  for (const Case& k : {Case{64, 64}, Case{3, 64}, Case{64, 16}}) {
    const torch::TensorOptions fp32 = torch::TensorOptions().device(device).dtype(torch::kFloat32);
    const torch::Tensor x32 = torch::rand({1, k.in, 45, 67}, fp32);
    const torch::Tensor w32 = torch::randn({k.out, k.in, 3, 3}, fp32) / std::sqrt(9.0 * k.in);
    const torch::Tensor bias = torch::randn({k.out}, fp32) * 0.1;
    // Slopes below 0, between 0 and 1, and above 1: PReLU, not only LeakyReLU.
    const torch::Tensor slope = torch::rand({k.out}, fp32) * 2.0 - 0.5;
    for (const torch::ScalarType dtype : {torch::kFloat16, torch::kBFloat16, torch::kFloat32}) {
      const torch::Tensor x = x32.to(dtype).contiguous(channels_last);
      const torch::Tensor w = w32.to(dtype).contiguous(channels_last);
      const std::optional<torch::Tensor> fused = fusion.Run(x, w, bias, slope);
      const std::string label = std::to_string(k.in) + "->" + std::to_string(k.out) + " " + c10::toString(dtype);
      if (!fused) {
        // The case the fusion is for: Compact's 64->64 body in fp16.
        EXPECT_FALSE(k.in == 64 && k.out == 64 && dtype == torch::kFloat16) << label << ": cuDNN fused nothing";
        std::printf("cuDNN fusion %s: not fused (the unfused path runs it)\n", label.c_str());
        continue;
      }
      const torch::Tensor expected =
          at::prelu(at::conv2d(x.to(torch::kFloat32), w.to(torch::kFloat32), bias, {1, 1}, {1, 1}), slope);
      ASSERT_EQ(fused->sizes(), expected.sizes()) << label;
      EXPECT_EQ(fused->scalar_type(), dtype) << label;
      EXPECT_TRUE(fused->is_contiguous(channels_last)) << label;
      const double diff = (fused->to(torch::kFloat32) - expected).abs().max().item<double>();
      const double scale = expected.abs().max().item<double>();
      // fp32 convolutions may run on TF32 tensor cores, as LibTorch's do.
      const double tolerance = dtype == torch::kFloat32 ? 2e-3 : dtype == torch::kFloat16 ? 4e-3 : 3e-2;
      std::printf("cuDNN fusion %s: max abs error %.3g of max %.3g\n", label.c_str(), diff, scale);
      EXPECT_LE(diff, tolerance * std::max(scale, 1.0)) << label;
    }
  }
}

// Compact 2x with the fusion against the same network without it, on the GPU.
TEST(CudnnFusionCudaTest, CompactGivesTheSameOutput) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device (or a CPU-only LibTorch)";
  if (!CudnnFusionBuiltIn()) GTEST_SKIP() << "built without cuDNN's headers: no fusion to check";
  absl::StatusOr<TensorMap> weights = LoadPthCheckpoint(kModel);
  ASSERT_TRUE(weights.ok()) << weights.status();
  const torch::Device device("cuda:0");
  for (const torch::ScalarType dtype : {torch::kFloat16, torch::kFloat32}) {
    absl::StatusOr<std::unique_ptr<CompactNet>> plain = CompactNet::Create(*weights, kModel, device, dtype);
    absl::StatusOr<std::unique_ptr<CompactNet>> fused = [&] {
      const ScopedVariable on("ANIFARM_CUDNN_FUSION", "1");
      return CompactNet::Create(*weights, kModel, device, dtype);
    }();
    ASSERT_TRUE(plain.ok() && fused.ok());
    EXPECT_NE((*fused)->ToString().find("cudnn-fusion"), std::string::npos) << (*fused)->ToString();
    EXPECT_EQ((*plain)->ToString().find("cudnn-fusion"), std::string::npos) << (*plain)->ToString();
    c10::InferenceMode guard;
    const torch::Tensor input = testutil::TexturedInput(120, 72).to(device, dtype);
    const torch::Tensor a = (*plain)->Forward(input).to(torch::kFloat32).clamp(0, 1);
    const torch::Tensor b = (*fused)->Forward(input).to(torch::kFloat32).clamp(0, 1);
    ASSERT_EQ(a.sizes(), b.sizes());
    const double psnr = testutil::Psnr(a, b, 1.0);
    std::printf("Compact %s with cuDNN fusion vs without: %.2f dB\n", c10::toString(dtype), psnr);
    EXPECT_GE(psnr, dtype == torch::kFloat32 ? 50.0 : 40.0) << c10::toString(dtype);
    // Counted after the plans are chosen (their timing runs are extra work):
    // the fused layers report theirs, so the count is the network's.
    EXPECT_EQ(testutil::CountedFlops([&] { (*fused)->Forward(input); }),
              testutil::CountedFlops([&] { (*plain)->Forward(input); }));
  }
}

// Every architecture through the engine with the fusion against the engine
// without it, on the GPU: the networks that use it (Compact, its ncnn
// graph, RRDBNet, the ncnn graphs with PReLU or LeakyReLU convolutions) say
// so in their description and keep their picture; the others are untouched.
class CudnnFusionEngineTest : public testing::TestWithParam<testutil::Architecture> {};

TEST_P(CudnnFusionEngineTest, GivesTheFramesOfTheUnfusedEngine) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device (or a CPU-only LibTorch)";
  if (!CudnnFusionBuiltIn()) GTEST_SKIP() << "built without cuDNN's headers: no fusion to check";
  const testutil::Architecture& arch = GetParam();
  absl::StatusOr<std::unique_ptr<UpscalerEngine>> plain = CreateTorchEngine("cuda:0");
  absl::StatusOr<std::unique_ptr<UpscalerEngine>> fused =
      testutil::EngineWithVariable("cuda:0", "ANIFARM_CUDNN_FUSION", "1");
  ASSERT_TRUE(plain.ok()) << plain.status();
  ASSERT_TRUE(fused.ok()) << fused.status();
  const RgbImage input = testutil::TexturedImage(96, 80);
  for (const std::string precision : {"fp16", "fp32"}) {
    // The network reads ANIFARM_CUDNN_FUSION when it loads, in GetUpscaler.
    std::string plain_description, fused_description;
    absl::StatusOr<RgbImage> a = testutil::UpscaleFrame(**plain, arch.path, precision, input, 0, 16, &plain_description);
    setenv("ANIFARM_CUDNN_FUSION", "1", 1);
    absl::StatusOr<RgbImage> b = testutil::UpscaleFrame(**fused, arch.path, precision, input, 0, 16, &fused_description);
    unsetenv("ANIFARM_CUDNN_FUSION");
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(plain_description.find("cudnn-fusion"), std::string::npos) << plain_description;
    if (std::string(arch.label) == "SRVGGNetCompact_AniScale" && FusedEpilogueEnabled(torch::Device("cuda:0"))) {
      EXPECT_NE(fused_description.find("cudnn-fusion"), std::string::npos) << fused_description;
    }
    const double psnr = testutil::BytePsnr(*a, *b);
    std::printf("%s %s with cuDNN fusion vs without: %.2f dB (%s)\n", arch.label, precision.c_str(), psnr,
                fused_description.c_str());
    EXPECT_GE(psnr, precision == "fp32" ? 50.0 : 40.0) << arch.label << " " << precision;
  }
}

INSTANTIATE_TEST_SUITE_P(EveryArchitecture, CudnnFusionEngineTest, testing::ValuesIn(testutil::AllArchitectures()),
                         [](const testing::TestParamInfo<testutil::Architecture>& info) { return info.param.label; });

}  // namespace
}  // namespace anifarm::engine
