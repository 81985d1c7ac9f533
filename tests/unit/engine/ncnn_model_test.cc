// Tests of the ncnn loader and graph executor: the real Real-ESRGAN anime
// video v3 graphs (x2/x3/x4) and realesrgan-x4plus-anime, synthetic graphs
// written here (fp16 / fp32 storage), and malformed files.
#include "node/engine/ncnn_model.h"

#include <c10/core/InferenceMode.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "node/engine/srvgg_compact.h"
#include "node/engine/tiled_inference.h"
#include "node/engine/torch_engine.h"
#include "tests/unit/engine/engine_test_util.h"

namespace anifarm::engine {
namespace {

using testutil::CpuEngine;
using testutil::BicubicBytes;
using testutil::Psnr;
using testutil::ReadBytes;
using testutil::SmoothImage;
using testutil::TempPath;
using testutil::ToTensor;
using testutil::WriteBytes;

const std::string kModelDir = ANIFARM_TEST_MODEL_DIR;
const std::string kX4 = kModelDir + "/realesr-animevideov3-x4.param";

void AppendU32(std::string* out, uint32_t v) { out->append(reinterpret_cast<const char*>(&v), 4); }

void AppendF32(std::string* out, const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kFloat32).contiguous();
  out->append(static_cast<const char*>(c.data_ptr()), c.numel() * 4);
}

// Flag-tagged weights as ncnn's converter writes them.
void AppendTagged(std::string* out, const torch::Tensor& t, bool fp16) {
  if (!fp16) {
    AppendU32(out, kNcnnTagFp32);
    AppendF32(out, t);
    return;
  }
  AppendU32(out, kNcnnTagFp16);
  torch::Tensor h = t.to(torch::kHalf).contiguous();
  out->append(static_cast<const char*>(h.data_ptr()), h.numel() * 2);
  if (h.numel() % 2 != 0) out->append(2, '\0');  // 4-byte alignment
}

// A tiny Compact x2 network (nf = 3: odd fp16 weight count, so the padding
// is exercised), its .param text and .bin bytes.
struct TinyModel {
  TensorMap weights;  // PyTorch names, values as stored (fp16-rounded)
  std::string param;
  std::string bin;
};

TinyModel MakeTinyModel(bool first_fp16, bool second_fp16) {
  torch::manual_seed(3);
  const auto round = [](torch::Tensor t, bool fp16) {
    return fp16 ? t.to(torch::kHalf).to(torch::kFloat32) : t;
  };
  TinyModel m;
  torch::Tensor w0 = round(torch::randn({3, 3, 3, 3}) * 0.3, first_fp16);
  torch::Tensor b0 = torch::randn({3}) * 0.1;
  torch::Tensor p0 = torch::rand({3}) * 0.3;
  torch::Tensor w1 = round(torch::randn({12, 3, 3, 3}) * 0.3, second_fp16);
  torch::Tensor b1 = torch::randn({12}) * 0.1;
  m.weights = {{"body.0.weight", w0},
               {"body.0.bias", b0},
               {"body.1.weight", p0},
               {"body.2.weight", w1},
               {"body.2.bias", b1}};
  m.param =
      "7767517\n"
      "8 9\n"
      "Input            in       0 1 data\n"
      "Split            split    1 2 data d0 d1\n"
      "Convolution      conv0    1 1 d1 a 0=3 1=3 4=1 5=1 6=81\n"
      "PReLU            prelu0   1 1 a b 0=3\n"
      "Convolution      conv1    1 1 b c 0=12 1=3 4=1 5=1 6=324\n"
      "PixelShuffle     shuffle  1 1 c e 0=2\n"
      "Interp           up       1 1 d0 f 0=1 1=2.000000e+00 2=2.000000e+00\n"
      "BinaryOp         add      2 1 e f output 0=0\n";
  AppendTagged(&m.bin, w0, first_fp16);
  AppendF32(&m.bin, b0);
  AppendF32(&m.bin, p0);
  AppendTagged(&m.bin, w1, second_fp16);
  AppendF32(&m.bin, b1);
  return m;
}

// Writes <dir>/<name>.param and .bin; returns the .param path.
std::string WriteModel(const std::string& name, const std::string& param, const std::string& bin) {
  const std::string base = TempPath(name);
  WriteBytes(base + ".param", param);
  WriteBytes(base + ".bin", bin);
  return base + ".param";
}

void RemoveModel(const std::string& param_path) {
  std::remove(param_path.c_str());
  std::remove((param_path.substr(0, param_path.size() - 6) + ".bin").c_str());
}

TEST(NcnnModelTest, RealX4GraphIsCompact) {
  absl::StatusOr<NcnnGraph> graph = LoadNcnnModel(kX4);
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(graph->scale, 4);
  EXPECT_EQ(graph->layers.size(), 40u);
  EXPECT_EQ(DescribeNcnnGraph(*graph), "SRVGGNetCompact(num_feat=64, num_conv=16, scale=4) [ncnn]");
  std::optional<NcnnCompactMatch> match = MatchNcnnCompact(*graph);
  ASSERT_TRUE(match.has_value());
  EXPECT_EQ(match->config.num_feat, 64);
  EXPECT_EQ(match->config.num_conv, 16);
  EXPECT_EQ(match->resize, 1.0);
  for (const auto& [name, t] : match->weights) {
    EXPECT_TRUE(torch::isfinite(t).all().item<bool>()) << name;
    EXPECT_LT(t.abs().max().item<float>(), 100.0f) << name;
  }
}

// The graph executor and CompactNet (the implementation the .pth path uses)
// agree on the real x4 weights.
TEST(NcnnModelTest, ExecutorMatchesCompactNet) {
  absl::StatusOr<NcnnGraph> graph = LoadNcnnModel(kX4);
  ASSERT_TRUE(graph.ok()) << graph.status();
  std::optional<NcnnCompactMatch> match = MatchNcnnCompact(*graph);
  ASSERT_TRUE(match.has_value());
  absl::StatusOr<std::unique_ptr<NcnnNet>> ncnn = NcnnNet::Create(*graph, torch::kCPU, torch::kFloat32);
  ASSERT_TRUE(ncnn.ok()) << ncnn.status();
  absl::StatusOr<std::unique_ptr<CompactNet>> compact =
      CompactNet::Create(match->weights, kX4, torch::kCPU, torch::kFloat32);
  ASSERT_TRUE(compact.ok()) << compact.status();
  c10::InferenceMode guard;
  torch::Tensor x = testutil::TexturedInput(40, 32);
  torch::Tensor a = (*ncnn)->Forward(x);
  torch::Tensor b = (*compact)->Forward(x);
  ASSERT_EQ(a.sizes().vec(), (std::vector<int64_t>{1, 3, 128, 160}));
  EXPECT_LT((a - b).abs().max().item<float>(), 1e-5f);
}

// A PReLU folds into the convolution before it only when nothing else reads
// that convolution's output: here the sum reads it too, so both the
// activation and the sum must still see the bare convolution.
TEST(NcnnModelTest, PreluReadBesideItsInputIsNotFolded) {
  torch::manual_seed(5);
  const torch::Tensor w0 = torch::randn({3, 3, 3, 3}) * 0.3;
  const torch::Tensor b0 = torch::randn({3}) * 0.1;
  const torch::Tensor p0 = torch::rand({3}) * 0.3;
  const torch::Tensor w1 = torch::randn({12, 3, 3, 3}) * 0.3;
  const torch::Tensor b1 = torch::randn({12}) * 0.1;
  const std::string param =
      "7767517\n"
      "6 6\n"
      "Input            in       0 1 data\n"
      "Convolution      conv0    1 1 data a 0=3 1=3 4=1 5=1 6=81\n"
      "PReLU            prelu0   1 1 a b 0=3\n"
      "BinaryOp         add      2 1 b a c 0=0\n"
      "Convolution      conv1    1 1 c d 0=12 1=3 4=1 5=1 6=324\n"
      "PixelShuffle     shuffle  1 1 d output 0=2\n";
  std::string bin;
  AppendTagged(&bin, w0, false);
  AppendF32(&bin, b0);
  AppendF32(&bin, p0);
  AppendTagged(&bin, w1, false);
  AppendF32(&bin, b1);
  const std::string path = WriteModel("prelu_beside", param, bin);
  absl::StatusOr<NcnnGraph> graph = LoadNcnnModel(path);
  RemoveModel(path);
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::StatusOr<std::unique_ptr<NcnnNet>> net = NcnnNet::Create(*graph, torch::kCPU, torch::kFloat32);
  ASSERT_TRUE(net.ok()) << net.status();
  c10::InferenceMode guard;
  const torch::Tensor x = testutil::TexturedInput(12, 10);
  const torch::Tensor a = at::conv2d(x, w0, b0, {1, 1}, {1, 1});
  const torch::Tensor expected =
      at::pixel_shuffle(at::conv2d(at::prelu(a, p0) + a, w1, b1, {1, 1}, {1, 1}), 2);
  const torch::Tensor got = (*net)->Forward(x);
  ASSERT_EQ(got.sizes(), expected.sizes());
  EXPECT_LT((got - expected).abs().max().item<float>(), 1e-5f);
}

// Upscales a smooth image with the engine; returns the PSNR against bicubic.
double UpscaleVsBicubic(UpscalerEngine& engine, const std::string& path, int scale, const std::string& desc) {
  absl::StatusOr<std::shared_ptr<Upscaler>> up = engine.GetUpscaler(path, "sha-" + path, {});
  EXPECT_TRUE(up.ok()) << up.status();
  if (!up.ok()) return 0;
  EXPECT_EQ((*up)->native_scale(), scale);
  EXPECT_EQ((*up)->description(), desc);
  RgbImage in = SmoothImage(64, 48);
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<RgbImage> out = (*up)->Upscale(in);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return 0;
  EXPECT_EQ(out->width, 64 * scale);
  EXPECT_EQ(out->height, 48 * scale);
  const double psnr = Psnr(ToTensor(*out), BicubicBytes(in, 64 * scale, 48 * scale), 255.0);
  std::printf("%s: 64x48 -> %dx%d in %.1f ms, vs bicubic %.2f dB\n", path.c_str(), out->width, out->height,
              ms, psnr);
  return psnr;
}

TEST(NcnnModelTest, EngineRunsX4X3X2) {
  std::unique_ptr<UpscalerEngine> engine = CpuEngine();
  ASSERT_NE(engine, nullptr);
  const std::string compact = "SRVGGNetCompact(num_feat=64, num_conv=16, scale=4)";
  EXPECT_GT(UpscaleVsBicubic(*engine, kX4, 4, compact + " [ncnn] fp32 on cpu"), 25.0);
  EXPECT_GT(UpscaleVsBicubic(*engine, kModelDir + "/realesr-animevideov3-x3.param", 3,
                             compact + " + bicubic x0.75 (scale 3) [ncnn] fp32 on cpu"),
            25.0);
  EXPECT_GT(UpscaleVsBicubic(*engine, kModelDir + "/realesr-animevideov3-x2.param", 2,
                             compact + " + bicubic x0.5 (scale 2) [ncnn] fp32 on cpu"),
            25.0);
}

// The x2 graph is the x4 network followed by ncnn's bicubic Interp: its
// output is the x4 output resized with PyTorch's bicubic (A = -0.75, edge
// replication, half-pixel centres), computed here independently.
TEST(NcnnModelTest, X2IsX4ThenBicubicHalf) {
  absl::StatusOr<NcnnGraph> g4 = LoadNcnnModel(kX4);
  absl::StatusOr<NcnnGraph> g2 = LoadNcnnModel(kModelDir + "/realesr-animevideov3-x2.param");
  ASSERT_TRUE(g4.ok() && g2.ok());
  absl::StatusOr<std::unique_ptr<NcnnNet>> n4 = NcnnNet::Create(*g4, torch::kCPU, torch::kFloat32);
  absl::StatusOr<std::unique_ptr<NcnnNet>> n2 = NcnnNet::Create(*g2, torch::kCPU, torch::kFloat32);
  ASSERT_TRUE(n4.ok() && n2.ok());
  c10::InferenceMode guard;
  torch::Tensor x = testutil::TexturedInput(24, 20);
  torch::Tensor y4 = (*n4)->Forward(x);
  torch::Tensor y2 = (*n2)->Forward(x);
  ASSERT_EQ(y2.sizes().vec(), (std::vector<int64_t>{1, 3, 40, 48}));
  // Bicubic by hand: each output pixel at source position 2·i + 0.5 between
  // taps i-1..i+2 of 2·i, with weights of the cubic kernel at t = 0.5.
  const double a = -0.75, t = 0.5;
  const auto near = [&](double d) { return ((a + 2) * d - (a + 3)) * d * d + 1; };
  const auto far = [&](double d) { return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a; };
  const std::vector<double> w = {far(1 + t), near(t), near(1 - t), far(2 - t)};
  const auto resize_axis = [&](const torch::Tensor& in, int dim) {
    const int64_t n = in.size(dim);
    std::vector<torch::Tensor> rows;
    for (int64_t i = 0; i < n / 2; ++i) {
      torch::Tensor acc = torch::zeros_like(in.select(dim, 0));
      for (int k = 0; k < 4; ++k) {
        const int64_t src = std::clamp<int64_t>(2 * i - 1 + k, 0, n - 1);
        acc += w[k] * in.select(dim, src);
      }
      rows.push_back(acc);
    }
    return torch::stack(rows, dim);
  };
  torch::Tensor expected = resize_axis(resize_axis(y4.to(torch::kFloat64), 2), 3);
  EXPECT_LT((expected - y2.to(torch::kFloat64)).abs().max().item<double>(), 1e-4);
}

TEST(NcnnModelTest, TiledMatchesWholeFrame) {
  for (const std::string& name : {"realesr-animevideov3-x4", "realesr-animevideov3-x3"}) {
    absl::StatusOr<NcnnGraph> graph = LoadNcnnModel(kModelDir + "/" + name + ".param");
    ASSERT_TRUE(graph.ok()) << graph.status();
    absl::StatusOr<std::unique_ptr<NcnnNet>> net = NcnnNet::Create(*graph, torch::kCPU, torch::kFloat32);
    ASSERT_TRUE(net.ok()) << net.status();
    const NcnnNet* model = net->get();
    const TiledUpscaler::Network run = [model](const torch::Tensor& t) { return model->Forward(t); };
    c10::InferenceMode guard;
    torch::Tensor input = testutil::TexturedInput(96, 80);
    const int s = model->scale();
    torch::Tensor whole = TiledUpscaler(s, 0, 0).Run(input, run);
    ASSERT_EQ(whole.sizes().vec(), (std::vector<int64_t>{1, 3, 80 * s, 96 * s}));
    TiledUpscaler tiler(s, 48, 16);
    torch::Tensor tiled = tiler.Run(input, run);
    const double psnr = Psnr(tiled.clamp(0, 1), whole.clamp(0, 1), 1.0);
    std::printf("%s tile 48 overlap 16 vs whole frame: %.2f dB\n", name.c_str(), psnr);
    EXPECT_GE(psnr, 50.0) << name;
  }
}

TEST(NcnnModelTest, RrdbAnimeX4) {
  std::unique_ptr<UpscalerEngine> engine = CpuEngine();
  ASSERT_NE(engine, nullptr);
  EXPECT_GT(UpscaleVsBicubic(*engine, kModelDir + "/realesrgan-x4plus-anime.param", 4,
                             "RRDBNet(num_feat=64, num_block=6, scale=4) [ncnn] fp32 on cpu"),
            25.0);
}

// fp16 and fp32 storage (and their mix) load to the same values and give
// what CompactNet computes from those weights.
TEST(NcnnModelTest, SyntheticFp16AndFp32Storage) {
  for (const auto& [first, second] :
       std::vector<std::pair<bool, bool>>{{true, true}, {false, false}, {true, false}}) {
    TinyModel m = MakeTinyModel(first, second);
    const std::string path = WriteModel("tiny", m.param, m.bin);
    absl::StatusOr<NcnnGraph> graph = LoadNcnnModel(path);
    ASSERT_TRUE(graph.ok()) << graph.status();
    EXPECT_EQ(graph->scale, 2);
    std::optional<NcnnCompactMatch> match = MatchNcnnCompact(*graph);
    ASSERT_TRUE(match.has_value());
    ASSERT_EQ(match->weights.size(), m.weights.size());
    for (size_t i = 0; i < m.weights.size(); ++i) {
      EXPECT_EQ(match->weights[i].first, m.weights[i].first);
      EXPECT_TRUE(torch::equal(match->weights[i].second, m.weights[i].second)) << m.weights[i].first;
    }
    absl::StatusOr<std::unique_ptr<NcnnNet>> ncnn = NcnnNet::Create(*graph, torch::kCPU, torch::kFloat32);
    absl::StatusOr<std::unique_ptr<CompactNet>> compact =
        CompactNet::Create(m.weights, path, torch::kCPU, torch::kFloat32);
    ASSERT_TRUE(ncnn.ok() && compact.ok());
    c10::InferenceMode guard;
    torch::Tensor x = torch::rand({1, 3, 9, 11});
    EXPECT_LT(((*ncnn)->Forward(x) - (*compact)->Forward(x)).abs().max().item<float>(), 1e-6f);
    RemoveModel(path);
  }
}

void ExpectError(const absl::Status& status, const std::string& path, const std::string& needle) {
  ASSERT_FALSE(status.ok()) << path;
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find(path), std::string::npos) << status;
  EXPECT_NE(status.message().find(needle), std::string::npos) << status;
}

