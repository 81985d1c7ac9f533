// Tests of RRDBNet detection and wiring: the real legacy old-layout model,
// the new-layout fixture, synthetic state dicts in all three key layouts at
// every supported scale, and malformed variants.
#include "node/engine/rrdbnet.h"

#include <c10/core/InferenceMode.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "node/engine/pth_checkpoint.h"

namespace anifarm::engine {
namespace {

const char kLegacyModel[] = ANIFARM_TEST_MODEL_DIR "/4x-NMKD-YandereNeo-Superlite.pth";

std::string ReferencePath(const std::string& name) {
  return (std::filesystem::path(__FILE__).parent_path() / "reference" / name).string();
}

// Random new-layout (canonical) weights.
TensorMap RandomNewLayout(int in_ch, int nf, int gc, int nb, int ups, uint64_t seed = 1) {
  torch::manual_seed(seed);
  TensorMap w;
  const auto add = [&](const std::string& name, int64_t in, int64_t out) {
    w.emplace_back(name + ".weight", torch::randn({out, in, 3, 3}) / std::sqrt(9.0 * in));
    w.emplace_back(name + ".bias", torch::randn({out}) * 0.02);
  };
  add("conv_first", in_ch, nf);
  for (int n = 0; n < nb; ++n) {
    for (int r = 1; r <= 3; ++r) {
      for (int j = 1; j <= 5; ++j) {
        add(absl::StrCat("body.", n, ".rdb", r, ".conv", j), nf + (j - 1) * gc, j < 5 ? gc : nf);
      }
    }
  }
  add("conv_body", nf, nf);
  for (int i = 1; i <= ups; ++i) add(absl::StrCat("conv_up", i), nf, nf);
  add("conv_hr", nf, nf);
  add("conv_last", nf, 3);
  return w;
}

// The same tensors under the old ESRGAN or the 2019 BasicSR names.
TensorMap Rename(const TensorMap& canonical, const std::string& layout, int nb, int ups) {
  TensorMap out;
  for (const auto& [name, t] : canonical) {
    std::vector<std::string> p = absl::StrSplit(name, '.');
    const std::string param = p.back();
    std::string renamed;
    if (p[0] == "body") {
      const std::string rdb = p[2].substr(3), conv = p[3];
      renamed = layout == "old" ? absl::StrCat("model.1.sub.", p[1], ".RDB", rdb, ".", conv, ".0.", param)
                                : absl::StrCat("RRDB_trunk.", p[1], ".RDB", rdb, ".", conv, ".", param);
    } else if (layout == "trunk") {
      const std::string m = p[0] == "conv_body"                 ? "trunk_conv"
                            : p[0] == "conv_hr"                 ? "HRconv"
                            : absl::StartsWith(p[0], "conv_up") ? "upconv" + p[0].substr(7)
                                                                : p[0];
      renamed = m + "." + param;
    } else {
      int index = 0;
      if (p[0] == "conv_first") index = 0;
      if (p[0] == "conv_hr") index = 3 * ups + 2;
      if (p[0] == "conv_last") index = 3 * ups + 4;
      if (absl::StartsWith(p[0], "conv_up")) {
        int i = 0;
        EXPECT_TRUE(absl::SimpleAtoi(p[0].substr(7), &i));
        index = 3 * i;
      }
      renamed = p[0] == "conv_body" ? absl::StrCat("model.1.sub.", nb, ".", param)
                                    : absl::StrCat("model.", index, ".", param);
    }
    out.emplace_back(renamed, t);
  }
  return out;
}

torch::Tensor Forward(const Network& net, const torch::Tensor& x) {
  c10::InferenceMode guard;
  return net.Forward(x);
}

TEST(RrdbNetTest, DetectsRealLegacyOldLayoutModel) {
  absl::StatusOr<TensorMap> weights = LoadPthCheckpoint(kLegacyModel);
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_EQ(weights->size(), 72u);
  absl::StatusOr<RrdbConfig> config = DetectRrdb(*weights, kLegacyModel);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->layout, "old");
  EXPECT_EQ(config->num_feat, 64);
  EXPECT_EQ(config->num_grow_ch, 32);
  EXPECT_EQ(config->num_block, 2);
  EXPECT_EQ(config->num_upsample, 2);
  EXPECT_EQ(config->unshuffle, 1);
  EXPECT_EQ(config->scale, 4);
  EXPECT_EQ(config->ToString(), "RRDBNet(num_feat=64, num_block=2, num_grow_ch=32, scale=4, keys=old)");
}

TEST(RrdbNetTest, DetectsNewLayoutFixture) {
  const std::string path = ReferencePath("rrdb_new_x2.pth");
  absl::StatusOr<TensorMap> weights = LoadPthCheckpoint(path);
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_EQ(FindTensor(*weights, "conv_first.weight")->scalar_type(), torch::kFloat16);
  absl::StatusOr<RrdbConfig> config = DetectRrdb(*weights, path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->layout, "new");
  EXPECT_EQ(config->ToString(),
            "RRDBNet(num_feat=8, num_block=2, num_grow_ch=4, scale=2, pixel_unshuffle=2, keys=new)");
}

// Every layout and scale: the scale follows from the up convs and the input
// channels, the output has the right shape for odd frame sizes (padding for
// the unshuffle), and the three layouts of the same weights agree exactly.
TEST(RrdbNetTest, AllLayoutsAndScales) {
  struct Case {
    int in_ch, ups, scale;
  };
  for (const Case& c : {Case{3, 0, 1}, Case{3, 1, 2}, Case{3, 2, 4}, Case{3, 3, 8}, Case{12, 2, 2},
                        Case{48, 2, 1}, Case{12, 3, 4}}) {
    const int nf = 6, gc = 3, nb = 2;
    const TensorMap canonical = RandomNewLayout(c.in_ch, nf, gc, nb, c.ups);
    const torch::Tensor x = torch::rand({1, 3, 7, 5});
    torch::Tensor reference;
    for (const std::string layout : {"new", "old", "trunk"}) {
      SCOPED_TRACE(absl::StrCat(layout, " in_ch=", c.in_ch, " ups=", c.ups));
      const TensorMap weights = layout == "new" ? canonical : Rename(canonical, layout, nb, c.ups);
      absl::StatusOr<std::unique_ptr<RrdbNet>> net =
          RrdbNet::Create(weights, "synthetic", torch::kCPU, torch::kFloat32);
      ASSERT_TRUE(net.ok()) << net.status();
      EXPECT_EQ((*net)->config().layout, layout);
      EXPECT_EQ((*net)->config().num_block, nb);
      EXPECT_EQ((*net)->config().num_grow_ch, gc);
      ASSERT_EQ((*net)->scale(), c.scale);
      torch::Tensor y = Forward(**net, x);
      ASSERT_EQ(y.sizes().vec(), (std::vector<int64_t>{1, 3, 7 * c.scale, 5 * c.scale}));
      EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
      if (!reference.defined()) {
        reference = y;
      } else {
        EXPECT_TRUE(torch::equal(y, reference));
      }
    }
  }
}

// The unshuffle's padding only adds pixels on the bottom/right: away from
// that edge a padded odd-sized frame agrees with the even-sized one.
TEST(RrdbNetTest, UnshufflePaddingKeepsTheTopLeft) {
  absl::StatusOr<std::unique_ptr<RrdbNet>> net =
      RrdbNet::Create(RandomNewLayout(12, 6, 3, 1, 2), "x2", torch::kCPU, torch::kFloat32);
  ASSERT_TRUE(net.ok()) << net.status();
  const torch::Tensor x = torch::rand({1, 3, 32, 32});
  torch::Tensor even = Forward(**net, x);
  torch::Tensor odd = Forward(**net, x.slice(2, 0, 31).slice(3, 0, 29));
  ASSERT_EQ(odd.sizes().vec(), (std::vector<int64_t>{1, 3, 62, 58}));
  // The receptive field reaches far, so compare a corner well inside.
  const double diff =
      (even.slice(2, 0, 16).slice(3, 0, 16) - odd.slice(2, 0, 16).slice(3, 0, 16)).abs().max().item<double>();
  EXPECT_LT(diff, 1e-4);
  // Tiny frames (1 px) fall back to edge replication instead of failing.
  EXPECT_EQ(Forward(**net, torch::rand({1, 3, 1, 1})).sizes().vec(), (std::vector<int64_t>{1, 3, 2, 2}));
}

void ExpectRejected(const TensorMap& weights, const std::string& needle) {
  absl::StatusOr<RrdbConfig> config = DetectRrdb(weights, "bad.pth");
  ASSERT_FALSE(config.ok()) << needle;
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find("bad.pth"), std::string::npos) << config.status();
  EXPECT_NE(config.status().message().find(needle), std::string::npos) << config.status();
}

