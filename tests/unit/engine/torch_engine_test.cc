// Tests of the LibTorch engine: checkpoint loading, Compact detection and
// wiring, tiled inference, and the UpscalerEngine boundary (errors, cache).
#include "node/engine/torch_engine.h"

#include <c10/core/InferenceMode.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/script.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "node/engine/pth_checkpoint.h"
#include "node/engine/srvgg_compact.h"
#include "node/engine/tiled_inference.h"
#include "tests/unit/engine/engine_test_util.h"
#include "tests/unit/engine/test_pickles.h"

namespace anifarm::engine {
namespace {

const char kModel[] = ANIFARM_TEST_MODEL_DIR "/2x-AniScale.pth";

using testutil::Psnr;
using testutil::CpuEngine;
using testutil::EngineWithVariable;
using testutil::SmoothImage;
using testutil::TempPath;
using testutil::TexturedInput;
using testutil::ToTensor;
using testutil::WriteBytes;

// Writes a torch.save-style zip checkpoint holding `tensors` (float32).
void WriteCheckpoint(const std::string& path,
                     const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                     const std::string& wrapper) {
  std::vector<testing::FakeTensor> fakes;
  for (size_t i = 0; i < tensors.size(); ++i) {
    fakes.push_back({tensors[i].first, std::to_string(i), tensors[i].second.sizes().vec()});
  }
  const std::string pkl = testing::StateDictPickle(fakes, wrapper);
  caffe2::serialize::PyTorchStreamWriter writer(path);
  writer.writeRecord("data.pkl", pkl.data(), pkl.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    torch::Tensor t = tensors[i].second.to(torch::kFloat32).contiguous();
    writer.writeRecord("data/" + std::to_string(i), t.data_ptr(), t.numel() * sizeof(float));
  }
  writer.writeEndOfFile();
}

TEST(PthCheckpointTest, LoadsRealCheckpoint) {
  absl::StatusOr<TensorMap> weights = LoadPthCheckpoint(kModel);
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_EQ(weights->size(), 53u);
  const torch::Tensor* first = FindTensor(*weights, "body.0.weight");
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->sizes().vec(), (std::vector<int64_t>{64, 3, 3, 3}));
  EXPECT_EQ(first->scalar_type(), torch::kFloat32);
  for (const auto& [name, t] : *weights) {
    EXPECT_TRUE(torch::isfinite(t).all().item<bool>()) << name;
    EXPECT_LT(t.abs().max().item<float>(), 100.0f) << name;  // garbage bytes would not be
  }
  // A trained first layer is not all zeros.
  EXPECT_GT(first->abs().sum().item<float>(), 1.0f);
}

TEST(SrvggCompactTest, DetectsRealModel) {
  absl::StatusOr<TensorMap> weights = LoadPthCheckpoint(kModel);
  ASSERT_TRUE(weights.ok()) << weights.status();
  absl::StatusOr<CompactConfig> config = DetectCompact(*weights, kModel);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->num_feat, 64);
  EXPECT_EQ(config->num_conv, 16);
  EXPECT_EQ(config->scale, 2);
  EXPECT_EQ(config->ToString(), "SRVGGNetCompact(num_feat=64, num_conv=16, scale=2)");
}

// A zero network is exactly nearest-neighbour upsampling: checks the
// shapes, pixel_shuffle and the residual path of a synthetic x3 model that
// went through the writer, the zip reader and the pickle VM.
TEST(SrvggCompactTest, ZeroSyntheticModelIsNearestUpscale) {
  const int nf = 4;
  std::vector<std::pair<std::string, torch::Tensor>> tensors = {
      {"body.0.weight", torch::zeros({nf, 3, 3, 3})},
      {"body.0.bias", torch::zeros({nf})},
      {"body.1.weight", torch::full({nf}, 0.25)},
      {"body.2.weight", torch::zeros({nf, nf, 3, 3})},
      {"body.2.bias", torch::zeros({nf})},
      {"body.3.weight", torch::full({nf}, 0.25)},
      {"body.4.weight", torch::zeros({27, nf, 3, 3})},
      {"body.4.bias", torch::zeros({27})}};
  const std::string path = TempPath("zero_x3.pth");
  WriteCheckpoint(path, tensors, "params_ema");
  absl::StatusOr<TensorMap> weights = LoadPthCheckpoint(path);
  ASSERT_TRUE(weights.ok()) << weights.status();
  absl::StatusOr<CompactConfig> config = DetectCompact(*weights, path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->num_feat, nf);
  EXPECT_EQ(config->num_conv, 1);
  EXPECT_EQ(config->scale, 3);

  std::unique_ptr<UpscalerEngine> engine = CpuEngine();
  ASSERT_NE(engine, nullptr);
  absl::StatusOr<std::shared_ptr<Upscaler>> up = engine->GetUpscaler(path, "zero-x3", {});
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ((*up)->native_scale(), 3);
  RgbImage in = SmoothImage(10, 7);
  absl::StatusOr<RgbImage> out = (*up)->Upscale(in);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->width, 30);
  ASSERT_EQ(out->height, 21);
  for (int y = 0; y < 21; ++y) {
    for (int x = 0; x < 30; ++x) {
      for (int c = 0; c < 3; ++c) {
        ASSERT_EQ(out->row(y)[3 * x + c], in.row(y / 3)[3 * (x / 3) + c]) << x << "," << y << "," << c;
      }
    }
  }
  std::remove(path.c_str());
}