TEST(NcnnModelTest, BadBinFilesAreRefused) {
  const std::string param = ReadBytes(kX4);
  const std::string bin = ReadBytes(kModelDir + "/realesr-animevideov3-x4.bin");
  ASSERT_EQ(bin.size(), 1247368u);
  std::unique_ptr<UpscalerEngine> engine = CpuEngine();
  ASSERT_NE(engine, nullptr);

  const std::string truncated = WriteModel("truncated", param, bin.substr(0, bin.size() / 2));
  const std::string truncated_bin = truncated.substr(0, truncated.size() - 6) + ".bin";
  ExpectError(LoadNcnnModel(truncated).status(), truncated_bin, "truncated");
  ExpectError(LoadNcnnModel(truncated).status(), truncated_bin, "1247368 with fp16");
  ExpectError(engine->GetUpscaler(truncated, "t", {}).status(), truncated_bin, "truncated");

  const std::string longer = WriteModel("longer", param, bin + "xxxx");
  ExpectError(LoadNcnnModel(longer).status(), ".bin", "4 bytes left over");

  const std::string missing = TempPath("missing.param");
  WriteBytes(missing, param);
  ExpectError(LoadNcnnModel(missing).status(), TempPath("missing.bin"), "cannot open");

  TinyModel m = MakeTinyModel(false, false);
  std::string int8 = m.bin;
  const uint32_t tag = kNcnnTagInt8;
  std::memcpy(int8.data(), &tag, 4);
  const std::string int8_path = WriteModel("int8", m.param, int8);
  ExpectError(LoadNcnnModel(int8_path).status(), ".bin", "unsupported weight storage int8");

  std::string nan = m.bin;
  const float bad = std::nanf("");
  std::memcpy(nan.data() + 8, &bad, 4);
  const std::string nan_path = WriteModel("nan", m.param, nan);
  ExpectError(LoadNcnnModel(nan_path).status(), ".bin", "non-finite");

  ExpectError(engine->GetUpscaler(kModelDir + "/realesr-animevideov3-x4.bin", "b", {}).status(),
              "realesr-animevideov3-x4.bin", ".param file");
  for (const std::string& p : {truncated, longer, int8_path, nan_path}) RemoveModel(p);
  std::remove(missing.c_str());
}

