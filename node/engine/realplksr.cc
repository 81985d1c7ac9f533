#include "node/engine/realplksr.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "node/engine/weight_reader.h"

namespace anifarm::engine {
namespace {

constexpr int kNormGroups = 4;
constexpr double kGroupNormEps = 1e-5;
constexpr double kLayerNormEps = 1e-6;

using Shape = std::vector<int64_t>;

absl::StatusOr<Conv2d> ReadConv(WeightReader& r, const std::string& name, int64_t out, int64_t in, int64_t k) {
  Conv2d conv;
  ASSIGN_OR_RETURN(conv.weight, r.Get(name + ".weight", {out, in, k, k}));
  ASSIGN_OR_RETURN(conv.bias, r.Get(name + ".bias", {out}));
  return conv;
}

absl::Status DetectShape(const WeightReader& r, RealPlksrConfig* c) {
  if (r.Has("to_img.init_pos") || r.Has("to_img.offset.weight")) {
    return r.Error("RealPLKSR with the DySample upsampler (to_img.*) is not supported yet");
  }
  if (r.Has("feats.1.channe_mixer.0.weight")) {
    return r.Error("this is the original PLKSR (feats.N.channe_mixer), not RealPLKSR; not supported yet");
  }
  const Shape first = r.Shape("feats.0.weight");
  if (first.size() != 4 || first[1] != 3 || first[2] != 3 || first[3] != 3) {
    return r.Error("feats.0.weight should be a 3x3 conv from 3 channels");
  }
  c->dim = static_cast<int>(first[0]);
  // feats = [conv, nb blocks, dropout, conv]: the dropout has no tensors.
  const int total = r.SequenceLength("feats");
  c->num_blocks = total - 3;
  if (c->num_blocks < 1) return r.Error("expected feats.0, PLK blocks, then the last conv");
  const std::string last = absl::StrCat("feats.", total - 1, ".weight");
  const Shape out = r.Shape(last);
  if (out.size() != 4) return r.Error(absl::StrCat(last, " should be the last conv"));
  const int s = static_cast<int>(std::lround(std::sqrt(static_cast<double>(out[0]) / 3)));
  if (s < 1 || 3 * s * s != out[0]) {
    return r.Error(absl::StrCat(last, " has ", out[0], " output channels, expected 3·scale²"));
  }
  c->scale = s;
  const Shape lk = r.Shape("feats.1.lk.conv.weight");
  if (lk.size() != 4 || lk[2] != lk[3] || lk[2] % 2 != 1 || lk[0] > c->dim) {
    return r.Error("feats.1.lk.conv.weight should be an odd square conv on part of the channels");
  }
  c->kernel_size = static_cast<int>(lk[2]);
  c->partial_dim = static_cast<int>(lk[0]);
  c->use_ea = r.Has("feats.1.attn.f.0.weight");
  c->layer_norm = r.Has("feats.1.layer_norm.weight");
  if (!c->layer_norm && c->dim % kNormGroups != 0) {
    return r.Error(absl::StrCat("dim ", c->dim, " does not split into ", kNormGroups, " GroupNorm groups"));
  }
  return absl::OkStatus();
}

absl::Status Read(WeightReader& r, RealPlksrConfig* c, RealPlksrNet::Params* p) {
  RETURN_IF_ERROR(DetectShape(r, c));
  const int64_t dim = c->dim, pdim = c->partial_dim;
  ASSIGN_OR_RETURN(p->first, ReadConv(r, "feats.0", dim, 3, 3));
  for (int n = 1; n <= c->num_blocks; ++n) {
    const std::string b = absl::StrCat("feats.", n, ".");
    RealPlksrNet::Block block;
    const std::string norm = b + (c->layer_norm ? "layer_norm" : "norm");
    ASSIGN_OR_RETURN(block.norm_weight, r.Get(norm + ".weight", {dim}));
    ASSIGN_OR_RETURN(block.norm_bias, r.Get(norm + ".bias", {dim}));
    ASSIGN_OR_RETURN(block.mixer_in, ReadConv(r, b + "channel_mixer.0", 2 * dim, dim, 3));
    ASSIGN_OR_RETURN(block.mixer_out, ReadConv(r, b + "channel_mixer.2", dim, 2 * dim, 3));
    ASSIGN_OR_RETURN(block.large_kernel, ReadConv(r, b + "lk.conv", pdim, pdim, c->kernel_size));
    if (c->use_ea) {
      ASSIGN_OR_RETURN(block.attention, ReadConv(r, b + "attn.f.0", dim, dim, 3));
    }
    ASSIGN_OR_RETURN(block.refine, ReadConv(r, b + "refine", dim, dim, 1));
    p->blocks.push_back(std::move(block));
  }
  ASSIGN_OR_RETURN(p->last, ReadConv(r, absl::StrCat("feats.", c->num_blocks + 2), 3 * c->scale * c->scale, dim, 3));
  return r.CheckAllRead();
}

}  // namespace

std::string RealPlksrConfig::ToString() const {
  return absl::StrCat("RealPLKSR(dim=", dim, ", n_blocks=", num_blocks, ", kernel_size=", kernel_size,
                      ", split_ratio=", absl::StrFormat("%g", static_cast<double>(partial_dim) / dim),
                      ", use_ea=", use_ea ? "true" : "false", ", norm=", layer_norm ? "layer" : "group",
                      ", scale=", scale, ")");
}

absl::StatusOr<RealPlksrConfig> DetectRealPlksr(const TensorMap& weights, absl::string_view source) {
  WeightReader reader(weights, source, "RealPLKSR");
  RealPlksrConfig config;
  RealPlksrNet::Params params;
  RETURN_IF_ERROR(Read(reader, &config, &params));
  return config;
}

absl::StatusOr<std::unique_ptr<RealPlksrNet>> RealPlksrNet::Create(const TensorMap& weights,
                                                                   absl::string_view source,
                                                                   torch::Device device,
                                                                   torch::ScalarType dtype) {
  WeightReader reader(weights, source, "RealPLKSR", device, dtype);
  RealPlksrConfig config;
  Params params;
  RETURN_IF_ERROR(Read(reader, &config, &params));
  return std::unique_ptr<RealPlksrNet>(new RealPlksrNet(config, std::move(params), device, dtype));
}

torch::Tensor RealPlksrNet::Forward(const torch::Tensor& x) const { return ForwardTile(x, Tile()); }

int RealPlksrNet::tile_context() const { return std::max(16, config_.kernel_size - 1); }

torch::Tensor RealPlksrNet::ForwardTile(const torch::Tensor& x, const Tile& tile) const {
  // Every convolution keeps the size: x is the tile with its context, whose
  // pixels take no part in the statistics and are cropped off the output.
  const FeaturePlacement place = ContextPlacement(tile);
  const int64_t pdim = config_.partial_dim, s = config_.scale;
  torch::Tensor t = params_.first(x);
  for (const Block& b : params_.blocks) {
    torch::Tensor u = config_.layer_norm ? ChannelLayerNorm(t, b.norm_weight, b.norm_bias, kLayerNormEps) : t;
    u = b.mixer_out(InFloatOnCpu(b.mixer_in(u), [](const torch::Tensor& v) { return at::mish(v); }));
    u = at::cat({b.large_kernel(u.slice(1, 0, pdim)), u.slice(1, pdim)}, 1);
    if (b.attention.weight.defined()) u = u * at::sigmoid(b.attention(u));
    u = b.refine(u);
    if (!config_.layer_norm) {
      u = FrameGroupNorm(u, kNormGroups, b.norm_weight, b.norm_bias, kGroupNormEps, tile.stats, place);
      // The collected statistic was the last thing this pass needed.
      if (tile.stats != nullptr && tile.stats->Done()) return torch::Tensor();
    }
    t = u + t;
  }
  t = params_.last(t) + x.repeat_interleave(s * s, 1);
  return CropContext(at::pixel_shuffle(t, s), tile, config_.scale);
}

}  // namespace anifarm::engine