TEST(TorchEngineTest, UpscalesSmoothImageCloseToBicubic) {
  std::unique_ptr<UpscalerEngine> engine = CpuEngine();
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(engine->device(), "cpu");
  EXPECT_EQ(engine->device_name(), "CPU");
  absl::StatusOr<std::shared_ptr<Upscaler>> up = engine->GetUpscaler(kModel, "aniscale-sha", {});
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ((*up)->native_scale(), 2);
  EXPECT_EQ((*up)->description(), "SRVGGNetCompact(num_feat=64, num_conv=16, scale=2) fp32 on cpu");

  RgbImage in = SmoothImage(64, 48);
  absl::StatusOr<RgbImage> out = (*up)->Upscale(in);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->width, 128);
  ASSERT_EQ(out->height, 96);

  torch::Tensor x = ToTensor(in).permute({2, 0, 1}).unsqueeze(0);
  torch::Tensor bicubic =
      torch::nn::functional::interpolate(x, torch::nn::functional::InterpolateFuncOptions()
                                                .size(std::vector<int64_t>{96, 128})
                                                .mode(torch::kBicubic)
                                                .align_corners(false));
  bicubic = bicubic.clamp(0, 255).round()[0].permute({1, 2, 0});
  const double psnr = Psnr(ToTensor(*out), bicubic, 255.0);
  std::printf("AniScale x2 vs bicubic on a smooth 64x48 image: %.2f dB\n", psnr);
  EXPECT_GT(psnr, 25.0);
}

// Anime-like content (flat colours, anti-aliased hard edges) rendered at
// 128x96, box-downscaled to 64x48 and upscaled again: the network must
// restore it better than nearest-neighbour (its residual base) does. A body
// wired wrong (channel order, layer order, pixel_shuffle) fails this.
TEST(TorchEngineTest, RestoresDownscaledCartoonBetterThanNearest) {
  const int w = 128, h = 96, ss = 8;  // 8x8 supersampling for anti-aliasing
  torch::Tensor hi = torch::zeros({3, h * ss, w * ss}, torch::kFloat64);
  torch::Tensor ys = torch::arange(h * ss, torch::kFloat64).div(ss).view({-1, 1}).expand({h * ss, w * ss});
  torch::Tensor xs = torch::arange(w * ss, torch::kFloat64).div(ss).view({1, -1}).expand({h * ss, w * ss});
  hi[0].fill_(0.95);
  hi[1].fill_(0.85);
  hi[2].fill_(0.70);
  torch::Tensor disc = ((xs - 45).pow(2) + (ys - 50).pow(2)) < 30 * 30;
  hi[0].masked_fill_(disc, 0.85);
  hi[1].masked_fill_(disc, 0.30);
  hi[2].masked_fill_(disc, 0.25);
  torch::Tensor bar = (xs + 0.6 * ys > 95) & (xs + 0.6 * ys < 108);
  for (int c = 0; c < 3; ++c) hi[c].masked_fill_(bar, 0.1);
  torch::Tensor truth = torch::avg_pool2d(hi.unsqueeze(0), ss)[0];  // 3 x 96 x 128
  torch::Tensor low = torch::avg_pool2d(truth.unsqueeze(0), 2)[0];  // 3 x 48 x 64
  torch::Tensor low8 = low.mul(255).round().permute({1, 2, 0}).to(torch::kUInt8).contiguous();
  RgbImage in(64, 48);
  std::memcpy(in.pixels.data(), low8.data_ptr<uint8_t>(), in.pixels.size());
  torch::Tensor truth8 = truth.mul(255).round().permute({1, 2, 0});

  std::unique_ptr<UpscalerEngine> engine = CpuEngine();
  ASSERT_NE(engine, nullptr);
  absl::StatusOr<std::shared_ptr<Upscaler>> up = engine->GetUpscaler(kModel, "aniscale-sha", {});
  ASSERT_TRUE(up.ok()) << up.status();
  absl::StatusOr<RgbImage> out = (*up)->Upscale(in);
  ASSERT_TRUE(out.ok()) << out.status();
  const double model_psnr = Psnr(ToTensor(*out), truth8, 255.0);
  const double nearest_psnr =
      Psnr(ToTensor(in).repeat_interleave(2, 0).repeat_interleave(2, 1), truth8, 255.0);
  torch::Tensor bicubic = torch::nn::functional::interpolate(ToTensor(in).permute({2, 0, 1}).unsqueeze(0),
                                                             torch::nn::functional::InterpolateFuncOptions()
                                                                 .size(std::vector<int64_t>{96, 128})
                                                                 .mode(torch::kBicubic)
                                                                 .align_corners(false));
  const double bicubic_psnr = Psnr(bicubic.clamp(0, 255).round()[0].permute({1, 2, 0}), truth8, 255.0);
  std::printf("cartoon 64x48 -> 128x96 vs ground truth: model %.2f dB, bicubic %.2f dB, nearest %.2f dB\n",
              model_psnr, bicubic_psnr, nearest_psnr);
  EXPECT_GT(model_psnr, nearest_psnr + 2.5);
  EXPECT_GT(model_psnr, bicubic_psnr - 1.0);
}