TEST(NcnnModelTest, BadParamFilesAreRefused) {
  const auto parse_error = [](const std::string& text) {
    absl::StatusOr<NcnnGraph> g = ParseNcnnParam(text, "model.param");
    return g.status();
  };
  const std::string head = "7767517\n";
  const std::string input = "Input in 0 1 data\n";
  ExpectError(parse_error("7767518\n1 1\n" + input), "model.param", "magic");
  ExpectError(parse_error(head + "2 2\n" + input), "model.param", "declares 2 layers");
  ExpectError(parse_error(head + "2 3\n" + input + "Softmax s 1 1 data out\n"), "model.param",
              "unsupported layer type");
  ExpectError(parse_error(head + "2 3\n" + input + "PReLU p 1 1 nowhere out 0=3\n"), "model.param",
              "not produced before");
  ExpectError(parse_error(head + "2 3\n" + input + "Interp i 1 1 data out 0=3 3=100 4=100\n"), "model.param",
              "fixed or dynamic output sizes");
  ExpectError(parse_error(head + "2 3\n" + input + "Convolution c 1 1 data out 0=3 1=3 4=1 5=1 6=80\n"),
              "model.param", "not a multiple");
  // A stride-2 conv runs, but halves the scale.
  ExpectError(parse_error(head + "2 3\n" + input + "Convolution c 1 1 data out 0=3 1=3 3=2 4=1 6=81\n"),
              "model.param", "overall scale 0.5");
  ExpectError(parse_error(head + "2 3\n" + input + "Convolution c 1 1 data out 0=3 1=3 4=1 6=81 99=1\n"),
              "model.param", "unsupported param id 99");
  ExpectError(parse_error(head + "2 3\n" + input + "PReLU p 1 1 data out 0=3 -23310=3,1,2\n"), "model.param",
              "bad array param");
  ExpectError(parse_error(head + "2 3\n" + input + "Interp i 1 1 data out 0=3 1=1.5 2=1.5\n"), "model.param",
              "overall scale 1.5");
  ExpectError(parse_error(head + "2 3\n" + input + "Convolution c 1 1 data out 0=4 1=3 4=1 6=108\n"),
              "model.param", "4 channels, not RGB");
  ExpectError(parse_error(head + "1 1\nPReLU p 0 1 data 0=3\n"), "model.param", "no input");
  ExpectError(parse_error(head + "2 1\n" + input + "PReLU p 1 1 data out 0=3\n"), "model.param",
              "more blobs than the declared 1");
  ExpectError(parse_error(head + "1 1\nInput in 0 99999 data\n"), "model.param", "malformed layer line 3");
  // The minimal valid graph: RGB in, RGB out at scale 1.
  EXPECT_TRUE(ParseNcnnParam(head + "2 2\n" + input + "PReLU p 1 1 data out 0=3\n", "m.param").ok());
}

// The whole of each real model's .param survives random single-byte
// corruption without crashing (errors or a consistent graph).
TEST(NcnnModelTest, CorruptedParamsDoNotCrash) {
  const std::string param = ReadBytes(kX4);
  std::mt19937 rng(11);
  std::uniform_int_distribution<size_t> pos(0, param.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  int ok = 0;
  for (int i = 0; i < 300; ++i) {
    std::string p = param;
    p[pos(rng)] = static_cast<char>(byte(rng));
    absl::StatusOr<NcnnGraph> g = ParseNcnnParam(p, "fuzz.param");
    if (g.ok()) {
      ++ok;
      EXPECT_GE(g->scale, 1);
    } else {
      EXPECT_NE(g.status().message().find("fuzz.param"), std::string::npos);
    }
  }
  std::printf("%d of 300 corrupted params still parse\n", ok);
}

}  // namespace
}  // namespace anifarm::engine
