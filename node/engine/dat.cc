#include "node/engine/dat.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "node/engine/weight_reader.h"

namespace anifarm::engine {
namespace {

constexpr float kMean[3] = {0.4488f, 0.4371f, 0.4040f};
constexpr double kLayerNormEps = 1e-5;  // nn.LayerNorm
constexpr double kBatchNormEps = 1e-5;  // nn.BatchNorm2d
constexpr double kNormalizeEps = 1e-12;  // F.normalize
constexpr double kMaskedLogit = -100.0;  // what the shifted windows add between regions
constexpr double kBodyLeakySlope = 0.2;  // 3conv
constexpr double kUpsampleLeakySlope = 0.01;  // nn.LeakyReLU() before the upsampler
// Frame pixels a tile takes around itself, at least (rounded up to whole
// windows): the windows of the blocks near the output reach this far.
constexpr int kMinTileContext = 16;

using Shape = std::vector<int64_t>;

// Reads in float64 on the CPU (folding and the position MLP add no rounding
// of their own there) and stores fp32 on the network's device.
class Loader {
 public:
  Loader(WeightReader& r, torch::Device device) : r_(r), device_(device) {}

  WeightReader& reader() { return r_; }
  torch::Tensor Store(const torch::Tensor& t) const { return t.to(device_, torch::kFloat32).contiguous(); }

  absl::StatusOr<torch::Tensor> Get(const std::string& name, const Shape& shape) { return r_.Get(name, shape); }

  absl::StatusOr<DatNet::Linear> ReadLinear(const std::string& name, int64_t out, int64_t in, bool bias = true) {
    DatNet::Linear l;
    ASSIGN_OR_RETURN(torch::Tensor w, r_.Get(name + ".weight", {out, in}));
    l.weight = Store(w);
    if (bias) {
      ASSIGN_OR_RETURN(torch::Tensor b, r_.Get(name + ".bias", {out}));
      l.bias = Store(b);
    }
    return l;
  }

  absl::StatusOr<DatNet::Norm> ReadNorm(const std::string& name, int64_t c) {
    DatNet::Norm n;
    ASSIGN_OR_RETURN(torch::Tensor w, r_.Get(name + ".weight", {c}));
    ASSIGN_OR_RETURN(torch::Tensor b, r_.Get(name + ".bias", {c}));
    n.weight = Store(w);
    n.bias = Store(b);
    return n;
  }

  // A k x k conv (with bias) from `in` to `out` channels.
  absl::StatusOr<Conv2d> ReadConv(const std::string& name, int64_t out, int64_t in, int64_t k, int64_t groups = 1) {
    Conv2d conv;
    conv.groups = groups;
    ASSIGN_OR_RETURN(torch::Tensor w, r_.Get(name + ".weight", {out, in / groups, k, k}));
    ASSIGN_OR_RETURN(torch::Tensor b, r_.Get(name + ".bias", {out}));
    conv.weight = Store(w);
    conv.bias = Store(b);
    return conv;
  }

  // Conv `name` followed by BatchNorm `bn` (eval: running statistics), as
  // one conv: W·s, (b - mean)·s + beta with s = gamma / sqrt(var + eps).
  absl::StatusOr<Conv2d> ReadConvBn(const std::string& name, const std::string& bn, int64_t out, int64_t in,
                                    int64_t k, int64_t groups = 1) {
    ASSIGN_OR_RETURN(torch::Tensor w, r_.Get(name + ".weight", {out, in / groups, k, k}));
    ASSIGN_OR_RETURN(torch::Tensor b, r_.Get(name + ".bias", {out}));
    ASSIGN_OR_RETURN(torch::Tensor gamma, r_.Get(bn + ".weight", {out}));
    ASSIGN_OR_RETURN(torch::Tensor beta, r_.Get(bn + ".bias", {out}));
    ASSIGN_OR_RETURN(torch::Tensor mean, r_.Get(bn + ".running_mean", {out}));
    ASSIGN_OR_RETURN(torch::Tensor var, r_.Get(bn + ".running_var", {out}));
    const torch::Tensor s = gamma / (var + kBatchNormEps).sqrt();
    Conv2d conv;
    conv.groups = groups;
    conv.weight = Store(w * s.view({-1, 1, 1, 1}));
    conv.bias = Store((b - mean) * s + beta);
    return conv;
  }