// On CUDA the network runs channels-last (cuDNN's NHWC kernels); the
// layout must not change the picture. Checked here on the CPU, which runs
// both layouts.
TEST(SrvggCompactTest, ChannelsLastGivesTheSameOutput) {
  absl::StatusOr<TensorMap> weights = LoadPthCheckpoint(kModel);
  ASSERT_TRUE(weights.ok()) << weights.status();
  absl::StatusOr<std::unique_ptr<CompactNet>> nchw =
      CompactNet::Create(*weights, kModel, torch::kCPU, torch::kFloat32, torch::MemoryFormat::Contiguous);
  absl::StatusOr<std::unique_ptr<CompactNet>> nhwc =
      CompactNet::Create(*weights, kModel, torch::kCPU, torch::kFloat32, torch::MemoryFormat::ChannelsLast);
  ASSERT_TRUE(nchw.ok() && nhwc.ok());
  c10::InferenceMode guard;
  const torch::Tensor input = TexturedInput(40, 28);
  const torch::Tensor a = (*nchw)->Forward(input);
  const torch::Tensor b = (*nhwc)->Forward(input);
  ASSERT_EQ(a.sizes(), b.sizes());
  EXPECT_TRUE(b.is_contiguous(torch::MemoryFormat::ChannelsLast)) << "the layout really was channels-last";
  const double max_error = (a - b).abs().max().item<double>();
  std::printf("Compact channels-last vs NCHW: max abs error %.3g\n", max_error);
  EXPECT_LT(max_error, 1e-4);
}

// ANIFARM_PAD_CHANNELS=1 (a GPU experiment): the first convolution reads 8
// channels and the last writes 16, the extra ones with zero weights; the
// picture is the one without padding.
TEST(SrvggCompactTest, PaddedEndsGiveTheSameOutput) {
  absl::StatusOr<TensorMap> weights = LoadPthCheckpoint(kModel);
  ASSERT_TRUE(weights.ok()) << weights.status();
  unsetenv("ANIFARM_PAD_CHANNELS");
  absl::StatusOr<std::unique_ptr<CompactNet>> plain = CompactNet::Create(*weights, kModel, torch::kCPU, torch::kFloat32);
  setenv("ANIFARM_PAD_CHANNELS", "1", 1);
  absl::StatusOr<std::unique_ptr<CompactNet>> padded = CompactNet::Create(*weights, kModel, torch::kCPU, torch::kFloat32);
  unsetenv("ANIFARM_PAD_CHANNELS");
  ASSERT_TRUE(plain.ok() && padded.ok());
  EXPECT_EQ((*plain)->ToString().find("padded-ends"), std::string::npos);
  EXPECT_NE((*padded)->ToString().find("padded-ends"), std::string::npos) << (*padded)->ToString();
  c10::InferenceMode guard;
  const torch::Tensor input = TexturedInput(40, 28);
  const torch::Tensor a = (*plain)->Forward(input);
  const torch::Tensor b = (*padded)->Forward(input);
  ASSERT_EQ(a.sizes(), b.sizes());
  const double max_error = (a - b).abs().max().item<double>();
  std::printf("Compact padded ends vs plain: max abs error %.3g\n", max_error);
  EXPECT_LT(max_error, 1e-4);
}

TEST(TorchEngineTest, TiledMatchesWholeFrame) {
  absl::StatusOr<TensorMap> weights = LoadPthCheckpoint(kModel);
  ASSERT_TRUE(weights.ok()) << weights.status();
  absl::StatusOr<std::unique_ptr<CompactNet>> net =
      CompactNet::Create(*weights, kModel, torch::Device(torch::kCPU), torch::kFloat32);
  ASSERT_TRUE(net.ok()) << net.status();
  const CompactNet* model = net->get();
  const TiledUpscaler::Network run = [model](const torch::Tensor& t) { return model->Forward(t); };

  c10::InferenceMode guard;
  torch::Tensor input = TexturedInput(96, 80);
  TiledUpscaler whole_frame(2, 0, 0);
  torch::Tensor whole = whole_frame.Run(input, run);
  ASSERT_EQ(whole.sizes().vec(), (std::vector<int64_t>{1, 3, 160, 192}));

  const std::pair<int, int> settings[] = {{32, 8}, {48, 16}, {40, 12}};
  for (const auto& [tile, overlap] : settings) {
    TiledUpscaler tiler(2, tile, overlap);
    torch::Tensor tiled = tiler.Run(input, run);
    ASSERT_EQ(tiled.sizes(), whole.sizes());
    const double psnr = Psnr(tiled.clamp(0, 1), whole.clamp(0, 1), 1.0);
    std::printf("tile %d overlap %d vs whole frame: %.2f dB\n", tile, overlap, psnr);
    EXPECT_GE(psnr, 50.0) << "tile " << tile << " overlap " << overlap;
  }
  // Without overlap the seams show: the comparison can fail.
  TiledUpscaler seams(2, 32, 0);
  EXPECT_LT(Psnr(seams.Run(input, run).clamp(0, 1), whole.clamp(0, 1), 1.0), 50.0);
}

// Out of device memory, the tile halves and the frame is retried: simulated
// on the CPU (ANIFARM_TEST_OOM_ABOVE_TILE), the result matches an ordinary
// run, and later frames keep the smaller tile.
TEST(TorchEngineTest, OutOfMemoryHalvesTheTileAndRetries) {
  absl::StatusOr<std::unique_ptr<UpscalerEngine>> engine = CreateTorchEngine("cpu");
  ASSERT_TRUE(engine.ok()) << engine.status();
  const RgbImage input = SmoothImage(96, 64);
  UpscaleOptions options;
  options.tile = 128;
  options.tile_overlap = 16;
  auto reference = (*engine)->GetUpscaler(kModel, "oom-ref", options);
  ASSERT_TRUE(reference.ok());
  absl::StatusOr<RgbImage> expected = (*reference)->Upscale(input);
  ASSERT_TRUE(expected.ok());

  setenv("ANIFARM_TEST_OOM_ABOVE_TILE", "40", 1);
  auto squeezed = (*engine)->GetUpscaler(kModel, "oom-test", options);
  ASSERT_TRUE(squeezed.ok());
  absl::StatusOr<RgbImage> retried = (*squeezed)->Upscale(input);  // 128 -> 64 -> 32
  absl::StatusOr<RgbImage> again = (*squeezed)->Upscale(input);
  options.tile = 48;
  setenv("ANIFARM_TEST_OOM_ABOVE_TILE", "20", 1);  // below the 32 px floor: gives up
  auto hopeless = (*engine)->GetUpscaler(kModel, "oom-hopeless", options);
  ASSERT_TRUE(hopeless.ok());
  absl::StatusOr<RgbImage> refused = (*hopeless)->Upscale(input);
  unsetenv("ANIFARM_TEST_OOM_ABOVE_TILE");

  ASSERT_TRUE(retried.ok()) << retried.status();
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(retried->width, 192);
  double squared = 0;
  for (size_t i = 0; i < expected->pixels.size(); ++i) {
    const double d = double(expected->pixels[i]) - double(retried->pixels[i]);
    squared += d * d;
  }
  const double mse = std::max(squared / double(expected->pixels.size()), 1e-10);
  EXPECT_GT(10 * std::log10(255.0 * 255.0 / mse), 40.0);
  EXPECT_EQ(again->pixels, retried->pixels);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
}

