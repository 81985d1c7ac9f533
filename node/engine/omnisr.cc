#include "node/engine/omnisr.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "node/engine/weight_reader.h"

namespace anifarm::engine {
namespace {

constexpr int kHeads = 4;              // both attention kinds, fixed by the architecture
constexpr int kDefaultWindow = 8;      // Spandrel's, when there is no position table to tell
constexpr int64_t kMinEsaSide = 15;    // ESA: a stride-2 3x3 conv then a 7x7 max pool
constexpr double kLayerNormEps = 1e-5;     // nn.LayerNorm (attention)
constexpr double kLayerNorm2dEps = 1e-6;   // LayerNorm2d (feed-forward, channel attention)
constexpr double kNormalizeEps = 1e-12;    // F.normalize

using Shape = std::vector<int64_t>;

absl::StatusOr<Conv2d> ReadConv(WeightReader& r, const std::string& name, int64_t out, int64_t in, int64_t k,
                                bool bias, int64_t groups = 1) {
  Conv2d conv;
  conv.groups = groups;
  ASSIGN_OR_RETURN(conv.weight, r.Get(name + ".weight", {out, in / groups, k, k}));
  if (bias) {
    ASSIGN_OR_RETURN(conv.bias, r.Get(name + ".bias", {out}));
  }
  return conv;
}

absl::StatusOr<OmniSrNet::Norm> ReadNorm(WeightReader& r, const std::string& name, int64_t c) {
  OmniSrNet::Norm norm;
  ASSIGN_OR_RETURN(norm.weight, r.Get(name + ".weight", {c}));
  ASSIGN_OR_RETURN(norm.bias, r.Get(name + ".bias", {c}));
  return norm;
}

// rel_pos_bias.weight [(2w-1)², heads] → the bias added to the attention
// logits of one window, [heads, w², w²]: pixel a = (ia, ja) attending to
// b = (ib, jb) uses row (ia - ib + w - 1)·(2w - 1) + (ja - jb + w - 1).
torch::Tensor PositionBias(const torch::Tensor& table, int w) {
  const torch::Tensor pos = torch::arange(w, torch::TensorOptions().dtype(torch::kLong).device(table.device()));
  const torch::Tensor i = pos.repeat_interleave(w);  // row of pixel n = i·w + j
  const torch::Tensor j = pos.repeat({w});
  const torch::Tensor index = (i.unsqueeze(1) - i.unsqueeze(0) + (w - 1)) * (2 * w - 1) +
                              (j.unsqueeze(1) - j.unsqueeze(0) + (w - 1));
  return table.index_select(0, index.flatten()).view({w * w, w * w, -1}).permute({2, 0, 1}).contiguous();
}

absl::StatusOr<OmniSrNet::WindowAttention> ReadWindowAttention(WeightReader& r, const std::string& name,
                                                              const OmniSrConfig& c) {
  const int64_t nf = c.num_feat;
  OmniSrNet::WindowAttention a;
  ASSIGN_OR_RETURN(a.norm, ReadNorm(r, name + ".norm", nf));
  ASSIGN_OR_RETURN(a.qkv, r.Get(name + ".fn.to_qkv.weight", {3 * nf, nf}));
  ASSIGN_OR_RETURN(a.out, r.Get(name + ".fn.to_out.0.weight", {nf, nf}));
  if (c.position_bias) {
    const int64_t rows = (2 * c.window_size - 1) * (2 * c.window_size - 1);
    ASSIGN_OR_RETURN(torch::Tensor table, r.Get(name + ".fn.rel_pos_bias.weight", {rows, kHeads}));
    a.position = PositionBias(table, c.window_size);
  }
  return a;
}

absl::StatusOr<OmniSrNet::GatedFeedForward> ReadFeedForward(WeightReader& r, const std::string& name,
                                                            int64_t nf) {
  OmniSrNet::GatedFeedForward f;
  ASSIGN_OR_RETURN(f.norm, ReadNorm(r, name + ".norm", nf));
  ASSIGN_OR_RETURN(f.project_in, ReadConv(r, name + ".fn.project_in", 2 * nf, nf, 1, false));
  ASSIGN_OR_RETURN(f.depthwise, ReadConv(r, name + ".fn.dwconv", 2 * nf, 2 * nf, 3, false, 2 * nf));
  ASSIGN_OR_RETURN(f.project_out, ReadConv(r, name + ".fn.project_out", nf, nf, 1, false));
  return f;
}

absl::StatusOr<OmniSrNet::ChannelAttention> ReadChannelAttention(WeightReader& r, const std::string& name,
                                                                 int64_t nf) {
  OmniSrNet::ChannelAttention a;
  ASSIGN_OR_RETURN(a.norm, ReadNorm(r, name + ".norm", nf));
  ASSIGN_OR_RETURN(a.temperature, r.Get(name + ".fn.temperature", {kHeads, 1, 1}));
  ASSIGN_OR_RETURN(a.qkv, ReadConv(r, name + ".fn.qkv", 3 * nf, nf, 1, false));
  ASSIGN_OR_RETURN(a.depthwise, ReadConv(r, name + ".fn.qkv_dwconv", 3 * nf, 3 * nf, 3, false, 3 * nf));
  ASSIGN_OR_RETURN(a.project_out, ReadConv(r, name + ".fn.project_out", nf, nf, 1, false));
  return a;
}

absl::StatusOr<OmniSrNet::OsaBlock> ReadBlock(WeightReader& r, const std::string& name, const OmniSrConfig& c) {
  const int64_t nf = c.num_feat;
  const std::string l = name + ".layer.";
  OmniSrNet::OsaBlock b;
  // MBConv with expansion 1 and squeeze-excitation to C/4 (int(C·0.25)).
  ASSIGN_OR_RETURN(b.mbconv.expand, ReadConv(r, l + "0.fn.0", nf, nf, 1, true));
  ASSIGN_OR_RETURN(b.mbconv.depthwise, ReadConv(r, l + "0.fn.2", nf, nf, 3, true, nf));
  ASSIGN_OR_RETURN(b.mbconv.se_reduce, r.Get(l + "0.fn.4.gate.1.weight", {nf / 4, nf}));
  ASSIGN_OR_RETURN(b.mbconv.se_expand, r.Get(l + "0.fn.4.gate.3.weight", {nf, nf / 4}));
  ASSIGN_OR_RETURN(b.mbconv.project, ReadConv(r, l + "0.fn.5", nf, nf, 1, true));
  ASSIGN_OR_RETURN(b.block_attention, ReadWindowAttention(r, l + "2", c));
  ASSIGN_OR_RETURN(b.ffn1, ReadFeedForward(r, l + "4", nf));
  ASSIGN_OR_RETURN(b.channel_attention, ReadChannelAttention(r, l + "5", nf));
  ASSIGN_OR_RETURN(b.ffn2, ReadFeedForward(r, l + "6", nf));
  ASSIGN_OR_RETURN(b.grid_attention, ReadWindowAttention(r, l + "8", c));
  ASSIGN_OR_RETURN(b.ffn3, ReadFeedForward(r, l + "10", nf));
  ASSIGN_OR_RETURN(b.grid_channel_attention, ReadChannelAttention(r, l + "11", nf));
  ASSIGN_OR_RETURN(b.ffn4, ReadFeedForward(r, l + "12", nf));
  return b;
}

absl::StatusOr<OmniSrNet::Esa> ReadEsa(WeightReader& r, const std::string& name, int64_t nf) {
  const int64_t f = std::max<int64_t>(nf / 4, 16);
  OmniSrNet::Esa e;
  ASSIGN_OR_RETURN(e.conv1, ReadConv(r, name + ".conv1", f, nf, 1, true));
  ASSIGN_OR_RETURN(e.conv_f, ReadConv(r, name + ".conv_f", f, f, 1, true));
  ASSIGN_OR_RETURN(e.conv2, ReadConv(r, name + ".conv2", f, f, 3, true));
  ASSIGN_OR_RETURN(e.conv3, ReadConv(r, name + ".conv3", f, f, 3, true));
  ASSIGN_OR_RETURN(e.conv4, ReadConv(r, name + ".conv4", nf, f, 1, true));
  return e;
}

// The hyper-parameters from the key names and a few shapes (the rest is
// checked while reading).
absl::StatusOr<OmniSrConfig> DetectShape(const WeightReader& r) {
  OmniSrConfig c;
  const Shape input = r.Shape("input.weight");
  if (input.size() != 4 || input[1] != 3 || input[2] != 3 || input[3] != 3) {
    return r.Error("input.weight should be a 3x3 conv from 3 channels");
  }
  c.num_feat = static_cast<int>(input[0]);
  if (c.num_feat % kHeads != 0) return r.Error(absl::StrCat(c.num_feat, " features do not split into 4 heads"));
  c.bias = r.Has("input.bias");
  const Shape up = r.Shape("up.0.weight");
  if (up.empty()) return r.Error("missing key up.0.weight");
  const int s = static_cast<int>(std::lround(std::sqrt(static_cast<double>(up[0]) / 3)));
  if (s < 1 || 3 * s * s != up[0]) {
    return r.Error(absl::StrCat("up.0.weight has ", up[0], " output channels, expected 3·scale²"));
  }
  c.scale = s;
  c.res_num = r.SequenceLength("residual_layer");
  if (c.res_num == 0) return r.Error("no residual_layer.N groups");
  // Each group's nn.Sequential is the OSA blocks then one 1x1 conv.
  c.block_num = r.SequenceLength("residual_layer.0.residual_layer") - 1;
  if (c.block_num < 1) return r.Error("no OSA blocks in residual_layer.0.residual_layer");
  const Shape table = r.Shape("residual_layer.0.residual_layer.0.layer.2.fn.rel_pos_bias.weight");
  c.position_bias = !table.empty();
  c.window_size = kDefaultWindow;
  if (c.position_bias) {
    const int side = static_cast<int>(std::lround(std::sqrt(static_cast<double>(table[0]))));
    if (side * side != table[0] || side % 2 != 1) {
      return r.Error(absl::StrCat("rel_pos_bias has ", table[0], " rows, expected (2·window-1)²"));
    }
    c.window_size = (side + 1) / 2;
  }
  return c;
}

absl::Status Read(WeightReader& r, OmniSrConfig* config, OmniSrNet::Params* p) {
  ASSIGN_OR_RETURN(*config, DetectShape(r));
  const OmniSrConfig& c = *config;
  const int64_t nf = c.num_feat;
  r.IgnoreKeysEndingWith("total_ops");  // thop profiler counters, as Spandrel drops them
  r.IgnoreKeysEndingWith("total_params");
  ASSIGN_OR_RETURN(p->input, ReadConv(r, "input", nf, 3, 3, c.bias));
  ASSIGN_OR_RETURN(p->output, ReadConv(r, "output", nf, nf, 3, c.bias));
  ASSIGN_OR_RETURN(p->up, ReadConv(r, "up.0", 3 * c.scale * c.scale, nf, 3, c.bias));
  for (int g = 0; g < c.res_num; ++g) {
    const std::string group = absl::StrCat("residual_layer.", g);
    OmniSrNet::Group out;
    for (int b = 0; b < c.block_num; ++b) {
      ASSIGN_OR_RETURN(OmniSrNet::OsaBlock block,
                       ReadBlock(r, absl::StrCat(group, ".residual_layer.", b), c));
      out.blocks.push_back(std::move(block));
    }
    ASSIGN_OR_RETURN(out.conv, ReadConv(r, absl::StrCat(group, ".residual_layer.", c.block_num), nf, nf, 1, c.bias));
    ASSIGN_OR_RETURN(out.esa, ReadEsa(r, group + ".esa", nf));
    p->groups.push_back(std::move(out));
  }
  return r.CheckAllRead();
}

torch::Tensor ApplyEsa(const torch::Tensor& x, const OmniSrNet::Esa& e) {
  const torch::Tensor c1_ = e.conv1(x);
  const torch::Tensor c1 = at::conv2d(c1_, e.conv2.weight, e.conv2.bias, /*stride=*/at::IntArrayRef{2, 2},
                                     /*padding=*/at::IntArrayRef{0, 0});
  const torch::Tensor pooled = at::max_pool2d(c1, {7, 7}, {3, 3});
  const torch::Tensor c3 =
      at::upsample_bilinear2d(e.conv3(pooled), {x.size(2), x.size(3)}, /*align_corners=*/false);
  return x * at::sigmoid(e.conv4(c3 + e.conv_f(c1_)));
}

torch::Tensor ApplyMbConv(const torch::Tensor& x, const OmniSrNet::MbConv& m) {
  torch::Tensor t = at::gelu(m.depthwise(at::gelu(m.expand(x))));
  // Squeeze-excitation: per-channel gate from the frame's mean.
  torch::Tensor gate = at::silu(at::linear(t.mean({2, 3}), m.se_reduce));
  gate = at::sigmoid(at::linear(gate, m.se_expand));
  t = t * gate.unsqueeze(-1).unsqueeze(-1);
  return x + m.project(t);
}

torch::Tensor FeedForward(const torch::Tensor& x, const OmniSrNet::GatedFeedForward& f) {
  const torch::Tensor t =
      f.depthwise(f.project_in(ChannelLayerNorm(x, f.norm.weight, f.norm.bias, kLayerNorm2dEps)));
  const std::vector<torch::Tensor> halves = t.chunk(2, 1);
  return x + f.project_out(at::gelu(halves[0]) * halves[1]);
}

}  // namespace

std::string OmniSrConfig::ToString() const {
  return absl::StrCat("OmniSR(num_feat=", num_feat, ", res_num=", res_num, ", block_num=", block_num,
                      ", window_size=", window_size, position_bias ? "" : ", pe=false", ", scale=", scale, ")");
}

absl::StatusOr<OmniSrConfig> DetectOmniSr(const TensorMap& weights, absl::string_view source) {
  WeightReader reader(weights, source, "OmniSR");
  OmniSrConfig config;
  OmniSrNet::Params params;
  RETURN_IF_ERROR(Read(reader, &config, &params));
  return config;
}

absl::StatusOr<std::unique_ptr<OmniSrNet>> OmniSrNet::Create(const TensorMap& weights, absl::string_view source,
                                                             torch::Device device, torch::ScalarType dtype) {
  WeightReader reader(weights, source, "OmniSR", device, dtype);
  OmniSrConfig config;
  Params params;
  RETURN_IF_ERROR(Read(reader, &config, &params));
  return std::unique_ptr<OmniSrNet>(new OmniSrNet(config, std::move(params), device, dtype));
}

torch::Tensor OmniSrNet::ApplyWindowAttention(const torch::Tensor& x, const WindowAttention& a, bool grid) const {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t ws = config_.window_size, gh = h / ws, gw = w / ws;
  // To [windows, ws², C]: block window (x, y) is the ws×ws neighbours at
  // rows x·ws + w1; grid window (x, y) is the ws×ws pixels at rows
  // w1·gh + x and columns w2·gw + y, spread over the whole frame.
  const torch::Tensor windows = grid ? x.view({n, c, ws, gh, ws, gw}).permute({0, 3, 5, 2, 4, 1})
                                     : x.view({n, c, gh, ws, gw, ws}).permute({0, 2, 4, 3, 5, 1});
  const torch::Tensor t = at::layer_norm(windows.reshape({n * gh * gw, ws * ws, c}), {c}, a.norm.weight,
                                         a.norm.bias, kLayerNormEps);
  const int64_t b = t.size(0), head_dim = c / kHeads;
  const std::vector<torch::Tensor> qkv = at::linear(t, a.qkv).chunk(3, -1);
  const auto heads = [&](const torch::Tensor& u) { return u.view({b, ws * ws, kHeads, head_dim}).transpose(1, 2); };
  torch::Tensor sim = at::matmul(heads(qkv[0]) * (1.0 / std::sqrt(static_cast<double>(head_dim))),
                                 heads(qkv[1]).transpose(-2, -1));
  if (a.position.defined()) sim = sim + a.position;
  torch::Tensor out = at::matmul(at::softmax(sim, -1), heads(qkv[2]));
  out = at::linear(out.transpose(1, 2).reshape({b, ws * ws, c}), a.out).view({n, gh, gw, ws, ws, c});
  out = grid ? out.permute({0, 5, 3, 1, 4, 2}) : out.permute({0, 5, 1, 3, 2, 4});
  return x + out.reshape({n, c, h, w});
}

torch::Tensor OmniSrNet::ApplyChannelAttention(const torch::Tensor& x, const ChannelAttention& a,
                                               bool grid) const {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t ws = config_.window_size, gh = h / ws, gw = w / ws, head_dim = c / kHeads;
  const torch::Tensor normed = ChannelLayerNorm(x, a.norm.weight, a.norm.bias, kLayerNorm2dEps);
  const std::vector<torch::Tensor> qkv = a.depthwise(a.qkv(normed)).chunk(3, 1);
  // [N, head, d, gh, ws, gw, ws] → per patch (gh·gw of them) the ws² pixels
  // of each channel, or per grid phase (ws² of them) the gh·gw pixels.
  const auto split = [&](const torch::Tensor& u) {
    const torch::Tensor v = u.reshape({n, kHeads, head_dim, gh, ws, gw, ws});
    return grid ? v.permute({0, 4, 6, 1, 2, 3, 5}).reshape({n, ws * ws, kHeads, head_dim, gh * gw})
                : v.permute({0, 3, 5, 1, 2, 4, 6}).reshape({n, gh * gw, kHeads, head_dim, ws * ws});
  };
  const auto normalize = [](const torch::Tensor& u) {
    return u / u.norm(2, {-1}, /*keepdim=*/true).clamp_min(kNormalizeEps);
  };
  const torch::Tensor q = normalize(split(qkv[0])), k = normalize(split(qkv[1]));
  const torch::Tensor attn = at::softmax(at::matmul(q, k.transpose(-2, -1)) * a.temperature, -1);
  torch::Tensor out = at::matmul(attn, split(qkv[2]));
  out = grid ? out.view({n, ws, ws, kHeads, head_dim, gh, gw}).permute({0, 3, 4, 5, 1, 6, 2})
             : out.view({n, gh, gw, kHeads, head_dim, ws, ws}).permute({0, 3, 4, 1, 5, 2, 6});
  return x + a.project_out(out.reshape({n, c, h, w}));
}

torch::Tensor OmniSrNet::ApplyBlock(const torch::Tensor& x, const OsaBlock& b) const {
  torch::Tensor t = ApplyMbConv(x, b.mbconv);
  t = ApplyWindowAttention(t, b.block_attention, /*grid=*/false);
  t = FeedForward(t, b.ffn1);
  t = ApplyChannelAttention(t, b.channel_attention, /*grid=*/false);
  t = FeedForward(t, b.ffn2);
  t = ApplyWindowAttention(t, b.grid_attention, /*grid=*/true);
  t = FeedForward(t, b.ffn3);
  t = ApplyChannelAttention(t, b.grid_channel_attention, /*grid=*/true);
  return FeedForward(t, b.ffn4);
}

std::string OmniSrNet::whole_frame_reason() const {
  return "its grid attention mixes pixels across the whole frame";
}

torch::Tensor OmniSrNet::Forward(const torch::Tensor& x) const {
  const int64_t h = x.size(2), w = x.size(3), ws = config_.window_size;
  // Zero-pad to whole windows, as Spandrel does; frames smaller than ESA's
  // pooling needs (which Spandrel refuses) are padded further.
  const auto padded = [&](int64_t side) { return (std::max(side, kMinEsaSide) + ws - 1) / ws * ws; };
  const int64_t ph = padded(h) - h, pw = padded(w) - w;
  const torch::Tensor in = ph > 0 || pw > 0 ? at::constant_pad_nd(x, {0, pw, 0, ph}, 0) : x;
  const torch::Tensor feat = params_.input(in);
  torch::Tensor out = feat;
  for (const Group& g : params_.groups) {
    torch::Tensor t = out;
    for (const OsaBlock& block : g.blocks) t = ApplyBlock(t, block);
    out = ApplyEsa(g.conv(t) + out, g.esa);
  }
  out = params_.output(out) + feat;
  const int64_t s = config_.scale;
  out = at::pixel_shuffle(params_.up(out), s);
  if (ph > 0 || pw > 0) out = out.slice(2, 0, h * s).slice(3, 0, w * s);
  return out;
}

}  // namespace anifarm::engine
