// Tests of RealPLKSR detection and wiring: synthetic state dicts in every
// detectable variant (norm, EA, kernel, split, scale), the committed
// random-weight fixtures, tiled against whole-frame inference, refusal of
// the DySample and original-PLKSR variants by name, and malformed variants.
// (The numeric comparison with PyTorch is in reference_test.cc.)
#include "node/engine/realplksr.h"

#include <c10/core/InferenceMode.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
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

TensorMap RandomPlksr(int dim, int blocks, int scale, int kernel, int pdim, bool ea, bool layer_norm) {
  torch::manual_seed(9);
  TensorMap w;
  const auto conv = [&](const std::string& name, int64_t in, int64_t out, int64_t k) {
    w.emplace_back(name + ".weight", torch::randn({out, in, k, k}) / std::sqrt(in * k * k));
    w.emplace_back(name + ".bias", torch::randn({out}) * 0.05);
  };
  conv("feats.0", 3, dim, 3);
  for (int n = 1; n <= blocks; ++n) {
    const std::string p = absl::StrCat("feats.", n, ".");
    const std::string norm = p + (layer_norm ? "layer_norm" : "norm");
    w.emplace_back(norm + ".weight", 1 + 0.1 * torch::randn({dim}));
    if (layer_norm) w.emplace_back(norm + ".bias", 0.1 * torch::randn({dim}));
    conv(p + "channel_mixer.0", dim, 2 * dim, 3);
    conv(p + "channel_mixer.2", 2 * dim, dim, 3);
    conv(p + "lk.conv", pdim, pdim, kernel);
    if (ea) conv(p + "attn.f.0", dim, dim, 3);
    conv(p + "refine", dim, dim, 1);
    if (!layer_norm) w.emplace_back(norm + ".bias", 0.1 * torch::randn({dim}));
  }
  conv(absl::StrCat("feats.", blocks + 2), dim, 3 * scale * scale, 3);
  return w;
}

torch::Tensor ForwardOnce(const Network& net, const torch::Tensor& x) {
  c10::InferenceMode guard;
  return net.Forward(x);
}

TEST(RealPlksrTest, DetectsHyperParameters) {
  struct Case {
    int dim, blocks, scale, kernel, pdim;
    bool ea, layer_norm;
    std::string description;
  };
  for (const Case& c : {Case{8, 3, 2, 7, 2, true, false,
                             "RealPLKSR(dim=8, n_blocks=3, kernel_size=7, split_ratio=0.25, use_ea=true, "
                             "norm=group, scale=2)"},
                        Case{12, 1, 4, 9, 3, false, true,
                             "RealPLKSR(dim=12, n_blocks=1, kernel_size=9, split_ratio=0.25, use_ea=false, "
                             "norm=layer, scale=4)"},
                        Case{8, 2, 1, 5, 8, true, true,
                             "RealPLKSR(dim=8, n_blocks=2, kernel_size=5, split_ratio=1, use_ea=true, "
                             "norm=layer, scale=1)"}}) {
    SCOPED_TRACE(c.description);
    const TensorMap weights = RandomPlksr(c.dim, c.blocks, c.scale, c.kernel, c.pdim, c.ea, c.layer_norm);
    EXPECT_EQ(GuessArchitecture(weights), "RealPLKSR");
    absl::StatusOr<RealPlksrConfig> config = DetectRealPlksr(weights, "synthetic");
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(config->dim, c.dim);
    EXPECT_EQ(config->num_blocks, c.blocks);
    EXPECT_EQ(config->scale, c.scale);
    EXPECT_EQ(config->kernel_size, c.kernel);
    EXPECT_EQ(config->partial_dim, c.pdim);
    EXPECT_EQ(config->use_ea, c.ea);
    EXPECT_EQ(config->layer_norm, c.layer_norm);
    EXPECT_EQ(config->ToString(), c.description);
    absl::StatusOr<std::unique_ptr<RealPlksrNet>> net =
        RealPlksrNet::Create(weights, "synthetic", torch::kCPU, torch::kFloat32);
    ASSERT_TRUE(net.ok()) << net.status();
    const torch::Tensor y = ForwardOnce(**net, torch::rand({1, 3, 9, 6}));
    EXPECT_EQ(y.sizes().vec(), (std::vector<int64_t>{1, 3, 9 * c.scale, 6 * c.scale}));
  }
  for (const std::string name : {"realplksr_x2.pth", "realplksr_ln_x3.pth"}) {
    absl::StatusOr<TensorMap> weights = LoadPthCheckpoint(ReferencePath(name));
    ASSERT_TRUE(weights.ok()) << weights.status();
    absl::StatusOr<RealPlksrConfig> config = DetectRealPlksr(*weights, name);
    ASSERT_TRUE(config.ok()) << config.status();
    std::printf("%s: %s\n", name.c_str(), config->ToString().c_str());
  }
}

std::unique_ptr<RealPlksrNet> LoadFixtureNet(const std::string& name) {
  absl::StatusOr<TensorMap> weights = LoadPthCheckpoint(ReferencePath(name));
  EXPECT_TRUE(weights.ok()) << weights.status();
  if (!weights.ok()) return nullptr;
  absl::StatusOr<std::unique_ptr<RealPlksrNet>> net =
      RealPlksrNet::Create(*weights, name, torch::kCPU, torch::kFloat32);
  EXPECT_TRUE(net.ok()) << net.status();
  return net.ok() ? std::move(*net) : nullptr;
}