  // 1conv: one 3x3; 3conv: 3x3 to C/4, 1x1, 3x3 back (at .0, .2, .4).
  absl::StatusOr<std::vector<Conv2d>> ReadResidualConv(const std::string& name, int64_t c, bool three_conv) {
    std::vector<Conv2d> convs;
    if (!three_conv) {
      ASSIGN_OR_RETURN(Conv2d conv, ReadConv(name, c, c, 3));
      convs.push_back(std::move(conv));
      return convs;
    }
    ASSIGN_OR_RETURN(Conv2d c0, ReadConv(name + ".0", c / 4, c, 3));
    ASSIGN_OR_RETURN(Conv2d c2, ReadConv(name + ".2", c / 4, c / 4, 1));
    ASSIGN_OR_RETURN(Conv2d c4, ReadConv(name + ".4", c, c / 4, 3));
    convs = {std::move(c0), std::move(c2), std::move(c4)};
    return convs;
  }

 private:
  WeightReader& r_;
  const torch::Device device_;
};

// The window offsets (dh, dw) of an hs x ws window, dh major, as float64
// [(2hs-1)(2ws-1), 2]: the rows of DAT's "rpe_biases" buffer.
torch::Tensor WindowOffsets(int64_t hs, int64_t ws) {
  std::vector<double> rows;
  for (int64_t dh = 1 - hs; dh < hs; ++dh) {
    for (int64_t dw = 1 - ws; dw < ws; ++dw) {
      rows.push_back(static_cast<double>(dh));
      rows.push_back(static_cast<double>(dw));
    }
  }
  return torch::tensor(rows, torch::kFloat64).view({-1, 2});
}

// The position bias of one window branch, [heads, N, N] with N = hs·ws:
// the "pos" MLP (pos_proj, then three LayerNorm → ReLU → Linear stages) on
// every offset, then for pixels a = (ya, xa) and b = (yb, xb) the row of
// offset (ya - yb, xa - xb).
absl::StatusOr<torch::Tensor> ReadPositionBias(Loader& l, const std::string& name, int64_t hs, int64_t ws,
                                               int64_t heads, int64_t pos_dim) {
  WeightReader& r = l.reader();
  const torch::Tensor offsets = WindowOffsets(hs, ws);
  const int64_t rows = offsets.size(0), n = hs * ws;
  // The saved buffers are recomputed; present ones must agree (a mismatch
  // means a window size this reading of the file got wrong).
  if (r.Has(name + ".rpe_biases")) {
    ASSIGN_OR_RETURN(torch::Tensor saved, r.Get(name + ".rpe_biases", {rows, 2}));
    if (!at::equal(saved, offsets)) {
      return r.Error(absl::StrCat(name, ".rpe_biases does not hold the offsets of a ", hs, "x", ws, " window"));
    }
  }
  const Shape index_shape = r.Shape(name + ".relative_position_index");
  if (!index_shape.empty() && index_shape != Shape{n, n}) {
    return r.Error(absl::StrCat(name, ".relative_position_index has shape [", absl::StrJoin(index_shape, ","),
                                "], expected [", n, ",", n, "]"));
  }
  const std::string pos = name + ".pos.";
  ASSIGN_OR_RETURN(torch::Tensor proj_w, r.Get(pos + "pos_proj.weight", {pos_dim, 2}));
  ASSIGN_OR_RETURN(torch::Tensor proj_b, r.Get(pos + "pos_proj.bias", {pos_dim}));
  torch::Tensor t = at::linear(offsets, proj_w, proj_b);
  for (const char* stage : {"pos1", "pos2", "pos3"}) {
    const std::string p = absl::StrCat(pos, stage, ".");
    const int64_t out = std::string(stage) == "pos3" ? heads : pos_dim;
    ASSIGN_OR_RETURN(torch::Tensor norm_w, r.Get(p + "0.weight", {pos_dim}));
    ASSIGN_OR_RETURN(torch::Tensor norm_b, r.Get(p + "0.bias", {pos_dim}));
    ASSIGN_OR_RETURN(torch::Tensor lin_w, r.Get(p + "2.weight", {out, pos_dim}));
    ASSIGN_OR_RETURN(torch::Tensor lin_b, r.Get(p + "2.bias", {out}));
    t = at::linear(at::relu(at::layer_norm(t, {pos_dim}, norm_w, norm_b, kLayerNormEps)), lin_w, lin_b);
  }
  const torch::Tensor y = torch::arange(hs, torch::kLong).repeat_interleave(ws);  // row of pixel i = y·ws + x
  const torch::Tensor x = torch::arange(ws, torch::kLong).repeat({hs});
  const torch::Tensor index =
      (y.unsqueeze(1) - y.unsqueeze(0) + (hs - 1)) * (2 * ws - 1) + (x.unsqueeze(1) - x.unsqueeze(0) + (ws - 1));
  return l.Store(t.index_select(0, index.flatten()).view({n, n, heads}).permute({2, 0, 1}));
}

absl::StatusOr<DatNet::Interaction> ReadInteraction(Loader& l, const std::string& name, int64_t c) {
  DatNet::Interaction m;
  ASSIGN_OR_RETURN(m.dwconv, l.ReadConvBn(name + ".dwconv.0", name + ".dwconv.1", c, c, 3, c));
  ASSIGN_OR_RETURN(m.channel_reduce, l.ReadConvBn(name + ".channel_interaction.1",
                                                  name + ".channel_interaction.2", c / 8, c, 1));
  ASSIGN_OR_RETURN(m.channel_expand, l.ReadConv(name + ".channel_interaction.4", c, c / 8, 1));
  ASSIGN_OR_RETURN(m.spatial_reduce, l.ReadConvBn(name + ".spatial_interaction.0",
                                                  name + ".spatial_interaction.1", c / 16, c, 1));
  ASSIGN_OR_RETURN(m.spatial_expand, l.ReadConv(name + ".spatial_interaction.3", 1, c / 16, 1));
  return m;
}

bool IsShifted(int group, int block) {
  // Spandrel's schedule: the windows of every other spatial block are
  // shifted, starting at block 2 in even groups and block 0 in odd ones.
  return group % 2 == 0 ? block % 4 == 2 : block % 4 == 0;
}

absl::StatusOr<DatNet::Block> ReadBlock(Loader& l, const DatConfig& c, int group, int index) {
  WeightReader& r = l.reader();
  const std::string name = absl::StrCat("layers.", group, ".blocks.", index);
  const int64_t dim = c.embed_dim;
  DatNet::Block b;
  b.spatial = index % 2 == 0;
  b.shifted = b.spatial && IsShifted(group, index);
  b.heads = c.num_heads[group];
  ASSIGN_OR_RETURN(b.norm1, l.ReadNorm(name + ".norm1", dim));
  ASSIGN_OR_RETURN(b.qkv, l.ReadLinear(name + ".attn.qkv", 3 * dim, dim, c.qkv_bias));
  ASSIGN_OR_RETURN(b.proj, l.ReadLinear(name + ".attn.proj", dim, dim));
  if (b.spatial) {
    const int64_t pos_dim = dim / 2 / 4 / 4;
    const int64_t s0 = c.split_size[0], s1 = c.split_size[1];
    ASSIGN_OR_RETURN(b.position[0], ReadPositionBias(l, name + ".attn.attns.0", s0, s1, b.heads / 2, pos_dim));
    ASSIGN_OR_RETURN(b.position[1], ReadPositionBias(l, name + ".attn.attns.1", s1, s0, b.heads / 2, pos_dim));
    // Masks saved for the training frame size; they are made per frame.
    for (const char* mask : {".attn.attn_mask_0", ".attn.attn_mask_1"}) {
      if (b.shifted) RETURN_IF_ERROR(r.Skip(name + mask, {WeightReader::kAny, s0 * s1, s0 * s1}));
    }
  } else {
    ASSIGN_OR_RETURN(torch::Tensor temperature, r.Get(name + ".attn.temperature", {b.heads, 1, 1}));
    b.temperature = l.Store(temperature);
  }
  ASSIGN_OR_RETURN(b.interaction, ReadInteraction(l, name + ".attn", dim));
  ASSIGN_OR_RETURN(b.norm2, l.ReadNorm(name + ".norm2", dim));
  const int64_t hidden = c.ffn_hidden, half = hidden / 2;
  ASSIGN_OR_RETURN(b.fc1, l.ReadLinear(name + ".ffn.fc1", hidden, dim));
  ASSIGN_OR_RETURN(b.gate_norm, l.ReadNorm(name + ".ffn.sg.norm", half));
  ASSIGN_OR_RETURN(b.gate_conv, l.ReadConv(name + ".ffn.sg.conv", half, half, 3, half));
  ASSIGN_OR_RETURN(b.fc2, l.ReadLinear(name + ".ffn.fc2", dim, half));
  return b;
}

// The hyper-parameters from key names and a few shapes, as Spandrel's loader
// finds them (the rest is checked while reading).
absl::StatusOr<DatConfig> DetectShape(const WeightReader& r) {
  DatConfig c;
  const Shape first = r.Shape("conv_first.weight");
  if (first.size() != 4 || first[2] != 3 || first[3] != 3) {
    return r.Error(first.empty() ? "missing key conv_first.weight" : "conv_first.weight is not a 3x3 conv");
  }
  if (first[1] != 3) return r.Error(absl::StrCat("conv_first takes ", first[1], " channels; only RGB (3) runs"));
  c.embed_dim = static_cast<int>(first[0]);
  // The position MLP is (C/2)/4/4 wide; C/16 and C/8 channels in the
  // interaction maps; the spatial branches split C in two.
  if (c.embed_dim < 32 || c.embed_dim % 2 != 0) {
    return r.Error(absl::StrCat("embed_dim ", c.embed_dim, " is odd or too small for DAT (at least 32)"));
  }
  const int groups = r.SequenceLength("layers");
  if (groups == 0) return r.Error("no residual groups layers.N.blocks.M");
  for (int g = 0; g < groups; ++g) {
    const std::string group = absl::StrCat("layers.", g);
    const int depth = r.SequenceLength(group + ".blocks");
    if (depth == 0) return r.Error(absl::StrCat("no blocks in ", group, ".blocks"));
    c.depth.push_back(depth);
    // Block 1 (channel attention) has one temperature per head; a group of
    // one block only tells heads/2, from its position MLP's outputs.
    const Shape temperature = r.Shape(group + ".blocks.1.attn.temperature");
    const Shape pos3 = r.Shape(group + ".blocks.0.attn.attns.0.pos.pos3.2.weight");
    int heads = 0;
    if (depth >= 2 && !temperature.empty()) heads = static_cast<int>(temperature[0]);
    if (depth == 1 && !pos3.empty()) heads = static_cast<int>(pos3[0]) * 2;
    if (heads == 0) {
      return r.Error(absl::StrCat("missing key ", group,
                                  depth >= 2 ? ".blocks.1.attn.temperature" : ".blocks.0.attn.attns.0.pos.pos3.2.weight",
                                  " (the head count)"));
    }
    if (heads < 2 || c.embed_dim % heads != 0 || (c.embed_dim / 2) % (heads / 2) != 0) {
      return r.Error(absl::StrCat(heads, " heads in ", group, " do not split embed_dim ", c.embed_dim));
    }
    c.num_heads.push_back(heads);
  }
  return c;
}

// Split size, FFN width, qkv bias, residual conv kind and upsampler.
absl::Status DetectRest(const WeightReader& r, const TensorMap& weights, DatConfig* c) {
  // The split size is saved in the offsets buffer: its last row is
  // (split[0] - 1, split[1] - 1).
  const torch::Tensor* rpe = FindTensor(weights, "layers.0.blocks.0.attn.attns.0.rpe_biases");
  if (rpe == nullptr) return r.Error("missing key layers.0.blocks.0.attn.attns.0.rpe_biases (the window size)");
  if (rpe->dim() != 2 || rpe->size(1) != 2 || rpe->size(0) < 1 || !rpe->is_floating_point()) {
    return r.Error("layers.0.blocks.0.attn.attns.0.rpe_biases is not a [rows, 2] offset table");
  }
  const torch::Tensor last = (*rpe)[rpe->size(0) - 1].to(torch::kFloat64);
  for (int i = 0; i < 2; ++i) {
    const double v = last[i].item<double>();
    if (!(v >= 0 && v < 256 && v == std::floor(v))) {
      return r.Error("layers.0.blocks.0.attn.attns.0.rpe_biases does not end with a window's last offset");
    }
    c->split_size[i] = static_cast<int>(v) + 1;
  }
  const int lo = std::min(c->split_size[0], c->split_size[1]), hi = std::max(c->split_size[0], c->split_size[1]);
  if (hi % lo != 0) {
    // Frames are padded to multiples of the larger side only.
    return r.Error(absl::StrCat("split_size [", c->split_size[0], ",", c->split_size[1],
                                "]: the larger side must be a multiple of the smaller"));
  }
  const Shape fc1 = r.Shape("layers.0.blocks.0.ffn.fc1.weight");
  if (fc1.size() != 2 || fc1[0] % 2 != 0) {
    return r.Error("layers.0.blocks.0.ffn.fc1.weight is missing or not an even-width Linear");
  }
  c->ffn_hidden = static_cast<int>(fc1[0]);
  c->qkv_bias = r.Has("layers.0.blocks.0.attn.qkv.bias");
  c->three_conv = !r.Has("conv_after_body.weight");
  if (c->three_conv && !r.Has("conv_after_body.0.weight")) {
    return r.Error("missing key conv_after_body.weight (1conv) or conv_after_body.0.weight (3conv)");
  }
  // Spandrel tells the upsamplers apart by conv_last; conv_before_upsample
  // also marks pixelshuffle, so a file missing conv_last is named as such.
  c->pixelshuffle_direct = !r.Has("conv_last.weight") && !r.Has("conv_before_upsample.0.weight");
  if (c->pixelshuffle_direct) {
    const Shape up = r.Shape("upsample.0.weight");
    if (up.size() != 4) return r.Error("missing key conv_last.weight (pixelshuffle) or upsample.0.weight (pixelshuffledirect)");
    const int s = static_cast<int>(std::lround(std::sqrt(static_cast<double>(up[0]) / 3)));
    if (s < 1 || 3 * s * s != up[0]) {
      return r.Error(absl::StrCat("upsample.0.weight has ", up[0], " output channels, expected 3·scale²"));
    }
    c->scale = s;
    return absl::OkStatus();
  }
  const Shape before = r.Shape("conv_before_upsample.0.weight");
  if (before.size() != 4) return r.Error("missing key conv_before_upsample.0.weight");
  c->num_feat = static_cast<int>(before[0]);
  c->scale = 1;
  for (int i = 0; r.Has(absl::StrCat("upsample.", 2 * i, ".weight")); ++i) {
    const Shape up = r.Shape(absl::StrCat("upsample.", 2 * i, ".weight"));
    const int64_t ratio = up.empty() ? 0 : up[0] / c->num_feat;
    if (up.size() != 4 || up[0] % c->num_feat != 0 || (ratio != 4 && ratio != 9)) {
      return r.Error(absl::StrCat("upsample.", 2 * i, ".weight is not a conv to 4 or 9 times ", c->num_feat,
                                  " channels"));
    }
    c->upsample_steps.push_back(ratio == 4 ? 2 : 3);
    c->scale *= c->upsample_steps.back();
  }
  if (c->upsample_steps.empty()) return r.Error("missing key upsample.0.weight");
  return absl::OkStatus();
}

absl::Status Read(WeightReader& r, const TensorMap& weights, torch::Device device, DatConfig* config,
                  DatNet::Params* p) {
  ASSIGN_OR_RETURN(*config, DetectShape(r));
  RETURN_IF_ERROR(DetectRest(r, weights, config));
  const DatConfig& c = *config;
  const int64_t dim = c.embed_dim;
  // Integer buffers: BatchNorm's step counter (unused in eval) and the
  // index tables (shape-checked and recomputed in ReadPositionBias).
  r.IgnoreKeysEndingWith(".num_batches_tracked");
  r.IgnoreKeysEndingWith(".relative_position_index");
  Loader l(r, device);
  ASSIGN_OR_RETURN(p->conv_first, l.ReadConv("conv_first", dim, 3, 3));
  ASSIGN_OR_RETURN(p->before_rg, l.ReadNorm("before_RG.1", dim));
  for (size_t g = 0; g < c.depth.size(); ++g) {
    DatNet::Group group;
    for (int b = 0; b < c.depth[g]; ++b) {
      ASSIGN_OR_RETURN(DatNet::Block block, ReadBlock(l, c, static_cast<int>(g), b));
      group.blocks.push_back(std::move(block));
    }
    ASSIGN_OR_RETURN(group.conv, l.ReadResidualConv(absl::StrCat("layers.", g, ".conv"), dim, c.three_conv));
    p->groups.push_back(std::move(group));
  }
  ASSIGN_OR_RETURN(p->norm, l.ReadNorm("norm", dim));
  ASSIGN_OR_RETURN(p->conv_after_body, l.ReadResidualConv("conv_after_body", dim, c.three_conv));
  if (c.pixelshuffle_direct) {
    ASSIGN_OR_RETURN(Conv2d up, l.ReadConv("upsample.0", 3 * c.scale * c.scale, dim, 3));
    p->upsample.push_back(std::move(up));
  } else {
    const int64_t nf = c.num_feat;
    ASSIGN_OR_RETURN(p->conv_before_upsample, l.ReadConv("conv_before_upsample.0", nf, dim, 3));
    for (size_t i = 0; i < c.upsample_steps.size(); ++i) {
      const int64_t r2 = c.upsample_steps[i] * c.upsample_steps[i];
      ASSIGN_OR_RETURN(Conv2d up, l.ReadConv(absl::StrCat("upsample.", 2 * i), r2 * nf, nf, 3));
      p->upsample.push_back(std::move(up));
    }
    ASSIGN_OR_RETURN(p->conv_last, l.ReadConv("conv_last", 3, nf, 3));
  }
  p->mean = l.Store(torch::tensor({kMean[0], kMean[1], kMean[2]}).view({1, 3, 1, 1}));
  return r.CheckAllRead();
}

absl::Status ReadCaught(WeightReader& r, const TensorMap& weights, torch::Device device, DatConfig* config,
                        DatNet::Params* p) {
  try {
    return Read(r, weights, device, config, p);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("cannot load DAT weights on ", device.str(), ": ",
                                            e.what_without_backtrace()));
  }
}

// Row (or column) labels of the three regions of a rolled frame side n,
// by the slices DAT takes from Swin, in order, a later one overwriting:
// [0, -split), [-split, -shift), [-shift, end), Python's negative indices
// (so a shift of 0 makes the last slice the whole side).
std::vector<int64_t> RegionLabels(int64_t n, int64_t split, int64_t shift) {
  const auto at = [n](int64_t v) { return std::clamp(v < 0 ? n + v : v, int64_t{0}, n); };
  const std::array<std::pair<int64_t, int64_t>, 3> slices = {
      std::pair{int64_t{0}, at(-split)}, std::pair{at(-split), at(-shift)}, std::pair{at(-shift), n}};
  std::vector<int64_t> labels(n, 0);
  for (int64_t region = 0; region < 3; ++region) {
    for (int64_t i = slices[region].first; i < slices[region].second; ++i) labels[i] = region;
  }
  return labels;
}

// [windows, N, N]: 0 between pixels of one region of the rolled frame,
// kMaskedLogit between regions (windows in raster order). Only the labels
// (one per pixel) are made on the host; the mask, as large as one head's
// attention, is made on the device.
torch::Tensor ShiftMask(int64_t h, int64_t w, int64_t hs, int64_t ws, const torch::TensorOptions& options) {
  const std::vector<int64_t> rows = RegionLabels(h, hs, hs / 2), cols = RegionLabels(w, ws, ws / 2);
  const torch::Tensor label =
      (torch::tensor(rows).unsqueeze(1) * 3 + torch::tensor(cols).unsqueeze(0)).to(options.device());
  const torch::Tensor windows = label.view({h / hs, hs, w / ws, ws}).permute({0, 2, 1, 3}).reshape({-1, hs * ws});
  const torch::Tensor differ = windows.unsqueeze(2) != windows.unsqueeze(1);
  return differ.to(options.dtype()).mul_(kMaskedLogit);
}

torch::Tensor LayerNorm(const torch::Tensor& x, const DatNet::Norm& n) {
  return at::layer_norm(x, {x.size(-1)}, n.weight, n.bias, kLayerNormEps);
}

torch::Tensor ApplyLinear(const torch::Tensor& x, const DatNet::Linear& l) { return at::linear(x, l.weight, l.bias); }

// [N, C, H, W] ↔ [N, H, W, C].
torch::Tensor ToChannelsLast(const torch::Tensor& x) { return x.permute({0, 2, 3, 1}); }
torch::Tensor ToChannelsFirst(const torch::Tensor& x) { return x.permute({0, 3, 1, 2}); }

torch::Tensor ApplyResidualConv(const torch::Tensor& x, const std::vector<Conv2d>& convs) {
  if (convs.size() == 1) return convs[0](x);
  torch::Tensor t = at::leaky_relu(convs[0](x), kBodyLeakySlope);
  t = at::leaky_relu(convs[1](t), kBodyLeakySlope);
  return convs[2](t);
}

// The conv branch on v ([N, C, H, W]) mixed with the attention output
// ([N, H, W, C]): the spatial block gates the attention by a channel map of
// the conv branch and the conv branch by a spatial map of the attention;
// the channel block the other way round. The channel map pools over the
// frame (a frame statistic when tiled). Returns [N, H, W, C].
torch::Tensor Interact(const DatNet::Interaction& m, const torch::Tensor& v, const torch::Tensor& attention,
                       bool spatial, FrameStats* stats, const FeaturePlacement& place) {
  const torch::Tensor conv = at::gelu(m.dwconv(v));
  const torch::Tensor attn = ToChannelsFirst(attention);
  const torch::Tensor& channel_source = spatial ? conv : attn;
  const torch::Tensor& spatial_source = spatial ? attn : conv;
  const torch::Tensor channel_map = at::sigmoid(
      m.channel_expand(at::gelu(m.channel_reduce(FrameMean(channel_source, stats, place)))));
  const torch::Tensor spatial_map = at::sigmoid(m.spatial_expand(at::gelu(m.spatial_reduce(spatial_source))));
  const torch::Tensor out =
      spatial ? attn * channel_map + spatial_map * conv : attn * spatial_map + conv * channel_map;
  return ToChannelsLast(out);
}

// The channel attention's logits q̂·k̂ᵀ, q̂ and k̂ L2-normalised over the
// pixels, are sums over the pixels (Σ q², Σ k², Σ q kᵀ), so a tiled pass
// collects them over the tiles' cores and uses the frame's.
torch::Tensor ChannelAttention(const torch::Tensor& t, const DatNet::Block& b, FrameStats* stats,
                               const FeaturePlacement& place) {
  const int64_t n = t.size(0), h = t.size(1), w = t.size(2), c = t.size(3), heads = b.heads, d = c / heads;
  const std::vector<torch::Tensor> qkv = ApplyLinear(t, b.qkv).chunk(3, -1);
  // Per head [N, heads, d, H·W]: each channel a vector over the pixels.
  const auto per_head = [&](const torch::Tensor& u) {
    return u.reshape({n, u.size(1) * u.size(2), heads, d}).permute({0, 2, 3, 1});
  };
  const FrameStats::Role role = stats != nullptr ? stats->Next() : FrameStats::Role::kLocal;
  torch::Tensor logits;
  if (role == FrameStats::Role::kUse) {
    const std::vector<torch::Tensor>& sums = stats->Frozen();  // Σq², Σk² [N, heads, d], Σ q kᵀ [N, heads, d, d]
    const torch::Tensor q_norm = sums[0].sqrt().clamp_min(kNormalizeEps).unsqueeze(-1);
    const torch::Tensor k_norm = sums[1].sqrt().clamp_min(kNormalizeEps).unsqueeze(-2);
    logits = (sums[2] / (q_norm * k_norm)).to(t.scalar_type());
  } else {
    if (role == FrameStats::Role::kCollect) {
      const auto core = [&](const torch::Tensor& u) {
        return per_head(ToChannelsLast(stats->Core(ToChannelsFirst(u), place))).to(torch::kFloat64);
      };
      const torch::Tensor q = core(qkv[0]), k = core(qkv[1]);
      stats->Add({q.square().sum(-1), k.square().sum(-1), at::matmul(q, k.transpose(-2, -1))});
    }
    const auto normalize = [](const torch::Tensor& u) {
      return u / u.norm(2, {-1}, /*keepdim=*/true).clamp_min(kNormalizeEps);
    };
    logits = at::matmul(normalize(per_head(qkv[0])), normalize(per_head(qkv[1])).transpose(-2, -1));
  }
  const torch::Tensor attn = at::softmax(logits * b.temperature, -1);
  const torch::Tensor out = at::matmul(attn, per_head(qkv[2])).permute({0, 3, 1, 2}).reshape({n, h, w, c});
  return ApplyLinear(Interact(b.interaction, ToChannelsFirst(qkv[2]), out, /*spatial=*/false, stats, place),
                     b.proj);
}

torch::Tensor FeedForward(const torch::Tensor& t, const DatNet::Block& b) {
  const std::vector<torch::Tensor> halves = at::gelu(ApplyLinear(t, b.fc1)).chunk(2, -1);
  const torch::Tensor gate = ToChannelsLast(b.gate_conv(ToChannelsFirst(LayerNorm(halves[1], b.gate_norm))));
  return ApplyLinear(halves[0] * gate, b.fc2);
}

}  // namespace

