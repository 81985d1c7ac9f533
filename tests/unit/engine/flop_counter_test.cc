// FlopCounter (node/engine/flop_counter.h): the benchmarks' TFLOP/s figures
// come from it, so each counted operator is checked against its
// multiply-adds worked out by hand, and a real model against its known cost.
#include "node/engine/flop_counter.h"

#include <c10/core/InferenceMode.h>
#include <torch/torch.h>

#include <thread>

#include "gtest/gtest.h"
#include "node/engine/network.h"
#include "node/engine/network_loader.h"
#include "tests/unit/engine/engine_test_util.h"

namespace anifarm::engine {
namespace {

using Pair = at::IntArrayRef;
using testutil::CountedFlops;

TEST(FlopCounterTest, AConvolutionIsTwiceItsMultiplyAdds) {
  const torch::Tensor x = torch::rand({2, 3, 10, 12});
  const torch::Tensor w = torch::rand({8, 3, 3, 3});
  const torch::Tensor b = torch::rand({8});
  // 2 frames x 8 outputs x 10x12 pixels, each 3x3x3 multiply-adds; the
  // backend call under aten::convolution is not counted again.
  EXPECT_EQ(CountedFlops([&] { at::conv2d(x, w, b, Pair{1, 1}, Pair{1, 1}); }), 2LL * 2 * 8 * 10 * 12 * 27);
  // Stride 2, no padding: a 4x5 output.
  EXPECT_EQ(CountedFlops([&] { at::conv2d(x, w, b, Pair{2, 2}, Pair{0, 0}); }), 2LL * 2 * 8 * 4 * 5 * 27);
}

TEST(FlopCounterTest, GroupedAndTransposedConvolutions) {
  const torch::Tensor x = torch::rand({1, 8, 6, 7});
  // 4 groups: each of the 16 outputs sees 2 input channels.
  const torch::Tensor grouped = torch::rand({16, 2, 3, 3});
  EXPECT_EQ(CountedFlops([&] { at::conv2d(x, grouped, {}, Pair{1, 1}, Pair{1, 1}, Pair{1, 1}, 4); }), 2LL * 16 * 6 * 7 * 2 * 9);
  // Transposed 8 -> 4, 4x4 kernel, stride 2: every input value meets 4x16 weights.
  const torch::Tensor up = torch::rand({8, 4, 4, 4});
  EXPECT_EQ(CountedFlops([&] { at::conv_transpose2d(x, up, {}, Pair{2, 2}, Pair{1, 1}); }), 2LL * 8 * 6 * 7 * 4 * 16);
}

TEST(FlopCounterTest, MatrixProductsThroughLinearMatmulAndEinsum) {
  const torch::Tensor tokens = torch::rand({2, 5, 6});
  const torch::Tensor w = torch::rand({4, 6});
  const torch::Tensor b = torch::rand({4});
  EXPECT_EQ(CountedFlops([&] { at::linear(tokens, w, b); }), 2LL * 2 * 5 * 6 * 4);
  const torch::Tensor q = torch::rand({2, 3, 7, 8});
  const torch::Tensor k = torch::rand({2, 3, 9, 8});
  EXPECT_EQ(CountedFlops([&] { at::matmul(q, k.transpose(-2, -1)); }), 2LL * 2 * 3 * 7 * 9 * 8);
  const torch::Tensor a = torch::rand({5, 6});
  const torch::Tensor c = torch::rand({6, 3});
  EXPECT_EQ(CountedFlops([&] { at::einsum("ij,jk->ik", {a, c}); }), 2LL * 5 * 6 * 3);
}

TEST(FlopCounterTest, ElementWiseWorkIsNotCounted) {
  const torch::Tensor x = torch::rand({1, 4, 16, 16});
  EXPECT_EQ(CountedFlops([&] { at::relu(x * 2 + 1).softmax(1); }), 0);
}

TEST(FlopCounterTest, OtherThreadsCountAndNothingAfterTheCounterStops) {
  const torch::Tensor x = torch::rand({1, 3, 8, 8});
  const torch::Tensor w = torch::rand({4, 3, 1, 1});
  const int64_t one = 2LL * 4 * 8 * 8 * 3;
  EXPECT_EQ(CountedFlops([&] {
              std::thread([&] {
                c10::InferenceMode guard;
                at::conv2d(x, w);
              }).join();
            }),
            one);
  {
    absl::StatusOr<FlopCounter> counter = FlopCounter::Start();
    ASSERT_TRUE(counter.ok());
    EXPECT_FALSE(FlopCounter::Start().ok()) << "one counter at a time";
    AddFlops(1000);  // AniFarm's own kernels report this way
    EXPECT_EQ(counter->flops(), 1000);
  }
  AddFlops(5);  // no counter: dropped
  EXPECT_EQ(CountedFlops([] {}), 0);
}

// Work a pause covers (the cuDNN fusion's timing runs) is left out, on its
// own thread only; pauses nest.
TEST(FlopCounterTest, APausedThreadIsNotCounted) {
  const torch::Tensor x = torch::rand({1, 3, 8, 8});
  const torch::Tensor w = torch::rand({4, 3, 1, 1});
  const int64_t one = 2LL * 4 * 8 * 8 * 3;
  EXPECT_EQ(CountedFlops([&] {
              {
                FlopCountPause pause;
                at::conv2d(x, w);
                AddFlops(1000);
                {
                  FlopCountPause nested;
                }
                at::conv2d(x, w);  // still paused after the nested pause ends
                std::thread([&] {
                  c10::InferenceMode guard;
                  at::conv2d(x, w);  // another thread: counted
                }).join();
              }
              at::conv2d(x, w);  // after the pause: counted
            }),
            2 * one);
}

// The figure docs/benchmarks.md quotes for 2x-AniScale, 1197 GFLOP per input
// megapixel, is what the counter finds the real model doing.
TEST(FlopCounterTest, CompactTwoXCostsItsKnownMultiplyAddsPerPixel) {
  absl::StatusOr<std::unique_ptr<Network>> net =
      LoadNetwork(ANIFARM_TEST_MODEL_DIR "/2x-AniScale.pth", torch::Device("cpu"), torch::kFloat32);
  ASSERT_TRUE(net.ok()) << net.status();
  const int64_t pixels = 24 * 20;
  const torch::Tensor frame = torch::rand({1, 3, 20, 24}).contiguous((*net)->input_memory_format());
  // 3->64, sixteen 64->64 and 64->12 3x3 convolutions.
  const int64_t per_pixel = 9 * (3 * 64 + 16 * 64 * 64 + 64 * 12);
  EXPECT_EQ(CountedFlops([&] { (*net)->Forward(frame); }), 2 * per_pixel * pixels);
  EXPECT_EQ((2 * per_pixel + 500) / 1000, 1197);  // kFLOP per pixel = GFLOP per megapixel
}

}  // namespace
}  // namespace anifarm::engine