// The LayerNorm variant is local: tiles take context as wide as the
// receptive field's reach (tile_context), run it through and crop it off,
// so they reproduce the whole frame at any overlap, 8 px included.
TEST(RealPlksrTest, LayerNormTiledMatchesWholeFrame) {
  std::unique_ptr<RealPlksrNet> net = LoadFixtureNet("realplksr_ln_x3.pth");
  ASSERT_NE(net, nullptr);
  const torch::Tensor input = TexturedInput(96, 80);
  for (const auto& [tile, overlap] : {std::pair{48, 16}, std::pair{40, 8}}) {
    const double psnr = TiledVsWholeFramePsnr(*net, input, tile, overlap);
    std::printf("RealPLKSR (LayerNorm) tile %d overlap %d vs whole frame: %.2f dB\n", tile, overlap, psnr);
    EXPECT_GE(psnr, 50.0) << "tile " << tile;
  }
}

// The GroupNorm variant (the common one) normalises each block's output
// over the whole frame, as it was trained: tiled, the tiler collects each
// block's mean and variance over the tiles' cores first (2 blocks: 3
// passes), so with their context tiles equal the whole frame. 160x136
// needs 2x2 tiles of 128 px and 3x3 or 4x4 of 64 px.
TEST(RealPlksrTest, GroupNormTiledMatchesWholeFrame) {
  std::unique_ptr<RealPlksrNet> net = LoadFixtureNet("realplksr_x2.pth");
  ASSERT_NE(net, nullptr);
  EXPECT_EQ(net->frame_statistics(), net->config().num_blocks);
  const torch::Tensor input = TexturedInput(160, 136);
  for (const int tile : {64, 128}) {
    for (const int overlap : {8, 16, 32}) {
      const double psnr = TiledVsWholeFramePsnr(*net, input, tile, overlap);
      std::printf("RealPLKSR (GroupNorm) tile %d overlap %d vs whole frame: %.2f dB\n", tile, overlap, psnr);
      // The statistics are exact and the context covers the reach.
      EXPECT_GE(psnr, 50.0) << "tile " << tile << " overlap " << overlap;
    }
  }
  // Whole-frame runs agree with themselves: one Forward, no statistics.
  EXPECT_EQ(TiledVsWholeFramePsnr(*net, input, 0, 0), 200.0);

  // The cost of the passes: one Forward per tile (the old, inexact way)
  // against the collecting passes (each stopping at its GroupNorm) and the
  // final one.
  c10::InferenceMode guard;
  const auto time_ms = [](const std::function<void()>& f) {
    const auto start = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  };
  TiledUpscaler tiler(net->scale(), 64, 16);
  const double one_pass_ms =
      time_ms([&] { tiler.Run(input, [&](const torch::Tensor& t) { return net->Forward(t); }); });
  const double exact_ms = time_ms([&] { tiler.Run(input, *net); });
  std::printf("RealPLKSR (GroupNorm, %d blocks) 160x136 tiles 64/16: one pass %.0f ms, exact %.0f ms\n",
              net->config().num_blocks, one_pass_ms, exact_ms);
}

void ExpectRejected(const TensorMap& weights, const std::string& needle) {
  absl::StatusOr<RealPlksrConfig> config = DetectRealPlksr(weights, "bad.pth");
  ASSERT_FALSE(config.ok()) << needle;
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(config.status().message(), "bad.pth: not a supported RealPLKSR state dict"))
      << config.status();
  EXPECT_TRUE(absl::StrContains(config.status().message(), needle)) << config.status();
}

TEST(RealPlksrTest, RejectsMalformedAndUnsupportedStateDicts) {
  const TensorMap good = RandomPlksr(8, 3, 2, 7, 2, true, false);
  ASSERT_TRUE(DetectRealPlksr(good, "good.pth").ok());
  ExpectRejected(Edited(good, "feats.2.refine.weight"), "missing key feats.2.refine.weight, expected shape [8,8,1,1]");
  ExpectRejected(Edited(good, "feats.3.lk.conv.weight", torch::zeros({2, 2, 5, 5})),
                 "feats.3.lk.conv.weight has shape [2,2,5,5], expected [2,2,7,7]");
  ExpectRejected(Edited(good, "feats.1.norm.bias"), "missing key feats.1.norm.bias");
  ExpectRejected(Edited(good, "feats.3.attn.f.0.weight"), "missing key feats.3.attn.f.0.weight");
  TensorMap stray = good;
  stray.emplace_back("feats.2.extra.weight", torch::zeros({8}));
  ExpectRejected(stray, "unexpected tensors: feats.2.extra.weight");

  TensorMap dysample = good;
  dysample.emplace_back("to_img.init_pos", torch::zeros({1, 32, 1, 1}));
  dysample.emplace_back("to_img.offset.weight", torch::zeros({32, 12, 1, 1}));
  EXPECT_EQ(GuessArchitecture(dysample), "RealPLKSR");
  ExpectRejected(dysample, "DySample upsampler (to_img.*) is not supported yet");

  TensorMap original;
  for (const auto& [name, t] : good) {
    std::string renamed = name;
    if (absl::StrContains(name, "channel_mixer")) renamed.replace(renamed.find("channel_mixer"), 13, "channe_mixer");
    original.emplace_back(renamed, t);
  }
  EXPECT_EQ(GuessArchitecture(original), "PLKSR");
  ExpectRejected(original, "original PLKSR");
}

}  // namespace
}  // namespace anifarm::engine