// The model cache holds models by the size of their weights on the device:
// past its budget (ANIFARM_MODEL_CACHE) the least recently used go first,
// and a model that went is loaded again when asked for.
TEST(TorchEngineTest, ModelCacheStaysWithinItsMemoryBudget) {
  absl::StatusOr<std::unique_ptr<UpscalerEngine>> engine = EngineWithVariable("cpu", "ANIFARM_MODEL_CACHE", "5M");
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ((*engine)->model_cache().budget_bytes, 5 << 20);
  const std::string dir = ANIFARM_TEST_MODEL_DIR;
  // Loads `name` and returns what the cache holds then, and in `log` what
  // the engine said (its eviction lines).
  const auto load = [&](const std::string& name, std::string* log = nullptr) {
    ::testing::internal::CaptureStderr();
    absl::StatusOr<std::shared_ptr<Upscaler>> upscaler = (*engine)->GetUpscaler(dir + "/" + name, name, {});
    const std::string said = ::testing::internal::GetCapturedStderr();
    EXPECT_TRUE(upscaler.ok()) << upscaler.status();
    if (log != nullptr) *log = said;
    return (*engine)->model_cache();
  };
  // animevideov3: 1.25 MB of fp16 weights in the .bin, 2.5 MB as fp32.
  ModelCacheUsage usage = load("realesr-animevideov3-x2.param");
  EXPECT_EQ(usage.models, 1);
  EXPECT_GT(usage.bytes, 2400000);
  EXPECT_LT(usage.bytes, 2600000);
  EXPECT_EQ(load("realesr-animevideov3-x3.param").models, 2);  // 5.0 MB: both fit
  EXPECT_EQ(load("realesr-animevideov3-x2.param").models, 2);  // a hit: x2 is now the newest
  std::string log;
  usage = load("realesr-animevideov3-x4.param", &log);  // 7.5 MB: the least recent, x3, goes
  EXPECT_EQ(usage.models, 2);
  EXPECT_LE(usage.bytes, 5 << 20);
  EXPECT_NE(log.find("unloading"), std::string::npos) << log;
  EXPECT_NE(log.find("(scale 3)"), std::string::npos) << "x3 was the least recently used: " << log;
  // 2x-AniScale: 600 k fp32 parameters (its .pth holds them twice, params
  // and params_ema), 2.4 MB on the device; x2 is now the least recent.
  usage = load("2x-AniScale.pth", &log);
  EXPECT_EQ(usage.models, 2);
  EXPECT_GT(usage.bytes, 4800000);
  EXPECT_LT(usage.bytes, 5000000);
  EXPECT_NE(log.find("(scale 2)"), std::string::npos) << "x2 was the least recently used: " << log;
  // An unloaded model is loaded again and still works.
  absl::StatusOr<std::shared_ptr<Upscaler>> again =
      (*engine)->GetUpscaler(dir + "/realesr-animevideov3-x3.param", "realesr-animevideov3-x3.param", {});
  ASSERT_TRUE(again.ok()) << again.status();
  absl::StatusOr<RgbImage> out = (*again)->Upscale(SmoothImage(16, 12));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->width, 48);
  EXPECT_EQ((*engine)->model_cache().models, 2);
  // The node reports the same figures with its memory (no caching
  // allocator on a CPU).
  const DeviceMemoryUsage memory = (*engine)->memory_usage();
  EXPECT_EQ(memory.model_cache.models, 2);
  EXPECT_EQ(memory.model_cache.bytes, (*engine)->model_cache().bytes);
  EXPECT_EQ(memory.model_cache.budget_bytes, 5 << 20);
  EXPECT_EQ(memory.allocated_bytes, -1);
  EXPECT_EQ(memory.reserved_bytes, -1);

  // A model larger than the whole budget still loads, alone.
  absl::StatusOr<std::unique_ptr<UpscalerEngine>> small = EngineWithVariable("cpu", "ANIFARM_MODEL_CACHE", "1M");
  ASSERT_TRUE(small.ok()) << small.status();
  for (const char* name : {"realesr-animevideov3-x2.param", "2x-AniScale.pth"}) {
    absl::StatusOr<std::shared_ptr<Upscaler>> upscaler = (*small)->GetUpscaler(dir + "/" + name, name, {});
    ASSERT_TRUE(upscaler.ok()) << upscaler.status();
    EXPECT_EQ((*small)->model_cache().models, 1) << name;
  }
}

