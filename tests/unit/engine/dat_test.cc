// Tests of DAT: detection of every hyper-parameter from the two random-weight
// fixtures written by reference/make_fixtures.py, the fp32 forward against
// the independent PyTorch computation of that script (dat_x2: 1conv,
// pixelshuffle, channel and shifted window blocks; dat_direct_x2: 3conv,
// pixelshuffledirect, an offset-dependent position bias), the fp32-only
// fallback, the engine's route and description, tiled against whole-frame
// inference, and malformed or truncated state dicts.
#include "node/engine/dat.h"

#include <c10/core/InferenceMode.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "node/engine/pth_checkpoint.h"
#include "node/engine/srvgg_compact.h"
#include "node/engine/torch_engine.h"
#include "tests/unit/engine/engine_test_util.h"

namespace anifarm::engine {
namespace {

using testutil::Edited;
using testutil::ReadBytes;
using testutil::TempPath;
using testutil::TexturedInput;
using testutil::TiledVsWholeFramePsnr;
using testutil::WriteBytes;

constexpr double kTolerance = 1e-4;

std::string ReferencePath(const std::string& name) {
  return (std::filesystem::path(__FILE__).parent_path() / "reference" / name).string();
}

TensorMap LoadReference(const std::string& name) {
  absl::StatusOr<TensorMap> weights = LoadPthCheckpoint(ReferencePath(name));
  EXPECT_TRUE(weights.ok()) << weights.status();
  return weights.ok() ? *weights : TensorMap();
}

// The input and expected output of a fixture in make_fixtures.py's layout
// (magic, model files with sha256, torch version, scale, dims, f32 data;
// little-endian). reference_test.cc checks the layout and the sha256s; here
// only the model name is checked.
struct Fixture {
  int scale = 0;
  torch::Tensor input, expected;
};

bool ParseFixture(const std::string& bytes, const std::string& model, Fixture* out) {
  size_t pos = 8;
  const auto u32 = [&]() -> uint32_t {
    uint32_t v = 0;
    if (pos + 4 <= bytes.size()) std::memcpy(&v, bytes.data() + pos, 4);
    pos += 4;
    return v;
  };
  if (bytes.compare(0, 8, std::string("AFREF01\0", 8)) != 0 || u32() != 1) return false;
  const uint32_t name_len = u32();
  if (bytes.compare(pos, name_len, model) != 0) return false;
  pos += name_len + 32;
  pos += u32();  // torch version
  out->scale = static_cast<int>(u32());
  int64_t dims[4];
  for (int64_t& d : dims) d = u32();
  const int64_t s = out->scale;
  const size_t in_bytes = static_cast<size_t>(dims[0] * dims[1] * dims[2] * dims[3]) * 4;
  if (dims[0] != 1 || dims[1] != 3 || pos + in_bytes * (1 + s * s) != bytes.size()) return false;
  out->input = torch::empty({dims[0], dims[1], dims[2], dims[3]}, torch::kFloat32);
  std::memcpy(out->input.data_ptr(), bytes.data() + pos, in_bytes);
  out->expected = torch::empty({dims[0], 3, dims[2] * s, dims[3] * s}, torch::kFloat32);
  std::memcpy(out->expected.data_ptr(), bytes.data() + pos + in_bytes, in_bytes * s * s);
  return true;
}

torch::Tensor ForwardOnce(const Network& net, const torch::Tensor& x) {
  c10::InferenceMode guard;
  return net.Forward(x);
}

TEST(DatTest, DetectsTheCommonLayout) {
  const TensorMap weights = LoadReference("dat_x2.pth");
  EXPECT_EQ(GuessArchitecture(weights), "DAT");
  absl::StatusOr<DatConfig> config = DetectDat(weights, "dat_x2.pth");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->embed_dim, 32);
  EXPECT_EQ(config->depth, (std::vector<int>{2, 1}));
  EXPECT_EQ(config->num_heads, (std::vector<int>{2, 4}));  // group 1 has one block: from pos3
  EXPECT_EQ(config->split_size, (std::array<int, 2>{2, 4}));
  EXPECT_EQ(config->expansion_factor(), 2.0);
  EXPECT_TRUE(config->qkv_bias);
  EXPECT_FALSE(config->three_conv);
  EXPECT_FALSE(config->pixelshuffle_direct);
  EXPECT_EQ(config->num_feat, 8);
  EXPECT_EQ(config->scale, 2);
  EXPECT_EQ(config->ToString(),
            "DAT(embed_dim=32, depth=[2,1], num_heads=[2,4], split_size=[2,4], expansion_factor=2, "
            "resi_connection=1conv, upsampler=pixelshuffle, num_feat=8, scale=2)");
}

TEST(DatTest, DetectsTheLightLayout) {
  const TensorMap weights = LoadReference("dat_direct_x2.pth");
  EXPECT_EQ(GuessArchitecture(weights), "DAT");
  absl::StatusOr<DatConfig> config = DetectDat(weights, "dat_direct_x2.pth");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->embed_dim, 64);
  EXPECT_EQ(config->depth, (std::vector<int>{1}));
  EXPECT_EQ(config->num_heads, (std::vector<int>{4}));
  EXPECT_EQ(config->split_size, (std::array<int, 2>{4, 8}));
  EXPECT_EQ(config->expansion_factor(), 1.0);
  EXPECT_FALSE(config->qkv_bias);
  EXPECT_TRUE(config->three_conv);
  EXPECT_TRUE(config->pixelshuffle_direct);
  EXPECT_EQ(config->scale, 2);
  EXPECT_EQ(config->ToString(),
            "DAT(embed_dim=64, depth=[1], num_heads=[4], split_size=[4,8], expansion_factor=1, qkv_bias=false, "
            "resi_connection=3conv, upsampler=pixelshuffledirect, scale=2)");
}

