// The fused bias + PReLU epilogue (node/engine/fused_epilogue.h and
// node/engine/cuda/): the per-element arithmetic and indexing its kernels
// run, executed here on the host over real tensor memory and checked against
// LibTorch's own bias add and PReLU; the switch that turns it on or off; and,
// on a CUDA device, the kernels themselves against the eager ops (skipped
// without one: tests/bench/gpu_session.sh runs them on a GPU).
#include <torch/torch.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"
#include "node/engine/cuda/epilogue_math.h"
#include "node/engine/fused_epilogue.h"
#include "node/engine/torch_engine.h"

namespace anifarm::engine {
namespace {

torch::Tensor EagerReference(const torch::Tensor& conv, const torch::Tensor& bias, const torch::Tensor& slope) {
  return at::prelu(conv + bias.to(conv.scalar_type()).view({1, -1, 1, 1}), slope.to(conv.scalar_type()));
}

// What the kernels do, element by element over y's memory in its own order.
torch::Tensor HostFusedBiasPrelu(torch::Tensor y, const torch::Tensor& bias, const torch::Tensor& slope) {
  const int64_t stride = DenseChannelStride(y);
  EXPECT_NE(stride, 0);
  float* data = y.data_ptr<float>();
  const float* b = bias.data_ptr<float>();
  const float* s = slope.data_ptr<float>();
  for (int64_t i = 0; i < y.numel(); ++i) {
    const int64_t c = cuda::ChannelOf(i, y.size(1), stride);
    data[i] = cuda::BiasPrelu(data[i], b[c], s[c]);
  }
  return y;
}

struct Operands {
  torch::Tensor conv, bias, slope;
};

Operands RandomOperands(int64_t n, int64_t c, int64_t h, int64_t w, torch::MemoryFormat format,
                        const torch::Device& device = torch::kCPU) {
  torch::manual_seed(7);
  const auto fp32 = torch::TensorOptions().dtype(torch::kFloat32);
  Operands o;
  o.conv = torch::randn({n, c, h, w}, fp32).contiguous(format).to(device);
  o.bias = torch::randn({c}, fp32).to(device);
  // Slopes of both signs and above one, as trained PReLUs have.
  o.slope = (torch::rand({c}, fp32) * 2.5 - 0.5).to(device);
  return o;
}

TEST(FusedEpilogueTest, KernelArithmeticMatchesTorchInBothLayouts) {
  for (const torch::MemoryFormat format : {torch::MemoryFormat::ChannelsLast, torch::MemoryFormat::Contiguous}) {
    const Operands o = RandomOperands(2, 12, 5, 7, format);
    const torch::Tensor expected = EagerReference(o.conv, o.bias, o.slope);
    const torch::Tensor fused = HostFusedBiasPrelu(o.conv.clone(), o.bias, o.slope);
    EXPECT_TRUE(torch::equal(fused, expected)) << "format " << format << ", max difference "
                                               << (fused - expected).abs().max().item<float>();
    // Negative inputs were there to be scaled, positive ones to pass.
    EXPECT_GT((o.conv + o.bias.view({1, -1, 1, 1}) < 0).sum().item<int64_t>(), 0);
  }
}

TEST(FusedEpilogueTest, LeakyReluIsOneSlopeForEveryChannel) {
  const Operands o = RandomOperands(1, 8, 4, 4, torch::MemoryFormat::ChannelsLast);
  const torch::Tensor slope = torch::full({8}, 0.2f);
  const torch::Tensor expected = at::leaky_relu(o.conv + o.bias.view({1, -1, 1, 1}), 0.2);
  EXPECT_TRUE(torch::allclose(HostFusedBiasPrelu(o.conv.clone(), o.bias, slope), expected, 0, 1e-6));
}

TEST(FusedEpilogueTest, ChannelStrideFollowsTheLayout) {
  const torch::Tensor nchw = torch::zeros({2, 6, 5, 7});
  EXPECT_EQ(DenseChannelStride(nchw), 35);
  EXPECT_EQ(DenseChannelStride(nchw.contiguous(torch::MemoryFormat::ChannelsLast)), 1);
  // A view that is neither layout: the kernels' indexing does not apply.
  EXPECT_EQ(DenseChannelStride(nchw.transpose(2, 3)), 0);
  EXPECT_EQ(DenseChannelStride(nchw.slice(3, 1, 4)), 0);
  EXPECT_EQ(DenseChannelStride(torch::zeros({6, 5, 7})), 0);
}

TEST(FusedEpilogueTest, OnlyCudaDevicesWithTheKernelsUseIt) {
  EXPECT_FALSE(FusedEpilogueEnabled(torch::Device("cpu")));
  const torch::Device cuda("cuda:0");
  unsetenv("ANIFARM_FUSED_EPILOGUE");
  EXPECT_EQ(FusedEpilogueEnabled(cuda), CudaKernelsBuiltIn());
  setenv("ANIFARM_FUSED_EPILOGUE", "0", 1);
  EXPECT_FALSE(FusedEpilogueEnabled(cuda));
  unsetenv("ANIFARM_FUSED_EPILOGUE");
}

TEST(FusedEpilogueTest, WithoutTheKernelsItRunsTheEagerOps) {
  // On the CPU FusedBiasPrelu is LibTorch's ops, whatever the build.
  for (const torch::ScalarType dtype : {torch::kFloat32, torch::kBFloat16}) {
    const Operands o = RandomOperands(1, 4, 3, 9, torch::MemoryFormat::ChannelsLast);
    const torch::Tensor conv = o.conv.to(dtype);
    const torch::Tensor expected = EagerReference(conv, o.bias, o.slope);
    const torch::Tensor got = FusedBiasPrelu(conv.clone(), o.bias, o.slope);
    EXPECT_EQ(got.scalar_type(), dtype);
    EXPECT_TRUE(torch::equal(got, expected)) << dtype;
  }
  EXPECT_THROW(FusedBiasPrelu(torch::zeros({1, 4, 2, 2}), torch::zeros({3}), torch::zeros({4})), c10::Error);
}

TEST(FusedEpilogueTest, PerChannelOperandsAreFp32ForEveryChannel) {
  const torch::Device cpu("cpu");
  const torch::Tensor bias = torch::arange(4, torch::kFloat32).to(torch::kBFloat16);
  const torch::Tensor per_channel = PerChannelFp32(bias, 0.0, 4, cpu);
  EXPECT_EQ(per_channel.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(per_channel, torch::arange(4, torch::kFloat32)));
  // One PReLU slope for all channels, and a LeakyReLU's constant slope.
  EXPECT_TRUE(torch::equal(PerChannelFp32(torch::full({1}, 0.25f), 0.0, 3, cpu), torch::full({3}, 0.25f)));
  const torch::Tensor filled = PerChannelFp32(/*values=*/{}, 0.2, 5, cpu);
  EXPECT_TRUE(filled.is_contiguous());
  EXPECT_TRUE(torch::equal(filled, torch::full({5}, 0.2f)));
}

// On a GPU: the kernels against the eager ops, through the packed path
// (channels-last, C a multiple of 8), the element-wise path (NCHW; C = 3)
// and a strided view made channels-last first.
TEST(FusedEpilogueCudaTest, KernelsMatchTheEagerOps) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device (or a CPU-only LibTorch)";
  if (!CudaKernelsBuiltIn()) GTEST_SKIP() << "built without AniFarm's CUDA kernels (no nvcc at configure time)";
  const torch::Device device("cuda:0");
  struct Case {
    int64_t c;
    torch::MemoryFormat format;
    bool strided;
  };
  for (const Case& k : {Case{64, torch::MemoryFormat::ChannelsLast, false}, Case{64, torch::MemoryFormat::Contiguous, false},
                        Case{3, torch::MemoryFormat::ChannelsLast, false}, Case{24, torch::MemoryFormat::Contiguous, true}}) {
    for (const torch::ScalarType dtype : {torch::kFloat32, torch::kFloat16, torch::kBFloat16}) {
      const Operands o = RandomOperands(2, k.c, 33, 47, k.format, device);
      torch::Tensor conv = o.conv.to(dtype);
      if (k.strided) conv = conv.transpose(2, 3);
      // The reference in fp32 from the same rounded inputs, rounded once.
      const torch::Tensor expected = EagerReference(conv.to(torch::kFloat32), o.bias, o.slope).to(dtype);
      const torch::Tensor got = FusedBiasPrelu(conv.clone(), o.bias, o.slope);
      ASSERT_EQ(got.sizes(), expected.sizes());
      const double tolerance = dtype == torch::kFloat32 ? 1e-6 : dtype == torch::kFloat16 ? 2e-3 : 2e-2;
      const float diff = (got.to(torch::kFloat32) - expected.to(torch::kFloat32)).abs().max().item<float>();
      EXPECT_LE(diff, tolerance * 8) << "C " << k.c << " format " << k.format << " dtype " << dtype;
    }
  }
}

}  // namespace
}  // namespace anifarm::engine