TEST(TiledInferenceTest, SpansCoverAndWeightsArePositive) {
  for (int length : {1, 31, 32, 33, 96, 100}) {
    std::vector<TileSpan> spans = SplitAxis(length, 32, 8);
    std::vector<int> covered(length, 0);
    for (const TileSpan& s : spans) {
      ASSERT_GE(s.start, 0);
      ASSERT_LE(s.start + s.length, length);
      for (int i = s.start; i < s.start + s.length; ++i) ++covered[i];
    }
    for (int i = 0; i < length; ++i) EXPECT_GT(covered[i], 0) << length << ":" << i;
  }
  std::vector<float> w = AxisWeights(32, 2, 8, true, false);
  ASSERT_EQ(w.size(), 64u);
  for (float v : w) EXPECT_GT(v, 0.0f);
  EXPECT_LT(w.front(), 0.05f);  // ramped edge
  EXPECT_EQ(w.back(), 1.0f);    // frame-border edge: not attenuated
  EXPECT_EQ(w[32], 1.0f);       // centre
}

// Tiles are balanced: the fewest that fit, all of one length, so that no
// pixel is computed more often than the overlap needs. A 640 px side in
// tiles of 512 was 512 + 512 (1.6x the pixels); it is 336 + 336.
TEST(TiledInferenceTest, SpansAreTheFewestAndEvenlySized) {
  EXPECT_EQ(SplitAxis(640, 512, 32).size(), 2u);
  EXPECT_EQ(SplitAxis(640, 512, 32)[0].length, 336);
  EXPECT_EQ(SplitAxis(640, 512, 32)[1].start, 304);
  EXPECT_EQ(SplitAxis(1080, 1024, 32)[0].length, 556);
  for (int length : {33, 100, 360, 640, 1080, 1920}) {
    for (int tile : {32, 64, 256, 512}) {
      for (int overlap : {0, 8, 32}) {
        for (int align : {1, 2, 8}) {
          if (tile >= length) continue;
          const std::vector<TileSpan> spans = SplitAxis(length, tile, overlap, align);
          const std::string where = absl::StrCat(length, "/", tile, "/", overlap, "/", align);
          const int wanted = std::min(overlap, tile / 2);
          if (align == 1) {
            EXPECT_EQ(spans.size(), static_cast<size_t>((length - wanted + tile - wanted - 1) / (tile - wanted)))
                << where;
          }
          ASSERT_EQ(spans.front().start, 0) << where;
          ASSERT_EQ(spans.back().start + spans.back().length, length) << where;
          for (size_t i = 0; i < spans.size(); ++i) {
            EXPECT_EQ(spans[i].start % align, 0) << where;
            EXPECT_LE(spans[i].length, tile + align - 1) << where;
            if (i + 1 < spans.size()) {
              EXPECT_EQ(spans[i].length, spans[0].length) << where;
              // Neighbours share at least the overlap (the grid allowing).
              if (tile - wanted >= align) {
                EXPECT_GE(spans[i].start + spans[i].length - spans[i + 1].start, wanted) << where;
              }
            }
          }
        }
      }
    }
  }
}

// The cores of frame-wide statistics (frame_stats.h) partition the axis,
// each inside its own span and cut in the middle of the overlap.
TEST(TiledInferenceTest, CoresPartitionTheAxis) {
  for (int length : {31, 33, 96, 100, 160}) {
    for (int overlap : {0, 8, 13}) {
      const std::vector<TileSpan> spans = SplitAxis(length, 32, overlap);
      const std::vector<std::pair<double, double>> cores = AxisCores(spans);
      ASSERT_EQ(cores.size(), spans.size());
      std::vector<int> owners(length, 0);
      for (size_t i = 0; i < spans.size(); ++i) {
        for (int x = 0; x < length; ++x) {
          const double u = x + 0.5 - spans[i].start;  // pixel centre, span coordinates
          if (u >= cores[i].first && u < cores[i].second) {
            ++owners[x];
            EXPECT_GE(u, 0);
            EXPECT_LT(u, spans[i].length);
          }
        }
      }
      for (int x = 0; x < length; ++x) EXPECT_EQ(owners[x], 1) << length << "/" << overlap << ": " << x;
    }
  }
}

TEST(TorchEngineTest, EngineTilingAndTiming) {
  std::unique_ptr<UpscalerEngine> engine = CpuEngine();
  ASSERT_NE(engine, nullptr);
  UpscaleOptions tiled_options;
  tiled_options.tile = 48;
  tiled_options.tile_overlap = 16;
  absl::StatusOr<std::shared_ptr<Upscaler>> whole = engine->GetUpscaler(kModel, "aniscale-sha", {});
  absl::StatusOr<std::shared_ptr<Upscaler>> tiled =
      engine->GetUpscaler(kModel, "aniscale-sha", tiled_options);
  ASSERT_TRUE(whole.ok()) << whole.status();
  ASSERT_TRUE(tiled.ok()) << tiled.status();

  RgbImage frame = SmoothImage(160, 96);
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<RgbImage> a;
  const int runs = 3;
  for (int i = 0; i < runs; ++i) a = (*whole)->Upscale(frame);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / runs;
  std::printf("CPU fp32, 160x96 frame -> 320x192: %.1f ms per frame\n", ms);
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<RgbImage> b = (*tiled)->Upscale(frame);
  ASSERT_TRUE(b.ok()) << b.status();
  const double psnr = Psnr(ToTensor(*a), ToTensor(*b), 255.0);
  std::printf("engine uint8 tiled (48/16) vs whole 160x96: %.2f dB\n", psnr);
  EXPECT_GE(psnr, 45.0);
}

