// AniFarm's kernels for Compact's first and last layers
// (node/engine/compact_ends.h): the switch, the weight layouts and the
// pixel-shuffle mapping the kernels index by (checked on any machine, the
// tail's arithmetic replayed on the host from the packed weights), and, on a
// CUDA device, each kernel against LibTorch's layers and Compact with them
// against Compact without (skipped without one: tests/bench/gpu_session.sh
// runs them on a GPU).
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "node/engine/compact_ends.h"
#include "node/engine/cuda/compact_ends_kernels.h"
#include "node/engine/cuda/epilogue_math.h"
#include "node/engine/fused_epilogue.h"
#include "node/engine/pth_checkpoint.h"
#include "node/engine/srvgg_compact.h"
#include "node/engine/torch_engine.h"
#include "tests/unit/engine/engine_test_util.h"
#include "tests/scoped_variable.h"

namespace anifarm::engine {
namespace {

const char kModel[] = ANIFARM_TEST_MODEL_DIR "/2x-AniScale.pth";

using testing_util::ScopedVariable;

TEST(CompactEndsTest, OffUnlessAskedForOnACudaDevice) {
  unsetenv("ANIFARM_COMPACT_ENDS");
  EXPECT_FALSE(CompactEndsEnabled(torch::Device("cuda:0")));
  const ScopedVariable on("ANIFARM_COMPACT_ENDS", "1");
  EXPECT_FALSE(CompactEndsEnabled(torch::Device("cpu")));
  EXPECT_EQ(CompactEndsEnabled(torch::Device("cuda:0")), CudaKernelsBuiltIn());
}

TEST(CompactEndsTest, HeadWeightsPutTheTapsOutermost) {
  torch::manual_seed(1);
  const torch::Tensor w = torch::randn({24, 3, 3, 3});
  const CompactHeadWeights head = PackHeadWeights(w.to(torch::kFloat16), torch::randn({24}), torch::randn({24}));
  ASSERT_EQ(head.features, 24);
  ASSERT_EQ(head.weights.numel(), 27 * 24);
  EXPECT_EQ(head.weights.scalar_type(), torch::kFloat32);
  const torch::Tensor rounded = w.to(torch::kFloat16).to(torch::kFloat32);
  const float* packed = head.weights.data_ptr<float>();
  for (int f = 0; f < 24; ++f) {
    for (int c = 0; c < 3; ++c) {
      for (int ky = 0; ky < 3; ++ky) {
        for (int kx = 0; kx < 3; ++kx) {
          ASSERT_EQ(packed[(c * 9 + ky * 3 + kx) * 24 + f], rounded[f][c][ky][kx].item<float>())
              << f << " " << c << " " << ky << " " << kx;
        }
      }
    }
  }
}

TEST(CompactEndsTest, TailWeightsFollowTheKernelsIndex) {
  torch::manual_seed(2);
  for (const int64_t outputs : {3, 12, 27, 48}) {
    const torch::Tensor w = torch::randn({outputs, 32, 3, 3});
    const torch::Tensor packed = PackTailWeights(w, torch::kFloat32, torch::Device("cpu"));
    const int64_t padded = cuda::TailPaddedOutputs(outputs);
    ASSERT_EQ(padded % 16, 0);
    ASSERT_GE(padded, outputs);
    ASSERT_EQ(packed.numel(), 32 * 9 * padded);
    const float* p = packed.data_ptr<float>();
    const auto wa = w.accessor<float, 4>();
    for (int64_t chunk = 0; chunk < 2; ++chunk) {
      for (int64_t tap = 0; tap < 9; ++tap) {
        for (int64_t i = 0; i < 16; ++i) {
          for (int64_t k = 0; k < padded; ++k) {
            const float expected = k < outputs ? wa[k][chunk * 16 + i][tap / 3][tap % 3] : 0.0f;
            ASSERT_EQ(p[cuda::TailWeightIndex(chunk, tap, i, k, padded)], expected)
                << outputs << ": " << chunk << " " << tap << " " << i << " " << k;
          }
        }
      }
    }
  }
}

TEST(CompactEndsTest, ShuffledChannelIsPixelShuffle) {
  torch::manual_seed(3);
  for (const int64_t s : {1, 2, 3, 4}) {
    const torch::Tensor t = torch::rand({1, 3 * s * s, 2, 3});
    const torch::Tensor shuffled = at::pixel_shuffle(t, s);
    for (int64_t k = 0; k < 3 * s * s; ++k) {
      const cuda::ShuffleTarget target = cuda::ShuffledChannel(k, s);
      for (int64_t y = 0; y < 2; ++y) {
        for (int64_t x = 0; x < 3; ++x) {
          ASSERT_EQ(shuffled[0][target.channel][y * s + target.row][x * s + target.column].item<float>(),
                    t[0][k][y][x].item<float>())
              << "scale " << s << " channel " << k;
        }
      }
    }
  }
}

// The tail kernel's arithmetic, replayed on the host from the packed weights
// with the same indices (TailWeightIndex, ShuffledChannel), against
// LibTorch's convolution, pixel shuffle and nearest upsampling.
TEST(CompactEndsTest, TailArithmeticFromThePackedWeightsIsTheLayers) {
  torch::manual_seed(4);
  for (const int64_t s : {1, 2, 4}) {
    const int64_t features = 32, outputs = 3 * s * s, height = 5, width = 7;
    const torch::Tensor feat = torch::randn({1, features, height, width});
    const torch::Tensor x = torch::rand({1, 3, height, width});
    const torch::Tensor w = torch::randn({outputs, features, 3, 3}) * 0.1;
    const torch::Tensor bias = torch::randn({outputs});
    const torch::Tensor packed = PackTailWeights(w, torch::kFloat32, torch::Device("cpu"));
    const int64_t padded = cuda::TailPaddedOutputs(outputs);
    const float* p = packed.data_ptr<float>();
    const auto fa = feat.accessor<float, 4>();
    const auto xa = x.accessor<float, 4>();
    const auto ba = bias.accessor<float, 1>();
    torch::Tensor got = torch::zeros({1, 3, height * s, width * s});
    auto ga = got.accessor<float, 4>();
    for (int64_t row = 0; row < height; ++row) {
      for (int64_t col = 0; col < width; ++col) {
        for (int64_t k = 0; k < outputs; ++k) {
          double acc = 0;
          for (int64_t chunk = 0; chunk < features / 16; ++chunk) {
            for (int64_t tap = 0; tap < 9; ++tap) {
              const int64_t r = row + tap / 3 - 1, q = col + tap % 3 - 1;
              if (r < 0 || r >= height || q < 0 || q >= width) continue;
              for (int64_t i = 0; i < 16; ++i) {
                acc += fa[0][chunk * 16 + i][r][q] * p[cuda::TailWeightIndex(chunk, tap, i, k, padded)];
              }
            }
          }
          const cuda::ShuffleTarget t = cuda::ShuffledChannel(k, s);
          ga[0][t.channel][row * s + t.row][col * s + t.column] =
              static_cast<float>(acc + ba[k] + xa[0][t.channel][row][col]);
        }
      }
    }
    const torch::Tensor expected = at::pixel_shuffle(at::conv2d(feat, w, bias, {1, 1}, {1, 1}), s) +
                                   at::upsample_nearest2d(x, {height * s, width * s});
    EXPECT_LE((got - expected).abs().max().item<double>(), 1e-4) << "scale " << s;
  }
}

TEST(CompactEndsTest, DeclinesCpuTensors) {
  const CompactHeadWeights head = PackHeadWeights(torch::randn({16, 3, 3, 3}), torch::zeros({16}), torch::zeros({16}));
  c10::InferenceMode guard;
  EXPECT_FALSE(RunCompactHead(torch::rand({1, 3, 8, 8}), head).has_value());
  const torch::Tensor feat = torch::rand({1, 16, 8, 8}).contiguous(torch::MemoryFormat::ChannelsLast);
  EXPECT_FALSE(RunCompactTail(feat, torch::rand({1, 3, 8, 8}),
                              PackTailWeights(torch::randn({12, 16, 3, 3}), torch::kFloat32, torch::Device("cpu")),
                              torch::zeros({12}), 12, 2)
                   .has_value());
}

// Frames that leave partial tiles (the tail's are 4 x 32 pixels), and
// frames smaller than one tile, all border.
struct FrameSize {
  int64_t height, width;
};
const FrameSize kSizes[] = {{45, 67}, {1, 1}, {3, 17}};

TEST(CompactEndsCudaTest, HeadMatchesTheConvolutionAndPrelu) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device (or a CPU-only LibTorch)";
  if (!CudaKernelsBuiltIn()) GTEST_SKIP() << "built without AniFarm's CUDA kernels";
  const torch::Device device("cuda:0");
  c10::InferenceMode guard;
  torch::manual_seed(5);
  for (const auto& [kHeight, kWidth] : kSizes)
  for (const int64_t features : {64, 48, 24, 8}) {
    const torch::Tensor w = torch::randn({features, 3, 3, 3}) / std::sqrt(27.0);
    const torch::Tensor bias = torch::randn({features}) * 0.1;
    const torch::Tensor slope = torch::rand({features}) * 2.0 - 0.5;
    const CompactHeadWeights head = PackHeadWeights(w, bias, slope);
    const torch::Tensor x32 = torch::rand({2, 3, kHeight, kWidth}).to(device);
    for (const torch::ScalarType dtype : {torch::kFloat16, torch::kBFloat16, torch::kFloat32}) {
      for (const bool channels_last : {false, true}) {
        torch::Tensor x = x32.to(dtype);
        if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
        const std::optional<torch::Tensor> got = RunCompactHead(x, head);
        const std::string label = std::to_string(features) + " " + c10::toString(dtype) +
                                  (channels_last ? " channels-last " : " NCHW ") + std::to_string(kHeight) + "x" +
                                  std::to_string(kWidth);
        ASSERT_TRUE(got.has_value()) << label;
        const torch::Tensor expected =
            at::prelu(at::conv2d(x.to(torch::kFloat32), w.to(device), bias.to(device), {1, 1}, {1, 1}),
                      slope.to(device));
        ASSERT_EQ(got->sizes(), expected.sizes()) << label;
        EXPECT_TRUE(got->is_contiguous(torch::MemoryFormat::ChannelsLast)) << label;
        const double diff = (got->to(torch::kFloat32) - expected).abs().max().item<double>();
        const double tolerance = dtype == torch::kFloat32 ? 1e-5 : dtype == torch::kFloat16 ? 4e-3 : 3e-2;
        std::printf("Compact head %s: max abs error %.3g\n", label.c_str(), diff);
        EXPECT_LE(diff, tolerance * std::max(expected.abs().max().item<double>(), 1.0)) << label;
      }
    }
  }
}

TEST(CompactEndsCudaTest, TailMatchesTheConvolutionShuffleAndResidual) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device (or a CPU-only LibTorch)";
  if (!CudaKernelsBuiltIn()) GTEST_SKIP() << "built without AniFarm's CUDA kernels";
  const torch::Device device("cuda:0");
  c10::InferenceMode guard;
  torch::manual_seed(6);
  for (const auto& [kHeight, kWidth] : kSizes)
  for (const int64_t features : {64, 32}) {
    for (const int64_t s : {1, 2, 3, 4}) {
      const int64_t outputs = 3 * s * s;
      const torch::Tensor w = (torch::randn({outputs, features, 3, 3}) / std::sqrt(9.0 * features)).to(device);
      const torch::Tensor bias = (torch::randn({outputs}) * 0.1).to(device);
      const torch::Tensor feat32 = torch::randn({2, features, kHeight, kWidth}).to(device);
      const torch::Tensor x32 = torch::rand({2, 3, kHeight, kWidth}).to(device);
      for (const torch::ScalarType dtype : {torch::kFloat16, torch::kBFloat16}) {
        for (const bool channels_last : {false, true}) {
          const torch::Tensor feat = feat32.to(dtype).contiguous(torch::MemoryFormat::ChannelsLast);
          torch::Tensor x = x32.to(dtype);
          if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
          const torch::Tensor packed = PackTailWeights(w, dtype, device);
          const std::optional<torch::Tensor> got = RunCompactTail(feat, x, packed, bias, outputs, s);
          const std::string label = std::to_string(features) + " x" + std::to_string(s) + " " +
                                    c10::toString(dtype) + (channels_last ? " channels-last " : " NCHW ") +
                                    std::to_string(kHeight) + "x" + std::to_string(kWidth);
          ASSERT_TRUE(got.has_value()) << label;
          const torch::Tensor x_f = x.to(torch::kFloat32);
          const torch::Tensor expected =
              at::pixel_shuffle(at::conv2d(feat.to(torch::kFloat32), w.to(dtype).to(torch::kFloat32), bias, {1, 1},
                                           {1, 1}),
                                s) +
              at::upsample_nearest2d(x_f, {kHeight * s, kWidth * s});
          ASSERT_EQ(got->sizes(), expected.sizes()) << label;
          const double diff = (got->to(torch::kFloat32) - expected).abs().max().item<double>();
          const double tolerance = dtype == torch::kFloat16 ? 4e-3 : 3e-2;
          std::printf("Compact tail %s: max abs error %.3g\n", label.c_str(), diff);
          EXPECT_LE(diff, tolerance * std::max(expected.abs().max().item<double>(), 1.0)) << label;
        }
      }
    }
  }
}

