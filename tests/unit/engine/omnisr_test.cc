// Tests of OmniSR detection and wiring on the real 4x_WTP_descreenton.pth:
// the detected hyper-parameters, the engine's route and description, tiled
// against whole-frame inference, and malformed variants of its state dict.
// (The numeric comparison with PyTorch is in reference_test.cc.)
#include "node/engine/omnisr.h"

#include <c10/core/InferenceMode.h>
#include <torch/torch.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "tests/unit/engine/engine_test_util.h"
#include "gtest/gtest.h"
#include "node/engine/pth_checkpoint.h"
#include "node/engine/srvgg_compact.h"
#include "node/engine/torch_engine.h"

namespace anifarm::engine {
namespace {

using testutil::Edited;
using testutil::TexturedInput;
using testutil::TiledVsWholeFramePsnr;

const std::string kModel = ANIFARM_TEST_MODEL_DIR "/4x_WTP_descreenton.pth";

TensorMap LoadModel() {
  absl::StatusOr<TensorMap> weights = LoadPthCheckpoint(kModel);
  EXPECT_TRUE(weights.ok()) << weights.status();
  return weights.ok() ? *weights : TensorMap();
}

TEST(OmniSrTest, DetectsTheRealModel) {
  const TensorMap weights = LoadModel();
  EXPECT_EQ(GuessArchitecture(weights), "OmniSR");
  absl::StatusOr<OmniSrConfig> config = DetectOmniSr(weights, kModel);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->num_feat, 64);
  EXPECT_EQ(config->res_num, 5);
  EXPECT_EQ(config->block_num, 1);
  EXPECT_EQ(config->window_size, 8);
  EXPECT_TRUE(config->position_bias);
  EXPECT_TRUE(config->bias);
  EXPECT_EQ(config->scale, 4);
  EXPECT_EQ(config->ToString(), "OmniSR(num_feat=64, res_num=5, block_num=1, window_size=8, scale=4)");
}

// The engine routes the file to OmniSrNet by its keys (what `anifarm models
// inspect` prints), and upscales a frame of any size.
TEST(OmniSrTest, EngineRunsTheRealModel) {
  absl::StatusOr<std::unique_ptr<UpscalerEngine>> engine = CreateTorchEngine("cpu");
  ASSERT_TRUE(engine.ok()) << engine.status();
  absl::StatusOr<std::shared_ptr<Upscaler>> upscaler = (*engine)->GetUpscaler(kModel, "wtp", {});
  ASSERT_TRUE(upscaler.ok()) << upscaler.status();
  EXPECT_EQ((*upscaler)->native_scale(), 4);
  EXPECT_EQ((*upscaler)->description(),
            "OmniSR(num_feat=64, res_num=5, block_num=1, window_size=8, scale=4) fp32 on cpu "
            "[whole frames: its grid attention mixes pixels across the whole frame]");
  for (const auto& [w, h] : {std::pair{21, 13}, std::pair{5, 3}}) {
    absl::StatusOr<RgbImage> out = (*upscaler)->Upscale(testutil::SmoothImage(w, h));
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->width, 4 * w);
    EXPECT_EQ(out->height, 4 * h);
  }
}

// OmniSR's grid attention mixes pixels across the whole (padded) frame:
// cut into tiles, the network computes something else (well under 50 dB
// at the seams), so the tiler runs its frames whole, and whatever tile size
// is asked for, the result is the whole frame's.
TEST(OmniSrTest, TilesWouldChangeTheOutputSoFramesRunWhole) {
  absl::StatusOr<std::unique_ptr<OmniSrNet>> net =
      OmniSrNet::Create(LoadModel(), kModel, torch::kCPU, torch::kFloat32);
  ASSERT_TRUE(net.ok()) << net.status();
  EXPECT_EQ((*net)->whole_frame_reason(), "its grid attention mixes pixels across the whole frame");
  c10::InferenceMode guard;
  const torch::Tensor input = TexturedInput(96, 72);
  const torch::Tensor whole = (*net)->Forward(input).clamp(0, 1);
  // Forced into tiles (one Forward per tile), the seams show.
  TiledUpscaler forced((*net)->scale(), 48, 16);
  const double forced_psnr = testutil::Psnr(
      forced.Run(input, [&](const torch::Tensor& t) { return (*net)->Forward(t); }).clamp(0, 1), whole, 1.0);
  std::printf("OmniSR forced into 48 px tiles (overlap 16) vs whole frame: %.2f dB\n", forced_psnr);
  EXPECT_LT(forced_psnr, 45.0);
  for (const auto& [tile, overlap] : {std::pair{48, 16}, std::pair{64, 8}}) {
    EXPECT_EQ(TiledVsWholeFramePsnr(**net, input, tile, overlap), 200.0) << "tile " << tile;
  }
}

void ExpectRejected(const TensorMap& weights, const std::string& needle) {
  absl::StatusOr<OmniSrConfig> config = DetectOmniSr(weights, "bad.pth");
  ASSERT_FALSE(config.ok()) << needle;
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(config.status().message(), "bad.pth: not a supported OmniSR state dict"))
      << config.status();
  EXPECT_TRUE(absl::StrContains(config.status().message(), needle)) << config.status();
}

TEST(OmniSrTest, RejectsMalformedStateDicts) {
  const TensorMap good = LoadModel();
  ASSERT_TRUE(DetectOmniSr(good, "good.pth").ok());
  const std::string qkv = "residual_layer.3.residual_layer.0.layer.11.fn.qkv.weight";
  ExpectRejected(Edited(good, qkv), "missing key " + qkv + ", expected shape [192,64,1,1]");
  ExpectRejected(Edited(good, qkv, torch::zeros({192, 64, 3, 3})),
                 qkv + " has shape [192,64,3,3], expected [192,64,1,1]");
  const std::string esa = "residual_layer.1.esa.conv4.bias";
  ExpectRejected(Edited(good, esa), "missing key " + esa);
  ExpectRejected(Edited(good, "residual_layer.2.residual_layer.0.layer.8.fn.rel_pos_bias.weight",
                        torch::zeros({169, 4})),
                 "rel_pos_bias.weight has shape [169,4], expected [225,4]");
  ExpectRejected(Edited(good, "up.0.weight", torch::zeros({50, 64, 3, 3})), "3·scale²");
  TensorMap stray = good;
  stray.emplace_back("residual_layer.0.residual_layer.0.layer.13.weight", torch::zeros({64}));
  ExpectRejected(stray, "unexpected tensors: residual_layer.0.residual_layer.0.layer.13.weight");
  // Profiler counters some training scripts leave behind are ignored.
  TensorMap junk = good;
  junk.emplace_back("input.total_ops", torch::zeros({1}));
  EXPECT_TRUE(DetectOmniSr(junk, "junk.pth").ok());
}

}  // namespace
}  // namespace anifarm::engine