TEST(TorchEngineTest, ConcurrentUseIsConsistent) {
  std::unique_ptr<UpscalerEngine> engine = CpuEngine();
  ASSERT_NE(engine, nullptr);
  UpscaleOptions options;
  options.tile = 32;
  options.tile_overlap = 8;
  const RgbImage frame = SmoothImage(60, 40);
  std::vector<absl::StatusOr<RgbImage>> results(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<std::shared_ptr<Upscaler>> up = engine->GetUpscaler(kModel, "aniscale-sha", options);
      results[i] = up.ok() ? (*up)->Upscale(frame) : up.status();
    });
  }
  for (std::thread& t : threads) t.join();
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->pixels, results[0]->pixels);
  }
}

TEST(TorchEngineTest, OptionErrors) {
  std::unique_ptr<UpscalerEngine> engine = CpuEngine();
  ASSERT_NE(engine, nullptr);
  UpscaleOptions options;
  options.precision = "int4";
  EXPECT_EQ(engine->GetUpscaler(kModel, "s", options).status().code(), absl::StatusCode::kInvalidArgument);
  options.precision = "fp16";  // falls back to fp32 on the CPU, and says so
  absl::StatusOr<std::shared_ptr<Upscaler>> up = engine->GetUpscaler(kModel, "s", options);
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_NE((*up)->description().find("fp32 on cpu (fp16 requested"), std::string::npos)
      << (*up)->description();
  options.precision = "fp32";  // same cached model, but no fallback note
  absl::StatusOr<std::shared_ptr<Upscaler>> fp32 = engine->GetUpscaler(kModel, "s", options);
  ASSERT_TRUE(fp32.ok()) << fp32.status();
  EXPECT_EQ((*fp32)->description(), "SRVGGNetCompact(num_feat=64, num_conv=16, scale=2) fp32 on cpu");
  options.precision = "auto";
  options.scale = 4;
  EXPECT_EQ(engine->GetUpscaler(kModel, "s", options).status().code(), absl::StatusCode::kInvalidArgument);
  options.scale = 2;
  EXPECT_TRUE(engine->GetUpscaler(kModel, "s", options).ok());
  RgbImage broken(4, 4);
  broken.pixels.resize(5);
  EXPECT_EQ((*up)->Upscale(broken).status().code(), absl::StatusCode::kInvalidArgument);
}

void ExpectModelError(UpscalerEngine& engine, const std::string& path, const std::string& needle) {
  absl::StatusOr<std::shared_ptr<Upscaler>> up = engine.GetUpscaler(path, "sha-" + path, {});
  ASSERT_FALSE(up.ok()) << path;
  EXPECT_EQ(up.status().code(), absl::StatusCode::kInvalidArgument) << up.status();
  EXPECT_NE(up.status().message().find(path), std::string::npos) << up.status();
  EXPECT_NE(up.status().message().find(needle), std::string::npos) << up.status();
}

TEST(TorchEngineTest, BadModelFilesAreNamedInErrors) {
  std::unique_ptr<UpscalerEngine> engine = CpuEngine();
  ASSERT_NE(engine, nullptr);
  ExpectModelError(*engine, "/nonexistent/model.pth", "cannot open");
  ExpectModelError(*engine, ANIFARM_TEST_MODEL_DIR "/model.onnx", "unsupported model format");
  ExpectModelError(*engine, ANIFARM_TEST_MODEL_DIR "/model.param", "cannot open");

  const std::string garbage = TempPath("garbage.pth");
  WriteBytes(garbage, "this is not a checkpoint at all");
  ExpectModelError(*engine, garbage, "not a PyTorch checkpoint");

  const std::string legacy = TempPath("legacy.pth");
  WriteBytes(legacy, std::string("\x80\x02\x8a\x0a"
                                 "l\xfc\x9c"
                                 "F\xf9 j\xa8"
                                 "P\x19.",
                                 15));
  ExpectModelError(*engine, legacy, "legacy");

  const std::string truncated = TempPath("truncated.pth");
  {
    std::ifstream in(kModel, std::ios::binary);
    std::string head(20000, '\0');
    in.read(head.data(), head.size());
    WriteBytes(truncated, head);
  }
  ExpectModelError(*engine, truncated, "");

  const std::string other = TempPath("esrgan.pth");
  WriteCheckpoint(
      other, {{"conv_first.weight", torch::zeros({64, 3, 3, 3})}, {"conv_first.bias", torch::zeros({64})}},
      "params");
  ExpectModelError(*engine, other, "conv_first.weight");
  ExpectModelError(*engine, other, "Supported architectures: SRVGGNetCompact");

  // A checkpoint whose pickle calls os.system is refused before anything runs.
  const std::string evil = TempPath("evil.pth");
  {
    std::string pkl =
        "\x80\x02"
        "cos\nsystem\n";
    testing::AppendString(&pkl, "true");
    pkl += "\x85R.";
    caffe2::serialize::PyTorchStreamWriter writer(evil);
    writer.writeRecord("data.pkl", pkl.data(), pkl.size());
    writer.writeEndOfFile();
  }
  ExpectModelError(*engine, evil, "os.system");

  for (const std::string& p : {garbage, legacy, truncated, other, evil}) std::remove(p.c_str());
}