// A pixelshuffle model's scale is the product of its upsample steps (4x:
// two 2x steps at upsample.0 and upsample.2; 3x: one 9·F conv).
TEST(DatTest, DetectsTheScaleFromTheUpsampleSteps) {
  const TensorMap base = LoadReference("dat_x2.pth");
  TensorMap x4 = base;
  x4.emplace_back("upsample.2.weight", torch::zeros({32, 8, 3, 3}));
  x4.emplace_back("upsample.2.bias", torch::zeros({32}));
  absl::StatusOr<DatConfig> c4 = DetectDat(x4, "x4");
  ASSERT_TRUE(c4.ok()) << c4.status();
  EXPECT_EQ(c4->scale, 4);
  EXPECT_EQ(c4->upsample_steps, (std::vector<int>{2, 2}));
  TensorMap x3 = Edited(Edited(base, "upsample.0.weight", torch::zeros({72, 8, 3, 3})), "upsample.0.bias",
                        torch::zeros({72}));
  absl::StatusOr<std::unique_ptr<DatNet>> net3 = DatNet::Create(x3, "x3", torch::kCPU, torch::kFloat32);
  ASSERT_TRUE(net3.ok()) << net3.status();
  EXPECT_EQ((*net3)->scale(), 3);
  EXPECT_EQ(ForwardOnce(**net3, torch::rand({1, 3, 5, 7})).sizes().vec(), (std::vector<int64_t>{1, 3, 15, 21}));
}

void ExpectMatchesPyTorch(const std::string& model) {
  SCOPED_TRACE(model);
  Fixture fixture;
  ASSERT_TRUE(ParseFixture(ReadBytes(ReferencePath(model + "_fixture.bin")), model + ".pth", &fixture))
      << "bad fixture; regenerate with make_fixtures.py --only dat";
  absl::StatusOr<std::unique_ptr<DatNet>> net =
      DatNet::Create(LoadReference(model + ".pth"), model, torch::kCPU, torch::kFloat32);
  ASSERT_TRUE(net.ok()) << net.status();
  ASSERT_EQ((*net)->scale(), fixture.scale);
  const torch::Tensor out = ForwardOnce(**net, fixture.input);
  ASSERT_EQ(out.sizes(), fixture.expected.sizes());
  const double err = (out - fixture.expected).abs().max().item<double>();
  std::printf("%s %s vs PyTorch: max abs error %.3g on [1,3,%lld,%lld]\n", model.c_str(),
              (*net)->ToString().c_str(), err, static_cast<long long>(fixture.input.size(2)),
              static_cast<long long>(fixture.input.size(3)));
  EXPECT_LE(err, kTolerance);
}

// The input sides (11x13, 10x13) are not multiples of the windows, so the
// padding, the shifted masks on the padded frame and the crop are all used.
TEST(DatTest, MatchesPyTorch) {
  ExpectMatchesPyTorch("dat_x2");
  ExpectMatchesPyTorch("dat_direct_x2");
}