std::string DatConfig::ToString() const {
  std::string out = absl::StrCat("DAT(embed_dim=", embed_dim, ", depth=[", absl::StrJoin(depth, ","),
                                 "], num_heads=[", absl::StrJoin(num_heads, ","), "], split_size=[", split_size[0],
                                 ",", split_size[1], "], expansion_factor=", expansion_factor());
  if (!qkv_bias) absl::StrAppend(&out, ", qkv_bias=false");
  absl::StrAppend(&out, ", resi_connection=", three_conv ? "3conv" : "1conv");
  if (pixelshuffle_direct) {
    absl::StrAppend(&out, ", upsampler=pixelshuffledirect");
  } else {
    absl::StrAppend(&out, ", upsampler=pixelshuffle, num_feat=", num_feat);
  }
  absl::StrAppend(&out, ", scale=", scale, ")");
  return out;
}

absl::StatusOr<DatConfig> DetectDat(const TensorMap& weights, absl::string_view source) {
  WeightReader reader(weights, source, "DAT", torch::kCPU, torch::kFloat64);
  DatConfig config;
  DatNet::Params params;
  RETURN_IF_ERROR(ReadCaught(reader, weights, torch::kCPU, &config, &params));
  return config;
}

absl::StatusOr<std::unique_ptr<DatNet>> DatNet::Create(const TensorMap& weights, absl::string_view source,
                                                       torch::Device device, torch::ScalarType dtype) {
  (void)dtype;  // fp32 whatever is asked: see kDatFp32OnlyReason
  WeightReader reader(weights, source, "DAT", torch::kCPU, torch::kFloat64);
  DatConfig config;
  Params params;
  RETURN_IF_ERROR(ReadCaught(reader, weights, device, &config, &params));
  return std::unique_ptr<DatNet>(new DatNet(std::move(config), std::move(params), device));
}