// The legacy-format ESRGAN model runs through the engine (what `anifarm
// models inspect` shows), restores a downscaled image far better than
// nearest-neighbour, and tiles consistently with the whole frame.
TEST(TorchEngineTest, RunsLegacyRrdbModel) {
  std::unique_ptr<UpscalerEngine> engine = CpuEngine();
  ASSERT_NE(engine, nullptr);
  const std::string path = ANIFARM_TEST_MODEL_DIR "/4x-NMKD-YandereNeo-Superlite.pth";
  absl::StatusOr<std::shared_ptr<Upscaler>> whole = engine->GetUpscaler(path, "neo", {});
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ((*whole)->native_scale(), 4);
  EXPECT_EQ((*whole)->description(),
            "RRDBNet(num_feat=64, num_block=2, num_grow_ch=32, scale=4, keys=old) fp32 on cpu");
  const RgbImage in = SmoothImage(40, 32);
  absl::StatusOr<RgbImage> out = (*whole)->Upscale(in);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->width, 160);
  ASSERT_EQ(out->height, 128);
  const double vs_bicubic = Psnr(ToTensor(*out), testutil::BicubicBytes(in, 160, 128), 255.0);
  std::printf("YandereNeo x4 vs bicubic on a smooth 40x32 image: %.2f dB\n", vs_bicubic);
  EXPECT_GT(vs_bicubic, 25.0);

  UpscaleOptions tiled_options;
  tiled_options.tile = 24;
  tiled_options.tile_overlap = 8;
  absl::StatusOr<std::shared_ptr<Upscaler>> tiled = engine->GetUpscaler(path, "neo", tiled_options);
  ASSERT_TRUE(tiled.ok()) << tiled.status();
  absl::StatusOr<RgbImage> tiled_out = (*tiled)->Upscale(in);
  ASSERT_TRUE(tiled_out.ok()) << tiled_out.status();
  const double tiled_psnr = Psnr(ToTensor(*tiled_out), ToTensor(*out), 255.0);
  std::printf("YandereNeo tiled (24/8) vs whole 40x32: %.2f dB\n", tiled_psnr);
  EXPECT_GT(tiled_psnr, 40.0);
}

TEST(TorchEngineTest, RunsTorchScriptArchive) {
  const std::string path =
      (std::filesystem::path(__FILE__).parent_path() / "reference" / "tiny_scripted_x2.pt").string();
  EXPECT_TRUE(IsTorchScriptArchive(path));
  EXPECT_FALSE(IsTorchScriptArchive(kModel));
  EXPECT_FALSE(IsTorchScriptArchive(ANIFARM_TEST_MODEL_DIR "/4x-NMKD-YandereNeo-Superlite.pth"));
  EXPECT_FALSE(IsTorchScriptArchive("/nonexistent.pt"));
  // As a state dict it is refused, saying what it is.
  absl::StatusOr<TensorMap> as_weights = LoadPthCheckpoint(path);
  ASSERT_FALSE(as_weights.ok());
  EXPECT_NE(as_weights.status().message().find("TorchScript"), std::string::npos) << as_weights.status();

  std::unique_ptr<UpscalerEngine> engine = CpuEngine();
  ASSERT_NE(engine, nullptr);
  absl::StatusOr<std::shared_ptr<Upscaler>> up = engine->GetUpscaler(path, "tiny", {});
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ((*up)->native_scale(), 2);
  EXPECT_EQ((*up)->description(), "TorchScript(__torch__.TinyUpscaler, scale=2) fp32 on cpu");
  absl::StatusOr<RgbImage> out = (*up)->Upscale(SmoothImage(30, 20));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->width, 60);
  EXPECT_EQ(out->height, 40);
}

// A scripted module that is not an RGB upscaler is refused at load time.
TEST(TorchEngineTest, RefusesTorchScriptThatIsNotAnUpscaler) {
  const std::string path = TempPath("gray.pt");
  {
    torch::jit::Module m("Gray");
    m.define("def forward(self, x):\n    return x[:, 0:1]\n");
    m.save(path);
  }
  std::unique_ptr<UpscalerEngine> engine = CpuEngine();
  ASSERT_NE(engine, nullptr);
  ExpectModelError(*engine, path, "not to an RGB image upscaled");
  std::remove(path.c_str());
}

// An RRDBNet-looking checkpoint with a wrong shape is refused by name.
TEST(TorchEngineTest, MalformedRrdbIsNamedInErrors) {
  const std::string path = TempPath("bad_rrdb.pth");
  WriteCheckpoint(path,
                  {{"conv_first.weight", torch::zeros({8, 3, 3, 3})},
                   {"conv_first.bias", torch::zeros({8})},
                   {"body.0.rdb1.conv1.weight", torch::zeros({4, 8, 3, 3})},
                   {"body.0.rdb1.conv1.bias", torch::zeros({4})},
                   {"body.0.rdb1.conv2.weight", torch::zeros({4, 8, 3, 3})}},
                  "params_ema");
  std::unique_ptr<UpscalerEngine> engine = CpuEngine();
  ASSERT_NE(engine, nullptr);
  ExpectModelError(*engine, path, "ESRGAN/RRDBNet");
  ExpectModelError(*engine, path, "body.0.rdb1.conv2 should be a 3x3 conv 12 -> 4");
  std::remove(path.c_str());
}

