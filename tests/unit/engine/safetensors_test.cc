// Tests of the .safetensors loader: a converter written here turns the real
// AniScale checkpoint into safetensors (F32, F16, BF16), which must load to
// the same tensors and upscale identically; malformed files are refused with
// errors naming them. Also: what the engine says about the real checkpoints
// of architectures it does not run.
#include "node/engine/safetensors.h"

#include <torch/torch.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "node/engine/pth_checkpoint.h"
#include "node/engine/srvgg_compact.h"
#include "node/engine/torch_engine.h"
#include "tests/unit/engine/engine_test_util.h"

namespace anifarm::engine {
namespace {

using testutil::TempPath;
using testutil::WriteBytes;

const std::string kModelDir = ANIFARM_TEST_MODEL_DIR;
const std::string kAniScale = kModelDir + "/2x-AniScale.pth";

// The safetensors serialisation of `tensors` converted to `dtype` ("F32",
// "F16" or "BF16"), with a __metadata__ entry and the header padded with
// spaces to 8 bytes as the Python library does.
std::string ToSafetensors(const TensorMap& tensors, const std::string& dtype) {
  const torch::ScalarType type = dtype == "F32"   ? torch::kFloat32
                                 : dtype == "F16" ? torch::kFloat16
                                                  : torch::kBFloat16;
  std::string data;
  std::vector<std::string> entries = {R"("__metadata__":{"format":"pt"})"};
  for (const auto& [name, t] : tensors) {
    torch::Tensor c = t.to(type).contiguous();
    const size_t begin = data.size();
    data.append(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
    entries.push_back(absl::StrCat("\"", name, "\":{\"dtype\":\"", dtype, "\",\"shape\":[",
                                   absl::StrJoin(c.sizes(), ","), "],\"data_offsets\":[", begin, ",",
                                   data.size(), "]}"));
  }
  std::string header = "{" + absl::StrJoin(entries, ",") + "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

std::string Header(const std::string& json) {
  std::string out(8, '\0');
  uint64_t n = json.size();
  std::memcpy(out.data(), &n, 8);
  return out + json;
}

TensorMap AniScale() {
  absl::StatusOr<TensorMap> weights = LoadPthCheckpoint(kAniScale);
  EXPECT_TRUE(weights.ok()) << weights.status();
  return weights.ok() ? *weights : TensorMap();
}

TEST(SafetensorsTest, RoundTripsAniScaleInEveryDtype) {
  const TensorMap original = AniScale();
  ASSERT_EQ(original.size(), 53u);
  for (const std::string dtype : {"F32", "F16", "BF16"}) {
    absl::StatusOr<TensorMap> loaded = ParseSafetensors(ToSafetensors(original, dtype), "x.safetensors");
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    ASSERT_EQ(loaded->size(), original.size());
    const torch::ScalarType type = dtype == "F32"   ? torch::kFloat32
                                   : dtype == "F16" ? torch::kFloat16
                                                    : torch::kBFloat16;
    for (size_t i = 0; i < original.size(); ++i) {
      EXPECT_EQ((*loaded)[i].first, original[i].first);
      EXPECT_EQ((*loaded)[i].second.scalar_type(), type);
      EXPECT_TRUE(torch::equal((*loaded)[i].second, original[i].second.to(type))) << original[i].first;
    }
    absl::StatusOr<CompactConfig> config = DetectCompact(*loaded, "x.safetensors");
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(config->ToString(), "SRVGGNetCompact(num_feat=64, num_conv=16, scale=2)");
  }
}

// Through the engine: a .safetensors file, and the same bytes under a .pth
// name (found by content), upscale exactly as the .pth checkpoint does.
TEST(SafetensorsTest, EngineGivesTheCheckpointsOutput) {
  const std::string path = TempPath("aniscale.safetensors");
  const std::string disguised = TempPath("aniscale_st.pth");
  WriteBytes(path, ToSafetensors(AniScale(), "F32"));
  WriteBytes(disguised, ToSafetensors(AniScale(), "F32"));
  absl::StatusOr<std::unique_ptr<UpscalerEngine>> engine = CreateTorchEngine("cpu");
  ASSERT_TRUE(engine.ok()) << engine.status();
  const RgbImage in = testutil::SmoothImage(40, 30);
  std::vector<std::vector<uint8_t>> outputs;
  for (const std::string& p : {kAniScale, path, disguised}) {
    absl::StatusOr<std::shared_ptr<Upscaler>> up = (*engine)->GetUpscaler(p, "sha-" + p, {});
    ASSERT_TRUE(up.ok()) << up.status();
    EXPECT_EQ((*up)->description(), "SRVGGNetCompact(num_feat=64, num_conv=16, scale=2) fp32 on cpu");
    absl::StatusOr<RgbImage> out = (*up)->Upscale(in);
    ASSERT_TRUE(out.ok()) << out.status();
    outputs.push_back(out->pixels);
  }
  EXPECT_EQ(outputs[1], outputs[0]);
  EXPECT_EQ(outputs[2], outputs[0]);
  std::remove(path.c_str());
  std::remove(disguised.c_str());
}

void ExpectBad(const std::string& bytes, const std::string& needle) {
  absl::StatusOr<TensorMap> t = ParseSafetensors(bytes, "bad.safetensors");
  ASSERT_FALSE(t.ok()) << needle;
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("bad.safetensors"), std::string::npos) << t.status();
  EXPECT_NE(t.status().message().find(needle), std::string::npos) << t.status();
}

TEST(SafetensorsTest, MalformedFilesAreRefused) {
  const std::string four_floats(16, '\0');
  const auto tensor = [](const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return absl::StrCat(R"({"w":{"dtype":")", dtype, R"(","shape":)", shape, R"(,"data_offsets":)", offsets,
                        "}}");
  };
  EXPECT_TRUE(ParseSafetensors(Header(tensor("F32", "[2,2]", "[0,16]")) + four_floats, "ok").ok());
  ExpectBad("short", "only 5 bytes");
  ExpectBad(std::string("\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10), "exceeds the file");
  ExpectBad(Header(tensor("F32", "[2,2]", "[0,16]")), "outside the 0-byte data");
  ExpectBad(Header(tensor("F32", "[2,2]", "[0,16]")) + four_floats.substr(0, 15), "outside");
  ExpectBad(Header(tensor("F32", "[2,3]", "[0,16]")) + four_floats, "16 bytes for 6 F32 elements");
  ExpectBad(Header(tensor("F32", "[2,2]", "[8,4]")) + four_floats, "data_offsets [8, 4]");
  ExpectBad(Header(tensor("I64", "[2]", "[0,16]")) + four_floats, "unsupported dtype I64");
  ExpectBad(Header(tensor("F32", "[-2,2]", "[0,16]")) + four_floats, "bad dimension");
  ExpectBad(Header(tensor("F32", "[1099511627776,1099511627776]", "[0,16]")) + four_floats, "");
  ExpectBad(Header(R"({"w":{"dtype":"F32","shape":[2,2]}})") + four_floats, "lacks dtype");
  ExpectBad(Header(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16])") + four_floats,
            "not a JSON object");
  ExpectBad(Header(R"({"__metadata__":{}})"), "no tensors");
  ExpectBad(Header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                   R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})") +
                four_floats,
            "overlap");
  ExpectBad(Header(std::string(100, '[') + std::string(100, ']')), "not a JSON object");
  absl::StatusOr<TensorMap> missing = LoadSafetensors("/nonexistent/m.safetensors");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/m.safetensors: cannot open"), std::string::npos);

  // Every prefix of a valid file is refused, never crashes.
  TensorMap small = {{"body.0.weight", torch::rand({4, 3, 3, 3})}, {"body.0.bias", torch::rand({4})}};
  const std::string good = ToSafetensors(small, "F16");
  ASSERT_TRUE(ParseSafetensors(good, "good").ok());
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(ParseSafetensors(good.substr(0, n), "cut").ok()) << n;
  }
}

// Architectures are told apart by their keys; those the engine does not
// run are refused with what they are.
TEST(ArchitectureDetectionTest, UnsupportedRealModelsAreNamed) {
  absl::StatusOr<std::unique_ptr<UpscalerEngine>> engine = CreateTorchEngine("cpu");
  ASSERT_TRUE(engine.ok()) << engine.status();
  // OmniSR was refused here until OmniSrNet ran it.
  const std::string omnisr = kModelDir + "/4x_WTP_descreenton.pth";
  absl::StatusOr<std::shared_ptr<Upscaler>> omni = (*engine)->GetUpscaler(omnisr, "wtp", {});
  ASSERT_TRUE(omni.ok()) << omni.status();
  EXPECT_EQ((*omni)->native_scale(), 4);
  absl::StatusOr<TensorMap> omni_weights = LoadPthCheckpoint(omnisr);
  ASSERT_TRUE(omni_weights.ok()) << omni_weights.status();
  EXPECT_EQ(GuessArchitecture(*omni_weights), "OmniSR");
  absl::Status status = DetectCompact(*omni_weights, omnisr).status();
  EXPECT_NE(status.message().find("detected architecture OmniSR, which its own network runs"),
            std::string::npos)
      << status;
  TensorMap swinir = {{"conv_first.weight", torch::zeros({1})},
                      {"layers.0.residual_group.blocks.0.attn.qkv.weight", torch::zeros({1})}};
  status = DetectCompact(swinir, "swinir.pth").status();
  EXPECT_NE(status.message().find("detected architecture SwinIR/HAT, which this engine does not run yet"),
            std::string::npos)
      << status;

  // ESRGAN was refused here until RrdbNet (and the legacy loader) ran it.
  const std::string esrgan = kModelDir + "/4x-NMKD-YandereNeo-Superlite.pth";
  absl::StatusOr<std::shared_ptr<Upscaler>> rrdb = (*engine)->GetUpscaler(esrgan, "yandere", {});
  ASSERT_TRUE(rrdb.ok()) << rrdb.status();
  EXPECT_EQ((*rrdb)->native_scale(), 4);

  TensorMap old_esrgan = {{"model.0.weight", torch::zeros({64, 3, 3, 3})},
                          {"model.1.sub.0.RDB1.conv1.0.weight", torch::zeros({32, 64, 3, 3})}};
  EXPECT_EQ(GuessArchitecture(old_esrgan), "ESRGAN/RRDBNet (old key layout model.N.sub)");
  absl::Status detect = DetectCompact(old_esrgan, "old.pth").status();
  EXPECT_NE(detect.message().find("detected architecture ESRGAN/RRDBNet (old key layout"), std::string::npos)
      << detect;
  EXPECT_EQ(GuessArchitecture(
                {{"conv_first.weight", torch::zeros({1})}, {"body.0.rdb1.conv1.weight", torch::zeros({1})}}),
            "ESRGAN/RRDBNet (new key layout conv_first/body.N.rdbK)");
  EXPECT_EQ(GuessArchitecture({{"feats.0.weight", torch::zeros({1})},
                               {"feats.1.channe_mixer.0.weight", torch::zeros({1})}}),
            "PLKSR");
  EXPECT_EQ(GuessArchitecture({{"feats.0.weight", torch::zeros({1})},
                               {"feats.1.channel_mixer.0.weight", torch::zeros({1})}}),
            "RealPLKSR");
  EXPECT_EQ(GuessArchitecture({{"conv_1.sk.weight", torch::zeros({1})},
                               {"block_1.c1_r.sk.weight", torch::zeros({1})}}),
            "SPAN");
  EXPECT_EQ(GuessArchitecture({{"foo", torch::zeros({1})}}), "");
}

}  // namespace
}  // namespace anifarm::engine