torch::Tensor DatNet::WindowAttention(const torch::Tensor& q_in, const torch::Tensor& k_in,
                                      const torch::Tensor& v_in, int64_t hs, int64_t ws, int64_t heads,
                                      const torch::Tensor& position, bool shifted) const {
  const int64_t n = q_in.size(0), h = q_in.size(1), w = q_in.size(2), c = q_in.size(3);
  const int64_t gh = h / hs, gw = w / ws, tokens = hs * ws, d = c / heads;
  const int64_t sh = hs / 2, sw = ws / 2;
  const auto roll = [&](const torch::Tensor& t, int64_t sign) {
    return shifted ? at::roll(t, {sign * sh, sign * sw}, {1, 2}) : t;
  };
  // [N·windows, heads, tokens, d], windows in raster order, tokens row-major.
  const auto windows = [&](const torch::Tensor& t) {
    return roll(t, -1).reshape({n, gh, hs, gw, ws, heads, d}).permute({0, 1, 3, 5, 2, 4, 6}).reshape(
        {n * gh * gw, heads, tokens, d});
  };
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  torch::Tensor attn = at::matmul(windows(q_in) * scale, windows(k_in).transpose(-2, -1)) + position;
  if (shifted) {
    const torch::Tensor mask = ShiftMask(h, w, hs, ws, attn.options());
    attn = (attn.view({n, gh * gw, heads, tokens, tokens}) + mask.unsqueeze(1)).view({-1, heads, tokens, tokens});
  }
  const torch::Tensor out = at::matmul(at::softmax(attn, -1), windows(v_in));
  return roll(out.view({n, gh, gw, heads, hs, ws, d}).permute({0, 1, 4, 2, 5, 3, 6}).reshape({n, h, w, c}), 1);
}