// The comparison can fail: one weight moved in the position MLP (of the
// branch whose bias depends on the offset), a folded BatchNorm or the qkv
// Linear is outside the tolerance.
TEST(DatTest, DetectsAPerturbedWeight) {
  Fixture fixture;
  ASSERT_TRUE(ParseFixture(ReadBytes(ReferencePath("dat_direct_x2_fixture.bin")), "dat_direct_x2.pth", &fixture));
  const TensorMap weights = LoadReference("dat_direct_x2.pth");
  for (const char* key : {"layers.0.blocks.0.attn.attns.0.pos.pos3.2.weight",
                          "layers.0.blocks.0.attn.dwconv.1.running_var", "layers.0.blocks.0.attn.qkv.weight"}) {
    TensorMap perturbed;
    for (const auto& [name, t] : weights) {
      perturbed.emplace_back(name, name == key ? t.to(torch::kFloat32) * 1.5 + 0.1 : t);
    }
    absl::StatusOr<std::unique_ptr<DatNet>> net = DatNet::Create(perturbed, "p", torch::kCPU, torch::kFloat32);
    ASSERT_TRUE(net.ok()) << net.status();
    const double err = (ForwardOnce(**net, fixture.input) - fixture.expected).abs().max().item<double>();
    std::printf("%s perturbed: max abs error %.3g\n", key, err);
    EXPECT_GT(err, 10 * kTolerance) << key;
  }
}

// DAT runs in fp32 only: a half-precision request gives an fp32 network, and
// the engine's description says so (what `anifarm models inspect` prints).
TEST(DatTest, RunsInFp32Only) {
  const TensorMap weights = LoadReference("dat_x2.pth");
  for (const torch::ScalarType dtype : {torch::kFloat16, torch::kBFloat16}) {
    absl::StatusOr<std::unique_ptr<DatNet>> net = DatNet::Create(weights, "dat_x2", torch::kCPU, dtype);
    ASSERT_TRUE(net.ok()) << net.status();
    EXPECT_EQ((*net)->dtype(), torch::kFloat32);
  }
  std::unique_ptr<UpscalerEngine> engine = testutil::CpuEngine();
  ASSERT_NE(engine, nullptr);
  const std::vector<std::string> archs = engine->architectures();
  EXPECT_NE(std::find(archs.begin(), archs.end(), "DAT"), archs.end());
  const std::string expected =
      "DAT(embed_dim=32, depth=[2,1], num_heads=[2,4], split_size=[2,4], expansion_factor=2, "
      "resi_connection=1conv, upsampler=pixelshuffle, num_feat=8, scale=2) fp32 on cpu "
      "[fp32 only: its attention overflows in fp16]";
  UpscaleOptions options;
  options.precision = "fp16";
  absl::StatusOr<std::shared_ptr<Upscaler>> up = engine->GetUpscaler(ReferencePath("dat_x2.pth"), "dat", options);
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_TRUE(absl::StartsWith((*up)->description(), expected + " (fp16 requested")) << (*up)->description();
  absl::StatusOr<RgbImage> out = (*up)->Upscale(testutil::SmoothImage(21, 13));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->width, 42);
  EXPECT_EQ(out->height, 26);
  options.precision = "auto";
  absl::StatusOr<std::shared_ptr<Upscaler>> fp32 = engine->GetUpscaler(ReferencePath("dat_x2.pth"), "dat", options);
  ASSERT_TRUE(fp32.ok()) << fp32.status();
  EXPECT_EQ((*fp32)->description(), expected);
}

// The channel attention (each channel over the whole frame) and the pooled
// channel maps come from frame statistics, and tiles take window-aligned
// context, so a tiled frame equals the whole frame (131-135 dB measured;
// 38-48 dB before the statistics).
TEST(DatTest, TiledEqualsWholeFrame) {
  for (const char* model : {"dat_x2", "dat_direct_x2"}) {
    absl::StatusOr<std::unique_ptr<DatNet>> net =
        DatNet::Create(LoadReference(absl::StrCat(model, ".pth")), model, torch::kCPU, torch::kFloat32);
    ASSERT_TRUE(net.ok()) << net.status();
    const torch::Tensor input = TexturedInput(72, 56);
    for (const auto& [tile, overlap] : {std::pair{32, 8}, std::pair{48, 16}}) {
      const double psnr = TiledVsWholeFramePsnr(**net, input, tile, overlap);
      std::printf("DAT %s tile %d overlap %d vs whole frame: %.2f dB\n", model, tile, overlap, psnr);
      EXPECT_GE(psnr, 50.0) << model << " tile " << tile;
    }
  }
}

void ExpectRejected(const TensorMap& weights, const std::string& needle) {
  absl::StatusOr<DatConfig> config = DetectDat(weights, "bad.pth");
  ASSERT_FALSE(config.ok()) << needle;
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(config.status().message(), "bad.pth: not a supported DAT state dict"))
      << config.status();
  EXPECT_TRUE(absl::StrContains(config.status().message(), needle)) << config.status();
}