TEST(RrdbNetTest, RejectsMalformedStateDicts) {
  const TensorMap good = RandomNewLayout(3, 6, 3, 2, 2);
  ASSERT_TRUE(DetectRrdb(good, "good.pth").ok());

  TensorMap no_bias;
  for (const auto& kv : good) {
    if (kv.first != "body.1.rdb2.conv3.bias") no_bias.push_back(kv);
  }
  ExpectRejected(no_bias, "body.1.rdb2.conv3");

  TensorMap wrong_shape = good;
  for (auto& [name, t] : wrong_shape) {
    if (name == "body.0.rdb3.conv5.weight") t = torch::zeros({6, 14, 3, 3});
  }
  ExpectRejected(wrong_shape, "body.0.rdb3.conv5 should be a 3x3 conv 18 -> 6");

  TensorMap stray = good;
  stray.emplace_back("body.0.rdb4.conv1.weight", torch::zeros({3, 6, 3, 3}));
  ExpectRejected(stray, "rdb4");
  TensorMap gap = good;
  gap.emplace_back("body.5.rdb1.conv1.weight", torch::zeros({3, 6, 3, 3}));
  ExpectRejected(gap, "unused tensors: body.5.rdb1.conv1.weight");

  TensorMap five_channels = RandomNewLayout(5, 6, 3, 1, 2);
  ExpectRejected(five_channels, "5 channels");
  TensorMap unshuffle_too_far = RandomNewLayout(48, 6, 3, 1, 1);
  ExpectRejected(unshuffle_too_far, "cannot undo");

  TensorMap old = Rename(good, "old", 2, 2);
  TensorMap shifted;
  for (const auto& [name, t] : old) {
    shifted.emplace_back(name == "model.10.weight" ? "model.11.weight"
                         : name == "model.10.bias" ? "model.11.bias"
                                                   : name,
                         t);
  }
  ExpectRejected(shifted, "model.{3,6,8,11}");
  TensorMap with_norm = old;
  with_norm.emplace_back("model.1.sub.0.RDB1.conv1.1.weight", torch::ones({3}));
  ExpectRejected(with_norm, "unexpected key model.1.sub.0.RDB1.conv1.1.weight");
}

}  // namespace
}  // namespace anifarm::engine
