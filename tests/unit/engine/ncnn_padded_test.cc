// Tests of the ncnn graphs that eat a border of their input: waifu2x
// upconv_7 (anime_style_art_rgb, noise0 scale2.0x) and Real-CUGAN se up2x
// (conservative, no-denoise), as `anifarm models fetch` installs them; the
// new layers (Deconvolution, Crop, global Pooling, InnerProduct, strided and
// unpadded Convolution) on synthetic graphs; and what is refused.
#include <c10/core/InferenceMode.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "node/engine/ncnn_model.h"
#include "node/engine/ncnn_shapes.h"
#include "node/engine/torch_engine.h"
#include "tests/unit/engine/engine_test_util.h"

namespace anifarm::engine {
namespace {

using testutil::BicubicBytes;
using testutil::CpuEngine;
using testutil::Psnr;
using testutil::SmoothImage;
using testutil::ToTensor;

const std::string kModelDir = ANIFARM_TEST_MODEL_DIR;
const std::string kWaifu2x = kModelDir + "/waifu2x-upconv7-anime-noise0-x2.param";
const std::string kCugan = kModelDir + "/realcugan-up2x-conservative.param";
const std::string kCuganNoDenoise = kModelDir + "/realcugan-up2x-no-denoise.param";
const std::string kWaifu2xDesc = "waifu2x UpConv7(scale=2, prepad=7 replicate) [ncnn]";
const std::string kCuganDesc = "Real-CUGAN UpCunet2x(se_blocks=4, scale=2, prepad=18 reflect) [ncnn]";

// Flat colours, dark outlines and a gradient band: what anime models are
// made for (Real-CUGAN flattens the pure sinusoids of SmoothImage into
// shaded blobs, ~23 dB from bicubic, by design rather than by error).
RgbImage CartoonImage(int w, int h) {
  RgbImage img(w, h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = img.row(y) + 3 * x;
      const double r2 = (x - 0.3 * w) * (x - 0.3 * w) + (y - 0.5 * h) * (y - 0.5 * h);
      const double radius = 0.28 * h;
      if (r2 < radius * radius) {
        p[0] = 76, p[1] = 128, p[2] = 230;
      } else if (r2 < (radius + 2) * (radius + 2)) {
        p[0] = p[1] = p[2] = 25;
      } else if (x > 0.62 * w && x < 0.88 * w) {
        p[0] = 230, p[1] = static_cast<uint8_t>(255.0 * y / h), p[2] = 150;
      } else {
        p[0] = 230, p[1] = 204, p[2] = 153;
      }
    }
  }
  return img;
}

// Upscales `in` with the engine; returns the PSNR against bicubic.
double EngineVsBicubic(const std::string& path, const RgbImage& in, const std::string& desc) {
  std::unique_ptr<UpscalerEngine> engine = CpuEngine();
  if (engine == nullptr) return 0;
  absl::StatusOr<std::shared_ptr<Upscaler>> up = engine->GetUpscaler(path, "sha-" + path, {});
  EXPECT_TRUE(up.ok()) << up.status();
  if (!up.ok()) return 0;
  EXPECT_EQ((*up)->native_scale(), 2);
  EXPECT_EQ((*up)->description(), desc + " fp32 on cpu");
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<RgbImage> out = (*up)->Upscale(in);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return 0;
  EXPECT_EQ(out->width, 2 * in.width);
  EXPECT_EQ(out->height, 2 * in.height);
  if (out->width != 2 * in.width || out->height != 2 * in.height) return 0;
  const double psnr = Psnr(ToTensor(*out), BicubicBytes(in, 2 * in.width, 2 * in.height), 255.0);
  std::printf("%s: %dx%d -> %dx%d in %.1f ms, vs bicubic %.2f dB\n", path.c_str(), in.width, in.height,
              out->width, out->height, ms, psnr);
  return psnr;
}

std::unique_ptr<NcnnNet> LoadNet(const std::string& path) {
  absl::StatusOr<NcnnGraph> graph = LoadNcnnModel(path);
  EXPECT_TRUE(graph.ok()) << graph.status();
  if (!graph.ok()) return nullptr;
  absl::StatusOr<std::unique_ptr<NcnnNet>> net = NcnnNet::Create(*graph, torch::kCPU, torch::kFloat32);
  EXPECT_TRUE(net.ok()) << net.status();
  return net.ok() ? std::move(*net) : nullptr;
}

TEST(NcnnPaddedTest, Waifu2xGraphIsUpconv7WithSevenPixelBorder) {
  absl::StatusOr<NcnnGraph> graph = LoadNcnnModel(kWaifu2x);
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(graph->scale, 2);
  EXPECT_EQ(graph->prepad[0], 7);
  EXPECT_EQ(graph->prepad[1], 7);
  EXPECT_EQ(DescribeNcnnGraph(*graph), kWaifu2xDesc);
  // Any padded size runs (no strided convolution).
  for (int64_t n : {15, 16, 17, 100}) {
    EXPECT_EQ(NcnnAxisOutput(graph->geometry, graph->blob_names.size(), graph->input_blob, graph->output_blob,
                             0, n),
              std::optional<int64_t>(2 * n - 28))
        << n;
  }
}

TEST(NcnnPaddedTest, CuganGraphIsUpCunet2xWithEighteenPixelBorder) {
  for (const std::string& path : {kCugan, kCuganNoDenoise}) {
    absl::StatusOr<NcnnGraph> graph = LoadNcnnModel(path);
    ASSERT_TRUE(graph.ok()) << graph.status();
    EXPECT_EQ(graph->scale, 2);
    EXPECT_EQ(graph->prepad[0], 18);
    EXPECT_EQ(graph->prepad[1], 18);
    EXPECT_EQ(DescribeNcnnGraph(*graph), kCuganDesc);
    // The two stride-2 stages need an even padded side.
    const auto out = [&](int64_t n) {
      return NcnnAxisOutput(graph->geometry, graph->blob_names.size(), graph->input_blob, graph->output_blob,
                            1, n);
    };
    EXPECT_EQ(out(36 + 20), std::optional<int64_t>(40));
    EXPECT_EQ(out(36 + 21), std::nullopt);
    EXPECT_EQ(out(36 + 22), std::optional<int64_t>(44));
  }
}

TEST(NcnnPaddedTest, Waifu2xUpscalesLikeBicubicOnSmoothImages) {
  EXPECT_GT(EngineVsBicubic(kWaifu2x, SmoothImage(64, 48), kWaifu2xDesc), 40.0);
  // Odd sides.
  EXPECT_GT(EngineVsBicubic(kWaifu2x, SmoothImage(37, 29), kWaifu2xDesc), 35.0);
}

TEST(NcnnPaddedTest, CuganUpscalesCartoons) {
  EXPECT_GT(EngineVsBicubic(kCugan, CartoonImage(96, 64), kCuganDesc), 27.0);
  EXPECT_GT(EngineVsBicubic(kCuganNoDenoise, CartoonImage(96, 64), kCuganDesc), 25.0);
  // Odd sides take one more reflected row and column, cropped off again.
  EXPECT_GT(EngineVsBicubic(kCugan, CartoonImage(63, 45), kCuganDesc), 25.0);
  // Smaller than the border: replicated instead of reflected.
  EXPECT_GT(EngineVsBicubic(kCugan, CartoonImage(12, 10), kCuganDesc), 15.0);
}

TEST(NcnnPaddedTest, Waifu2xTiledMatchesWholeFrame) {
  std::unique_ptr<NcnnNet> net = LoadNet(kWaifu2x);
  ASSERT_NE(net, nullptr);
  const double psnr = testutil::TiledVsWholeFramePsnr(*net, testutil::TexturedInput(96, 80), 48, 16);
  std::printf("waifu2x upconv_7 tile 48 overlap 16 vs whole frame: %.2f dB\n", psnr);
  EXPECT_GE(psnr, 50.0);
}

// Real-CUGAN's squeeze-excitation blocks scale channels by global averages;
// tiled, the tiler collects each average over the tiles' cores first (4 SE
// blocks: 5 passes), so tiles equal the whole frame. 160x136 needs 2x2
// tiles of 128 px and 3x3 or 4x4 of 64 px.
TEST(NcnnPaddedTest, CuganTiledMatchesWholeFrame) {
  std::unique_ptr<NcnnNet> net = LoadNet(kCugan);
  ASSERT_NE(net, nullptr);
  EXPECT_EQ(net->frame_statistics(), 4);
  const torch::Tensor input = testutil::TexturedInput(160, 136);
  for (const int tile : {64, 128}) {
    for (const int overlap : {8, 32}) {
      const auto start = std::chrono::steady_clock::now();
      const double psnr = testutil::TiledVsWholeFramePsnr(*net, input, tile, overlap);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      std::printf("Real-CUGAN up2x tile %d overlap %d vs whole frame: %.2f dB (whole + tiled %.0f ms)\n", tile,
                  overlap, psnr, ms);
      EXPECT_GE(psnr, 50.0) << "tile " << tile << " overlap " << overlap;
    }
  }
  // Odd sides and an odd overlap (tiles start on even pixels all the same:
  // the graph's stride-2 layers).
  EXPECT_EQ(net->tile_alignment(), 2);
  const double odd = testutil::TiledVsWholeFramePsnr(*net, testutil::TexturedInput(157, 133), 64, 10);
  std::printf("Real-CUGAN up2x 157x133 tile 64 overlap 10 vs whole frame: %.2f dB\n", odd);
  EXPECT_GE(odd, 50.0);

  // The cost of the passes: one Forward per tile without the statistics
  // (the old, inexact way) against 4 collecting passes (each stopping at
  // its SE block) and the final one.
  c10::InferenceMode guard;
  const auto time_ms = [](const std::function<void()>& f) {
    const auto start = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  };
  TiledUpscaler tiler(2, 64, 8);
  const double whole_ms = time_ms([&] { net->Forward(input); });
  const double one_pass_ms = time_ms([&] { tiler.Run(input, [&](const torch::Tensor& t) { return net->Forward(t); }); });
  const double exact_ms = time_ms([&] { tiler.Run(input, *net); });
  std::printf("Real-CUGAN up2x 160x136: whole %.0f ms, tiles 64/8 one pass %.0f ms, exact %.0f ms\n", whole_ms,
              one_pass_ms, exact_ms);
}

void AppendFp32(std::string* out, const torch::Tensor& t, bool tagged) {
  if (tagged) out->append(4, '\0');  // storage tag 0: fp32
  torch::Tensor c = t.to(torch::kFloat32).contiguous();
  out->append(static_cast<const char*>(c.data_ptr()), c.numel() * 4);
}

// A synthetic graph of the new layers: a stride-2 2x2 conv with leaky ReLU,
// an SE block (global average Pooling, InnerProduct ReLU, InnerProduct
// sigmoid, BinaryOp mul broadcast per channel) and a stride-2 4x4
// Deconvolution with an asymmetric cut (0 top, 2 bottom, 1 left, 1 right),
// against the same computation written with torch ops here; on an even
// frame and on an odd one (one replicated row, cropped off again).
TEST(NcnnPaddedTest, SyntheticLayersMatchTorch) {
  torch::manual_seed(9);
  torch::Tensor w0 = torch::randn({4, 3, 2, 2}) * 0.3, b0 = torch::randn({4}) * 0.1;
  torch::Tensor f1 = torch::randn({2, 4}) * 0.3, c1 = torch::randn({2}) * 0.1;
  torch::Tensor f2 = torch::randn({4, 2}) * 0.3, c2 = torch::randn({4}) * 0.1;
  torch::Tensor w3 = torch::randn({3, 4, 4, 4}) * 0.3, b3 = torch::randn({3}) * 0.1;  // ncnn [out, in]
  const std::string param =
      "7767517\n"
      "8 9\n"
      "Input         in    0 1 data\n"
      "Convolution   down  1 1 data a 0=4 1=2 3=2 5=1 6=48 9=2 -23310=1,0.2\n"
      "Split         sp    1 2 a a0 a1\n"
      "Pooling       gap   1 1 a0 g 0=1 4=1\n"
      "InnerProduct  fc1   1 1 g h 0=2 1=1 2=8 9=1\n"
      "InnerProduct  fc2   1 1 h s 0=4 1=1 2=8 9=4\n"
      "BinaryOp      mul   2 1 a1 s m 0=2\n"
      "Deconvolution up    1 1 m out 0=3 1=4 3=2 4=1 15=1 14=0 16=2 5=1 6=192\n";
  std::string bin;
  for (const auto& [w, b] :
       std::vector<std::pair<torch::Tensor, torch::Tensor>>{{w0, b0}, {f1, c1}, {f2, c2}, {w3, b3}}) {
    AppendFp32(&bin, w, true);
    AppendFp32(&bin, b, false);
  }
  absl::StatusOr<NcnnGraph> graph = ParseNcnnParam(param, "synthetic.param");
  ASSERT_TRUE(graph.ok()) << graph.status();
  ASSERT_TRUE(LoadNcnnWeights(bin, "synthetic.bin", &*graph).ok());
  EXPECT_EQ(graph->scale, 1);
  EXPECT_EQ(graph->prepad[0], 0);
  absl::StatusOr<std::unique_ptr<NcnnNet>> net = NcnnNet::Create(*graph, torch::kCPU, torch::kFloat32);
  ASSERT_TRUE(net.ok()) << net.status();
  c10::InferenceMode guard;
  const auto expected = [&](const torch::Tensor& x) {
    torch::Tensor a = torch::leaky_relu(torch::conv2d(x, w0, b0, 2), 0.2);
    torch::Tensor s =
        torch::sigmoid(torch::linear(torch::relu(torch::linear(a.mean({2, 3}), f1, c1)), f2, c2));
    torch::Tensor y = torch::conv_transpose2d(a * s.view({1, 4, 1, 1}), w3.transpose(0, 1), b3, 2);
    return y.narrow(2, 0, y.size(2) - 2).narrow(3, 1, y.size(3) - 2);
  };
  torch::Tensor even = torch::rand({1, 3, 10, 12});
  torch::Tensor out = (*net)->Forward(even);
  ASSERT_EQ(out.sizes().vec(), (std::vector<int64_t>{1, 3, 10, 12}));
  EXPECT_LT((out - expected(even)).abs().max().item<float>(), 1e-5f);
  torch::Tensor odd = even.narrow(2, 0, 9);
  out = (*net)->Forward(odd);
  ASSERT_EQ(out.sizes().vec(), (std::vector<int64_t>{1, 3, 9, 12}));
  torch::Tensor extended = torch::cat({odd, odd.narrow(2, 8, 1)}, 2);
  EXPECT_LT((out - expected(extended).narrow(2, 0, 9)).abs().max().item<float>(), 1e-5f);
}

TEST(NcnnPaddedTest, UnsupportedNewLayerOptionsAreRefused) {
  const auto error = [](const std::string& layers, int count, int blobs) {
    const std::string text =
        "7767517\n" + std::to_string(count) + " " + std::to_string(blobs) + "\nInput in 0 1 data\n" + layers;
    return ParseNcnnParam(text, "m.param").status();
  };
  const auto expect = [](const absl::Status& s, const std::string& needle) {
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find(needle), std::string::npos) << s;
    EXPECT_NE(s.message().find("m.param"), std::string::npos) << s;
  };
  expect(error("Crop c 1 1 data out -23309=1,1 -23310=1,-1 -23311=1,0\n", 2, 2), "unsupported crop axis");
  expect(error("Crop c 1 1 data out 0=1 1=1\n", 2, 2), "unsupported param id");
  expect(error("Crop c 1 1 data out -23309=1,1 -23310=1,0 -23311=1,-2\n", 2, 2), "not a border");
  expect(error("Pooling p 1 1 data out 0=1 1=2 2=2\n", 2, 2), "only global");
  expect(error("Convolution c 1 1 data out 0=3 1=3 4=-233 6=81\n", 2, 2), "SAME padding");
  expect(error("Deconvolution d 1 1 data out 0=3 1=2 3=2 18=1 6=36\n", 2, 2), "output padding");
  expect(error("InnerProduct f 1 1 data out 0=3 2=9\n", 2, 2), "global pooling result");
  expect(error("Convolution c 1 1 data a 0=3 1=3 6=81\nConvolution e 1 1 a out 0=3 1=3 3=2 6=81\n", 3, 3),
         "overall scale");
  // A valid 3x3 conv eats one pixel on each side: prepadding 1.
  absl::StatusOr<NcnnGraph> g =
      ParseNcnnParam("7767517\n2 2\nInput in 0 1 data\nConvolution c 1 1 data out 0=3 1=3 6=81\n", "m.param");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->prepad[0], 1);
  EXPECT_EQ(g->scale, 1);
}

}  // namespace
}  // namespace anifarm::engine