torch::Tensor DatNet::SpatialAttention(const torch::Tensor& t, const Block& b, FrameStats* stats,
                                       const FeaturePlacement& place) const {
  const int64_t h = t.size(1), w = t.size(2), c = t.size(3);
  const std::vector<torch::Tensor> qkv = ApplyLinear(t, b.qkv).chunk(3, -1);
  // q, k and v (after the Linear, so padded pixels are zero vectors, which
  // still take part in the attention) padded at the bottom and right to a
  // multiple of the larger window side.
  const int64_t m = std::max(config_.split_size[0], config_.split_size[1]);
  const int64_t ph = (m - h % m) % m, pw = (m - w % m) % m;
  const auto pad = [&](const torch::Tensor& u) {
    return ph > 0 || pw > 0 ? at::constant_pad_nd(u, {0, 0, 0, pw, 0, ph}, 0) : u;
  };
  const torch::Tensor q = pad(qkv[0]), k = pad(qkv[1]), v = pad(qkv[2]);
  const int64_t half = c / 2, s0 = config_.split_size[0], s1 = config_.split_size[1];
  const auto branch = [&](int i, int64_t hs, int64_t ws) {
    const int64_t from = i * half;
    const torch::Tensor out = WindowAttention(q.narrow(3, from, half), k.narrow(3, from, half),
                                              v.narrow(3, from, half), hs, ws, b.heads / 2, b.position[i], b.shifted);
    return out.slice(1, 0, h).slice(2, 0, w);
  };
  const torch::Tensor attention = at::cat({branch(0, s0, s1), branch(1, s1, s0)}, -1);
  return ApplyLinear(Interact(b.interaction, ToChannelsFirst(qkv[2]), attention, /*spatial=*/true, stats, place),
                     b.proj);
}

