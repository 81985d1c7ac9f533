// Tests of SPAN detection and wiring: synthetic state dicts (with and
// without input normalisation, several scales), the committed random-weight
// fixture, the Conv3XC fusion against the unfused chain, tiled against
// whole-frame inference, and malformed variants. (The numeric comparison
// with PyTorch is in reference_test.cc.)
#include "node/engine/span.h"

#include <c10/core/InferenceMode.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/unit/engine/engine_test_util.h"
#include "gtest/gtest.h"
#include "node/engine/pth_checkpoint.h"
#include "node/engine/srvgg_compact.h"

namespace anifarm::engine {
namespace {

using testutil::Edited;
using testutil::TexturedInput;
using testutil::TiledVsWholeFramePsnr;

std::string ReferencePath(const std::string& name) {
  return (std::filesystem::path(__FILE__).parent_path() / "reference" / name).string();
}

// Random SPAN weights; eval_conv holds zeros (stale), as it must be ignored.
TensorMap RandomSpan(int nf, int scale, bool norm, uint64_t seed = 3) {
  torch::manual_seed(seed);
  TensorMap w;
  const auto conv = [&](const std::string& name, int64_t in, int64_t out, int64_t k, double gain = 1.0) {
    w.emplace_back(name + ".weight", torch::randn({out, in, k, k}) * (gain / std::sqrt(in * k * k)));
    w.emplace_back(name + ".bias", torch::randn({out}) * 0.05 * gain);
  };
  const auto c3xc = [&](const std::string& name, int64_t in, int64_t out, double gain = 1.0) {
    conv(name + ".sk", in, out, 1, gain);
    conv(name + ".conv.0", in, 2 * in, 1);
    conv(name + ".conv.1", 2 * in, 2 * out, 3);
    conv(name + ".conv.2", 2 * out, out, 1, gain);
    w.emplace_back(name + ".eval_conv.weight", torch::zeros({out, in, 3, 3}));
    w.emplace_back(name + ".eval_conv.bias", torch::zeros({out}));
  };
  c3xc("conv_1", 3, nf, norm ? 1.0 / 255 : 1.0);
  for (int i = 1; i <= 6; ++i) {
    for (const char* c : {"c1_r", "c2_r", "c3_r"}) c3xc(absl::StrCat("block_", i, ".", c), nf, nf);
  }
  conv("conv_cat", 4 * nf, nf, 1);
  c3xc("conv_2", nf, nf);
  conv("upsampler.0", nf, 3 * scale * scale, 3);
  if (!norm) w.emplace_back("no_norm", torch::zeros({1}));
  return w;
}

torch::Tensor ForwardOnce(const Network& net, const torch::Tensor& x) {
  c10::InferenceMode guard;
  return net.Forward(x);
}

TEST(SpanTest, DetectsFeaturesScaleAndNorm) {
  for (const int scale : {1, 2, 4}) {
    for (const bool norm : {true, false}) {
      SCOPED_TRACE(absl::StrCat("scale ", scale, " norm ", norm));
      const TensorMap weights = RandomSpan(6, scale, norm);
      EXPECT_EQ(GuessArchitecture(weights), "SPAN");
      absl::StatusOr<SpanConfig> config = DetectSpan(weights, "synthetic");
      ASSERT_TRUE(config.ok()) << config.status();
      EXPECT_EQ(config->num_feat, 6);
      EXPECT_EQ(config->scale, scale);
      EXPECT_EQ(config->norm, norm);
      absl::StatusOr<std::unique_ptr<SpanNet>> net = SpanNet::Create(weights, "synthetic", torch::kCPU,
                                                                      torch::kFloat32);
      ASSERT_TRUE(net.ok()) << net.status();
      const torch::Tensor y = ForwardOnce(**net, torch::rand({1, 3, 7, 9}));
      EXPECT_EQ(y.sizes().vec(), (std::vector<int64_t>{1, 3, 7 * scale, 9 * scale}));
      EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
    }
  }
  absl::StatusOr<SpanConfig> fixture = [] {
    absl::StatusOr<TensorMap> w = LoadPthCheckpoint(ReferencePath("span_x2.pth"));
    EXPECT_TRUE(w.ok()) << w.status();
    return w.ok() ? DetectSpan(*w, "span_x2.pth") : absl::StatusOr<SpanConfig>(w.status());
  }();
  ASSERT_TRUE(fixture.ok()) << fixture.status();
  EXPECT_EQ(fixture->ToString(), "SPAN(num_feat=4, scale=2)");
  EXPECT_EQ(DetectSpan(RandomSpan(6, 4, false), "x")->ToString(), "SPAN(num_feat=6, norm=false, scale=4)");
}

// The fused 3x3 conv equals the chain it replaces run the training way
// (zero-padded input through 1x1, 3x3, 1x1, plus the 1x1 skip): checked
// through a whole network whose blocks are all fused.
TEST(SpanTest, FusionMatchesTheUnfusedChain) {
  const TensorMap weights = RandomSpan(5, 2, false);
  absl::StatusOr<std::unique_ptr<SpanNet>> net = SpanNet::Create(weights, "x", torch::kCPU, torch::kFloat32);
  ASSERT_TRUE(net.ok()) << net.status();
  const auto get = [&](const std::string& k) { return *FindTensor(weights, k); };
  const auto c3xc = [&](const torch::Tensor& x, const std::string& p) {
    torch::Tensor t = torch::constant_pad_nd(x, {1, 1, 1, 1}, 0);
    t = torch::conv2d(t, get(p + ".conv.0.weight"), get(p + ".conv.0.bias"));
    t = torch::conv2d(t, get(p + ".conv.1.weight"), get(p + ".conv.1.bias"));
    t = torch::conv2d(t, get(p + ".conv.2.weight"), get(p + ".conv.2.bias"));
    return t + torch::conv2d(x, get(p + ".sk.weight"), get(p + ".sk.bias"));
  };
  const torch::Tensor x = torch::rand({1, 3, 11, 8});
  torch::Tensor feat = c3xc(x, "conv_1"), out = feat, b1, o1_last;
  for (int i = 1; i <= 6; ++i) {
    const std::string p = absl::StrCat("block_", i, ".");
    const torch::Tensor o1 = c3xc(out, p + "c1_r");
    const torch::Tensor o3 = c3xc(torch::silu(c3xc(torch::silu(o1), p + "c2_r")), p + "c3_r");
    out = (o3 + out) * (torch::sigmoid(o3) - 0.5);
    if (i == 1) b1 = out;
    if (i == 6) o1_last = o1;
  }
  out = torch::conv2d(torch::cat({feat, c3xc(out, "conv_2"), b1, o1_last}, 1), get("conv_cat.weight"),
                      get("conv_cat.bias"));
  out = torch::pixel_shuffle(
      torch::conv2d(out, get("upsampler.0.weight"), get("upsampler.0.bias"), 1, 1), 2);
  const double diff = (ForwardOnce(**net, x) - out).abs().max().item<double>();
  std::printf("SPAN fused vs unfused chain: max abs diff %.3g\n", diff);
  EXPECT_LT(diff, 1e-4);
}

TEST(SpanTest, TiledMatchesWholeFrame) {
  absl::StatusOr<TensorMap> weights = LoadPthCheckpoint(ReferencePath("span_x2.pth"));
  ASSERT_TRUE(weights.ok()) << weights.status();
  absl::StatusOr<std::unique_ptr<SpanNet>> net = SpanNet::Create(*weights, "span_x2", torch::kCPU,
                                                                  torch::kFloat32);
  ASSERT_TRUE(net.ok()) << net.status();
  const torch::Tensor input = TexturedInput(96, 80);
  for (const auto& [tile, overlap] : {std::pair{32, 8}, std::pair{48, 16}}) {
    const double psnr = TiledVsWholeFramePsnr(**net, input, tile, overlap);
    std::printf("SPAN tile %d overlap %d vs whole frame: %.2f dB\n", tile, overlap, psnr);
    EXPECT_GE(psnr, 50.0) << "tile " << tile;
  }
}

void ExpectRejected(const TensorMap& weights, const std::string& needle) {
  absl::StatusOr<SpanConfig> config = DetectSpan(weights, "bad.pth");
  ASSERT_FALSE(config.ok()) << needle;
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(config.status().message(), "bad.pth: not a supported SPAN state dict"))
      << config.status();
  EXPECT_TRUE(absl::StrContains(config.status().message(), needle)) << config.status();
}

TEST(SpanTest, RejectsMalformedStateDicts) {
  const TensorMap good = RandomSpan(6, 2, true);
  ASSERT_TRUE(DetectSpan(good, "good.pth").ok());
  ExpectRejected(Edited(good, "block_4.c2_r.conv.1.weight"), "missing key block_4.c2_r.conv.1.weight");
  ExpectRejected(Edited(good, "block_4.c2_r.conv.2.weight", torch::zeros({6, 11, 1, 1})),
                 "block_4.c2_r.conv.2.weight has shape [6,11,1,1], expected [6,12,1,1]");
  ExpectRejected(Edited(good, "conv_2.eval_conv.weight", torch::zeros({6, 6, 1, 1})),
                 "conv_2.eval_conv.weight has shape [6,6,1,1]");
  ExpectRejected(Edited(good, "upsampler.0.bias"), "missing key upsampler.0.bias");
  ExpectRejected(Edited(good, "upsampler.0.weight", torch::zeros({10, 6, 3, 3})), "3·scale²");
  TensorMap stray = good;
  stray.emplace_back("block_7.c1_r.sk.weight", torch::zeros({6, 6, 1, 1}));
  ExpectRejected(stray, "unexpected tensors: block_7.c1_r.sk.weight");
}

}  // namespace
}  // namespace anifarm::engine