// Compact 2x with the kernels against the same network without them, on a
// batch of two frames.
TEST(CompactEndsCudaTest, CompactGivesTheSameOutput) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device (or a CPU-only LibTorch)";
  if (!CudaKernelsBuiltIn()) GTEST_SKIP() << "built without AniFarm's CUDA kernels";
  absl::StatusOr<TensorMap> weights = LoadPthCheckpoint(kModel);
  ASSERT_TRUE(weights.ok()) << weights.status();
  const torch::Device device("cuda:0");
  for (const torch::ScalarType dtype : {torch::kFloat16, torch::kBFloat16, torch::kFloat32}) {
    absl::StatusOr<std::unique_ptr<CompactNet>> plain = CompactNet::Create(*weights, kModel, device, dtype);
    absl::StatusOr<std::unique_ptr<CompactNet>> ends = [&] {
      const ScopedVariable on("ANIFARM_COMPACT_ENDS", "1");
      return CompactNet::Create(*weights, kModel, device, dtype);
    }();
    ASSERT_TRUE(plain.ok() && ends.ok());
    EXPECT_NE((*ends)->ToString().find("compact-ends"), std::string::npos) << (*ends)->ToString();
    c10::InferenceMode guard;
    // Two frames: the kernels' grids have the batch as a dimension.
    const torch::Tensor frame = testutil::TexturedInput(130, 75);
    const torch::Tensor input = torch::cat({frame, frame.flip(3)}).to(device, dtype);
    const torch::Tensor a = (*plain)->Forward(input).to(torch::kFloat32).clamp(0, 1);
    const torch::Tensor b = (*ends)->Forward(input).to(torch::kFloat32).clamp(0, 1);
    ASSERT_EQ(a.sizes(), b.sizes());
    const double psnr = testutil::Psnr(a, b, 1.0);
    std::printf("Compact %s with AniFarm's end kernels vs without: %.2f dB\n", c10::toString(dtype), psnr);
    EXPECT_GE(psnr, dtype == torch::kFloat32 ? 50.0 : dtype == torch::kFloat16 ? 40.0 : 32.0) << c10::toString(dtype);
    // The kernels report their work, so the benchmarks' TFLOP/s count the
    // same network either way.
    EXPECT_EQ(testutil::CountedFlops([&] { (*ends)->Forward(input); }),
              testutil::CountedFlops([&] { (*plain)->Forward(input); }));
  }
}

}  // namespace
}  // namespace anifarm::engine