TEST(TorchEngineTest, DeviceParsing) {
  EXPECT_EQ(CreateTorchEngine("gpu").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateTorchEngine("cuda:x").status().code(), absl::StatusCode::kInvalidArgument);
  if (!torch::cuda::is_available()) {
    EXPECT_EQ(CreateTorchEngine("cuda").status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(CreateTorchEngine("cuda:1").status().code(), absl::StatusCode::kFailedPrecondition);
  }
  std::string error;
  EXPECT_EQ(anifarm_create_torch_engine("tpu", &error), nullptr);
  EXPECT_NE(error.find("tpu"), std::string::npos) << error;
  std::unique_ptr<UpscalerEngine> cpu(anifarm_create_torch_engine("cpu", &error));
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(cpu->device(), "cpu");
}

// `--tile auto` on a GPU: the guide's table, then whole 1080p frames on
// 40 GB+ cards, where 1024 px tiles ran at two thirds of the speed.
TEST(TorchEngineTest, AutoTileFollowsTheGuidesTableThenGoesWholeOnBigGpus) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  EXPECT_EQ(AutoTileForFreeGpuMemory(-1), 512);
  EXPECT_EQ(AutoTileForFreeGpuMemory(2 * kGiB), 128);
  EXPECT_EQ(AutoTileForFreeGpuMemory(4 * kGiB), 256);
  EXPECT_EQ(AutoTileForFreeGpuMemory(6 * kGiB), 384);
  EXPECT_EQ(AutoTileForFreeGpuMemory(8 * kGiB), 512);
  EXPECT_EQ(AutoTileForFreeGpuMemory(12 * kGiB), 768);
  EXPECT_EQ(AutoTileForFreeGpuMemory(16 * kGiB), 1024);
  EXPECT_EQ(AutoTileForFreeGpuMemory(24 * kGiB), 1024);  // an RTX 4090
  EXPECT_EQ(AutoTileForFreeGpuMemory(40 * kGiB), 2048);
  EXPECT_EQ(AutoTileForFreeGpuMemory(139 * kGiB), 2048);  // the H200 of docs/benchmarks.md
  EXPECT_GE(AutoTileForFreeGpuMemory(80 * kGiB), 1920);  // a 1080p frame is one tile
}

TEST(TorchEngineTest, FramesInFlightAreTwoOnBigGpusOneOnCpusAndTheVariableWins) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  EXPECT_EQ(FramesInFlightFor(false, -1, nullptr), 1);        // a CPU
  EXPECT_EQ(FramesInFlightFor(true, 8 * kGiB, nullptr), 1);   // two frames may not fit
  EXPECT_EQ(FramesInFlightFor(true, -1, nullptr), 1);         // unknown free memory
  EXPECT_EQ(FramesInFlightFor(true, 16 * kGiB, nullptr), 2);
  EXPECT_EQ(FramesInFlightFor(true, 139 * kGiB, ""), 2);
  EXPECT_EQ(FramesInFlightFor(false, -1, "3"), 3);
  EXPECT_EQ(FramesInFlightFor(true, 139 * kGiB, "1"), 1);
  EXPECT_EQ(FramesInFlightFor(true, 139 * kGiB, "8"), kMaxFramesInFlight);
  for (const char* bad : {"0", "9", "-2", "two", "2x"}) {
    EXPECT_EQ(FramesInFlightFor(true, 139 * kGiB, bad), 2) << bad;  // reported, then the default
  }
}

TEST(TorchEngineTest, CpuThreadsAreTheUsableCpusUnlessOpenMpIsToldOtherwise) {
  EXPECT_EQ(CpuThreadsFor(nullptr, nullptr, 2, 1), 2);
  EXPECT_EQ(CpuThreadsFor(nullptr, nullptr, 16, 2), 8);  // shared by the frames in flight
  EXPECT_EQ(CpuThreadsFor(nullptr, nullptr, 3, 8), 1);
  EXPECT_EQ(CpuThreadsFor("", "", 0, 1), 1);
  EXPECT_EQ(CpuThreadsFor("many", nullptr, 4, 1), 4);  // not a count: not a setting
  EXPECT_EQ(CpuThreadsFor("4", nullptr, 16, 1), 0);    // LibTorch's own handling of the variables
  EXPECT_EQ(CpuThreadsFor(nullptr, "1", 16, 1), 0);
  EXPECT_GE(UsableCpus(), 1);
}

// LibTorch alone gives a new thread the physical cores its cpuinfo counts
// (1 on a 2-vCPU VM): a node's worker thread that upscales on the CPU runs
// on every CPU the process may use.
TEST(TorchEngineTest, AnUpscaleOnAWorkerThreadUsesEveryUsableCpu) {
  absl::StatusOr<std::unique_ptr<UpscalerEngine>> engine = EngineWithVariable("cpu", "OMP_NUM_THREADS", "");
  ASSERT_TRUE(engine.ok()) << engine.status();
  absl::StatusOr<std::shared_ptr<Upscaler>> upscaler = (*engine)->GetUpscaler(kModel, "aniscale-sha", {});
  ASSERT_TRUE(upscaler.ok()) << upscaler.status();
  int threads = 0;
  std::thread([&] {
    EXPECT_TRUE((*upscaler)->Upscale(testutil::SmoothImage(24, 16)).ok());
    threads = at::get_num_threads();
  }).join();
  EXPECT_EQ(threads, UsableCpus());
}

// The upscaler carries the engine's choice, which the node's pipeline reads.
TEST(TorchEngineTest, UpscalerReportsItsFramesInFlight) {
  std::unique_ptr<UpscalerEngine> engine = CpuEngine();
  absl::StatusOr<std::unique_ptr<UpscalerEngine>> engine3 = EngineWithVariable("cpu", "ANIFARM_FRAMES_IN_FLIGHT", "3");
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine3.ok()) << engine3.status();
  UpscaleOptions options;
  absl::StatusOr<std::shared_ptr<Upscaler>> one = engine->GetUpscaler(kModel, "aniscale-sha", options);
  absl::StatusOr<std::shared_ptr<Upscaler>> three = (*engine3)->GetUpscaler(kModel, "aniscale-sha", options);
  ASSERT_TRUE(one.ok() && three.ok());
  EXPECT_EQ((*one)->frames_in_flight(), 1);
  EXPECT_EQ((*three)->frames_in_flight(), 3);
}

}  // namespace
}  // namespace anifarm::engine