int DatNet::frame_statistics() const {
  int count = 0;
  for (const Group& group : params_.groups) {
    for (const Block& b : group.blocks) count += b.spatial ? 1 : 2;
  }
  return count;
}

int DatNet::tile_alignment() const { return std::max(config_.split_size[0], config_.split_size[1]); }

int DatNet::tile_context() const {
  const int m = tile_alignment();
  return (std::max(kMinTileContext, m) + m - 1) / m * m;
}

torch::Tensor DatNet::Forward(const torch::Tensor& x) const { return ForwardTile(x, Tile()); }

torch::Tensor DatNet::ForwardTile(const torch::Tensor& x, const Tile& tile) const {
  const Params& p = params_;
  const FeaturePlacement place = ContextPlacement(tile);
  const torch::Tensor feat = p.conv_first(x - p.mean);
  torch::Tensor t = LayerNorm(ToChannelsLast(feat), p.before_rg);
  for (const Group& group : p.groups) {
    const torch::Tensor res = t;
    for (const Block& b : group.blocks) {
      const torch::Tensor normed = LayerNorm(t, b.norm1);
      t = t + (b.spatial ? SpatialAttention(normed, b, tile.stats, place)
                         : ChannelAttention(normed, b, tile.stats, place));
      // The collected statistic was the last thing this pass needed.
      if (tile.stats != nullptr && tile.stats->Done()) return torch::Tensor();
      t = t + FeedForward(LayerNorm(t, b.norm2), b);
    }
    t = res + ToChannelsLast(ApplyResidualConv(ToChannelsFirst(t), group.conv));
  }
  const torch::Tensor body = ApplyResidualConv(ToChannelsFirst(LayerNorm(t, p.norm)), p.conv_after_body) + feat;
  torch::Tensor y;
  if (config_.pixelshuffle_direct) {
    y = at::pixel_shuffle(p.upsample[0](body), config_.scale);
  } else {
    y = at::leaky_relu(p.conv_before_upsample(body), kUpsampleLeakySlope);
    for (size_t i = 0; i < p.upsample.size(); ++i) y = at::pixel_shuffle(p.upsample[i](y), config_.upsample_steps[i]);
    y = p.conv_last(y);
  }
  return CropContext(y + p.mean, tile, config_.scale);
}

}  // namespace anifarm::engine
