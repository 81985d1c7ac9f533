#include "node/engine/span.h"

#include <ATen/ATen.h>

#include <cmath>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "node/engine/weight_reader.h"

namespace anifarm::engine {
namespace {

constexpr int kBlocks = 6;
constexpr double kImageRange = 255.0;
constexpr float kMean[3] = {0.4488f, 0.4371f, 0.4040f};

using Shape = std::vector<int64_t>;

// Reads Conv3XC `name` (in → out) and fuses it into one 3x3 conv, in
// float64 so that the fusion adds no rounding of its own:
//   W = conv.2 ∘ conv.1 ∘ conv.0 composed per tap, plus sk at the centre;
//   b = conv.2 · (conv.1 taps · b0 + b1) + b2 + sk bias.
// The chain runs on the zero-padded input, where conv.0 yields its bias, so
// the fused conv with zero padding 1 is exact there too.
absl::StatusOr<Conv2d> ReadConv3xc(WeightReader& r, const std::string& name, int64_t in, int64_t out) {
  const auto get = [&](const std::string& key, const Shape& shape) -> absl::StatusOr<torch::Tensor> {
    ASSIGN_OR_RETURN(torch::Tensor t, r.Get(name + "." + key, shape));
    return t.to(torch::kCPU, torch::kFloat64);
  };
  ASSIGN_OR_RETURN(torch::Tensor sk_w, get("sk.weight", {out, in, 1, 1}));
  ASSIGN_OR_RETURN(torch::Tensor sk_b, get("sk.bias", {out}));
  ASSIGN_OR_RETURN(torch::Tensor w0, get("conv.0.weight", {WeightReader::kAny, in, 1, 1}));
  const int64_t mid_in = w0.size(0);  // in · gain
  ASSIGN_OR_RETURN(torch::Tensor b0, get("conv.0.bias", {mid_in}));
  ASSIGN_OR_RETURN(torch::Tensor w1, get("conv.1.weight", {WeightReader::kAny, mid_in, 3, 3}));
  const int64_t mid_out = w1.size(0);  // out · gain
  ASSIGN_OR_RETURN(torch::Tensor b1, get("conv.1.bias", {mid_out}));
  ASSIGN_OR_RETURN(torch::Tensor w2, get("conv.2.weight", {out, mid_out, 1, 1}));
  ASSIGN_OR_RETURN(torch::Tensor b2, get("conv.2.bias", {out}));
  RETURN_IF_ERROR(r.Skip(name + ".eval_conv.weight", {out, in, 3, 3}));
  RETURN_IF_ERROR(r.Skip(name + ".eval_conv.bias", {out}));

  const torch::Tensor m0 = w0.flatten(1), m2 = w2.flatten(1);  // [mid_in, in], [out, mid_out]
  torch::Tensor weight = at::einsum("om,mnyx,ni->oiyx", {m2, w1, m0});
  weight.select(2, 1).select(2, 1).add_(sk_w.flatten(1));
  const torch::Tensor bias = at::matmul(m2, at::einsum("mnyx,n->m", {w1, b0}) + b1) + b2 + sk_b;
  Conv2d conv;
  conv.weight = weight;
  conv.bias = bias;
  return conv;
}

absl::StatusOr<Conv2d> ReadConv(WeightReader& r, const std::string& name, int64_t out, int64_t in, int64_t k) {
  Conv2d conv;
  ASSIGN_OR_RETURN(conv.weight, r.Get(name + ".weight", {out, in, k, k}));
  ASSIGN_OR_RETURN(conv.bias, r.Get(name + ".bias", {out}));
  return conv;
}

absl::Status Read(WeightReader& r, SpanConfig* c, SpanNet::Params* p) {
  const Shape sk = r.Shape("conv_1.sk.weight");
  if (sk.size() != 4 || sk[1] != 3) return r.Error("conv_1.sk.weight should be a 1x1 conv from 3 channels");
  c->num_feat = static_cast<int>(sk[0]);
  const Shape up = r.Shape("upsampler.0.weight");
  if (up.empty()) return r.Error("missing key upsampler.0.weight");
  const int s = static_cast<int>(std::lround(std::sqrt(static_cast<double>(up[0]) / 3)));
  if (s < 1 || 3 * s * s != up[0]) {
    return r.Error(absl::StrCat("upsampler.0.weight has ", up[0], " output channels, expected 3·scale²"));
  }
  c->scale = s;
  // Spandrel's marker for a model trained without input normalisation.
  c->norm = !r.Has("no_norm");
  RETURN_IF_ERROR(r.Skip("no_norm", {WeightReader::kAny}));

  const int64_t nf = c->num_feat;
  ASSIGN_OR_RETURN(p->conv_1, ReadConv3xc(r, "conv_1", 3, nf));
  for (int i = 0; i < kBlocks; ++i) {
    const char* convs[3] = {"c1_r", "c2_r", "c3_r"};
    for (int j = 0; j < 3; ++j) {
      ASSIGN_OR_RETURN(p->blocks[i][j], ReadConv3xc(r, absl::StrCat("block_", i + 1, ".", convs[j]), nf, nf));
    }
  }
  ASSIGN_OR_RETURN(p->conv_2, ReadConv3xc(r, "conv_2", nf, nf));
  ASSIGN_OR_RETURN(p->conv_cat, ReadConv(r, "conv_cat", nf, 4 * nf, 1));
  ASSIGN_OR_RETURN(p->upsampler, ReadConv(r, "upsampler.0", 3 * s * s, nf, 3));
  p->mean = torch::tensor({kMean[0], kMean[1], kMean[2]}).view({1, 3, 1, 1});
  return r.CheckAllRead();
}

// The fused or read convs (CPU) to the network's device and dtype.
absl::Status MoveTo(SpanNet::Params* p, torch::Device device, torch::ScalarType dtype) {
  const auto move = [&](Conv2d& c) {
    c.weight = c.weight.to(device, dtype).contiguous();
    c.bias = c.bias.to(device, dtype).contiguous();
  };
  try {
    move(p->conv_1);
    move(p->conv_2);
    move(p->conv_cat);
    move(p->upsampler);
    for (SpanNet::Spab& block : p->blocks) {
      for (Conv2d& conv : block) move(conv);
    }
    p->mean = p->mean.to(device, dtype);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("cannot move SPAN weights to ", device.str(), ": ",
                                            e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

}  // namespace

std::string SpanConfig::ToString() const {
  return absl::StrCat("SPAN(num_feat=", num_feat, norm ? "" : ", norm=false", ", scale=", scale, ")");
}

absl::StatusOr<SpanConfig> DetectSpan(const TensorMap& weights, absl::string_view source) {
  WeightReader reader(weights, source, "SPAN");
  SpanConfig config;
  SpanNet::Params params;
  RETURN_IF_ERROR(Read(reader, &config, &params));
  return config;
}

absl::StatusOr<std::unique_ptr<SpanNet>> SpanNet::Create(const TensorMap& weights, absl::string_view source,
                                                         torch::Device device, torch::ScalarType dtype) {
  // Read on the CPU (the fusion runs there in float64), then move.
  WeightReader reader(weights, source, "SPAN");
  SpanConfig config;
  Params params;
  RETURN_IF_ERROR(Read(reader, &config, &params));
  RETURN_IF_ERROR(MoveTo(&params, device, dtype));
  return std::unique_ptr<SpanNet>(new SpanNet(config, std::move(params), device, dtype));
}

torch::Tensor SpanNet::Forward(const torch::Tensor& x) const {
  const Params& p = params_;
  const torch::Tensor in = config_.norm ? (x - p.mean) * kImageRange : x;
  const torch::Tensor feat = p.conv_1(in);
  torch::Tensor out = feat, b1, last_first;
  for (int i = 0; i < kBlocks; ++i) {
    const Spab& block = p.blocks[i];
    const torch::Tensor o1 = block[0](out);
    const torch::Tensor o3 = block[2](at::silu(block[1](at::silu(o1))));
    out = (o3 + out) * (at::sigmoid(o3) - 0.5);
    if (i == 0) b1 = out;
    if (i == kBlocks - 1) last_first = o1;
  }
  out = p.conv_cat(at::cat({feat, p.conv_2(out), b1, last_first}, 1));
  return at::pixel_shuffle(p.upsampler(out), config_.scale);
}

}  // namespace anifarm::engine