TEST(DatTest, RejectsMalformedStateDicts) {
  const TensorMap good = LoadReference("dat_x2.pth");
  ASSERT_TRUE(DetectDat(good, "good.pth").ok());
  const std::string pos3 = "layers.1.blocks.0.attn.attns.1.pos.pos3.2.weight";
  ExpectRejected(Edited(good, pos3), "missing key " + pos3 + ", expected shape [2,1]");
  ExpectRejected(Edited(good, "layers.0.blocks.1.attn.temperature"),
                 "missing key layers.0.blocks.1.attn.temperature (the head count)");
  ExpectRejected(Edited(good, "layers.0.blocks.0.attn.dwconv.1.running_var"),
                 "missing key layers.0.blocks.0.attn.dwconv.1.running_var");
  ExpectRejected(Edited(good, "layers.0.blocks.1.ffn.fc2.weight", torch::zeros({32, 31})),
                 "layers.0.blocks.1.ffn.fc2.weight has shape [32,31], expected [32,32]");
  ExpectRejected(Edited(good, "layers.0.blocks.0.attn.attns.0.rpe_biases"),
                 "missing key layers.0.blocks.0.attn.attns.0.rpe_biases (the window size)");
  ExpectRejected(Edited(good, "layers.1.blocks.0.attn.attn_mask_0", torch::zeros({8, 8, 4})),
                 "attn_mask_0 has shape [8,8,4], expected [*,8,8]");
  ExpectRejected(Edited(good, "conv_last.weight"), "missing key conv_last.weight");
  ExpectRejected(Edited(good, "norm.bias"), "missing key norm.bias");
  TensorMap stray = good;
  stray.emplace_back("layers.0.blocks.1.attn.attns.0.pos.pos_proj.weight", torch::zeros({1, 2}));
  ExpectRejected(stray, "unexpected tensors: layers.0.blocks.1.attn.attns.0.pos.pos_proj.weight");
  // A block's window offsets that do not match the detected window.
  ExpectRejected(Edited(good, "layers.1.blocks.0.attn.attns.1.rpe_biases", torch::zeros({21, 2})),
                 "rpe_biases does not hold the offsets of a 4x2 window");
}

// F32 safetensors of `weights` (integer buffers left out: the format's
// loader reads floats only, and DAT recomputes them).
std::string Safetensors(const TensorMap& weights) {
  std::vector<std::string> entries;
  std::string data;
  for (const auto& [name, t] : weights) {
    if (!t.is_floating_point()) continue;
    const torch::Tensor f = t.to(torch::kFloat32).contiguous();
    std::vector<std::string> dims;
    for (int64_t d : f.sizes()) dims.push_back(absl::StrCat(d));
    const size_t begin = data.size();
    data.append(static_cast<const char*>(f.data_ptr()), f.numel() * 4);
    entries.push_back(absl::StrCat("\"", name, "\":{\"dtype\":\"F32\",\"shape\":[", absl::StrJoin(dims, ","),
                                   "],\"data_offsets\":[", begin, ",", data.size(), "]}"));
  }
  std::string json = absl::StrCat("{", absl::StrJoin(entries, ","), "}");
  while (json.size() % 8 != 0) json += ' ';
  std::string out(8, '\0');
  const uint64_t n = json.size();
  std::memcpy(out.data(), &n, 8);
  return out + json + data;
}

// Through the engine: a DAT file (any name: detection is by keys) runs; a
// truncated one is refused with the missing key named.
TEST(DatTest, EngineRoutesByKeysAndNamesWhatIsMissing) {
  std::unique_ptr<UpscalerEngine> engine = testutil::CpuEngine();
  ASSERT_NE(engine, nullptr);
  const TensorMap good = LoadReference("dat_x2.pth");
  const std::string path = TempPath("model.safetensors");
  WriteBytes(path, Safetensors(good));
  absl::StatusOr<std::shared_ptr<Upscaler>> up = engine->GetUpscaler(path, "", {});
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_TRUE(absl::StartsWith((*up)->description(), "DAT(embed_dim=32")) << (*up)->description();

  const std::string truncated = TempPath("truncated.safetensors");
  WriteBytes(truncated, Safetensors(Edited(Edited(good, "before_RG.1.weight"), "layers.1.blocks.0.ffn.fc2.bias")));
  absl::StatusOr<std::shared_ptr<Upscaler>> bad = engine->GetUpscaler(truncated, "", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "not a supported DAT state dict (missing key before_RG.1.weight"))
      << bad.status();
  std::filesystem::remove(path);
  std::filesystem::remove(truncated);
}

}  // namespace
}  // namespace anifarm::engine
