#include "node/engine/rrdbnet.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "node/engine/cudnn_fusion.h"
#include "node/engine/fused_epilogue.h"

namespace anifarm::engine {
namespace {

constexpr double kSlope = 0.2;          // leaky ReLU
constexpr double kResidualScale = 0.2;  // RDB and RRDB residual scaling
constexpr int kMaxUpsample = 3;         // x8

// Canonical (new-layout) key → tensor.
using Canonical = std::map<std::string, const torch::Tensor*>;

absl::Status NotRrdb(absl::string_view source, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": not a supported ESRGAN/RRDBNet layout (", why, ")"));
}

bool IsParam(absl::string_view p) { return p == "weight" || p == "bias"; }

// "RDB2" / "rdb2" → 2 (1..3); "conv4" → 4 (1..5); 0 when it is not one.
int Suffix(absl::string_view part, absl::string_view prefix, int max) {
  int n = 0;
  if (!absl::ConsumePrefix(&part, prefix) || !absl::SimpleAtoi(part, &n) || n < 1 || n > max) return 0;
  return n;
}

bool Index(absl::string_view part, int* n) { return absl::SimpleAtoi(part, n) && *n >= 0 && *n < 10000; }

std::string BodyKey(int block, int rdb, int conv, absl::string_view param) {
  return absl::StrCat("body.", block, ".rdb", rdb, ".conv", conv, ".", param);
}

// Maps the old ESRGAN layout (nn.Sequential indices) onto canonical names.
// The tail after the trunk is [up convs at 3, 6, .., 3u], HR conv at 3u + 2
// and last conv at 3u + 4 (each up conv follows an nn.Upsample and precedes
// its activation), which both finds u and rejects other upsamplers.
absl::Status MapOldLayout(const TensorMap& weights, absl::string_view source, Canonical* out) {
  std::map<int, std::map<std::string, const torch::Tensor*>> tail;   // model.K
  std::map<int, std::map<std::string, const torch::Tensor*>> trunk;  // model.1.sub.N
  int max_block = -1;
  for (const auto& [name, tensor] : weights) {
    const std::vector<absl::string_view> p = absl::StrSplit(name, '.');
    int k = 0, n = 0, rdb = 0, conv = 0;
    const auto unexpected = [&] { return NotRrdb(source, absl::StrCat("unexpected key ", name)); };
    if (p.size() < 3 || p[0] != "model" || !Index(p[1], &k) || !IsParam(p.back())) return unexpected();
    if (k == 0 && p.size() == 3) {
      (*out)[absl::StrCat("conv_first.", p[2])] = &tensor;
    } else if (k == 1 && p.size() == 8 && p[2] == "sub" && Index(p[3], &n) &&
               (rdb = Suffix(p[4], "RDB", 3)) != 0 && (conv = Suffix(p[5], "conv", 5)) != 0 && p[6] == "0") {
      (*out)[BodyKey(n, rdb, conv, p[7])] = &tensor;
      max_block = std::max(max_block, n);
    } else if (k == 1 && p.size() == 5 && p[2] == "sub" && Index(p[3], &n)) {
      trunk[n][std::string(p[4])] = &tensor;
    } else if (k >= 2 && p.size() == 3) {
      tail[k][std::string(p[2])] = &tensor;
    } else {
      return unexpected();
    }
  }
  // nn.Sequential numbers the trunk conv right after the blocks.
  if (trunk.size() != 1 || trunk.begin()->first != max_block + 1) {
    return NotRrdb(source, "expected one trunk conv model.1.sub.<num_block> after the RRDB blocks");
  }
  for (const auto& [param, t] : trunk.begin()->second) out->emplace(absl::StrCat("conv_body.", param), t);
  const int u = (static_cast<int>(tail.size()) - 2);
  if (u < 0 || u > kMaxUpsample) {
    return NotRrdb(source, "expected up convs, an HR conv and a last conv after model.1");
  }
  std::vector<int> expected;
  for (int i = 1; i <= u; ++i) expected.push_back(3 * i);
  expected.push_back(3 * u + 2);
  expected.push_back(3 * u + 4);
  std::vector<int> seen;
  for (const auto& [k, params] : tail) seen.push_back(k);
  if (seen != expected) {
    return NotRrdb(source, absl::StrCat("layers after the trunk are model.{", absl::StrJoin(seen, ","),
                                        "}, expected model.{", absl::StrJoin(expected, ","), "}"));
  }
  for (int i = 0; i < static_cast<int>(expected.size()); ++i) {
    const std::string target = i < u ? absl::StrCat("conv_up", i + 1) : i == u ? "conv_hr" : "conv_last";
    for (const auto& [param, t] : tail[expected[i]]) (*out)[absl::StrCat(target, ".", param)] = t;
  }
  return absl::OkStatus();
}

// Maps the trunk (BasicSR 2019) and new (Real-ESRGAN) layouts, which only
// rename the same modules, onto canonical names.
absl::Status MapNamedLayout(const TensorMap& weights, absl::string_view source, bool trunk_layout,
                            Canonical* out) {
  const absl::string_view body = trunk_layout ? "RRDB_trunk" : "body";
  const absl::string_view rdb_prefix = trunk_layout ? "RDB" : "rdb";
  const std::map<std::string, std::string> renames =
      trunk_layout
          ? std::map<std::string, std::string>{{"conv_first", "conv_first"}, {"trunk_conv", "conv_body"},
                                               {"upconv1", "conv_up1"},      {"upconv2", "conv_up2"},
                                               {"upconv3", "conv_up3"},      {"HRconv", "conv_hr"},
                                               {"conv_last", "conv_last"}}
          : std::map<std::string, std::string>{{"conv_first", "conv_first"}, {"conv_body", "conv_body"},
                                               {"conv_up1", "conv_up1"},     {"conv_up2", "conv_up2"},
                                               {"conv_up3", "conv_up3"},     {"conv_hr", "conv_hr"},
                                               {"conv_last", "conv_last"}};
  for (const auto& [name, tensor] : weights) {
    const std::vector<absl::string_view> p = absl::StrSplit(name, '.');
    int n = 0, rdb = 0, conv = 0;
    if (p.size() == 2 && IsParam(p[1]) && renames.count(std::string(p[0])) != 0) {
      (*out)[absl::StrCat(renames.at(std::string(p[0])), ".", p[1])] = &tensor;
    } else if (p.size() == 5 && p[0] == body && Index(p[1], &n) && (rdb = Suffix(p[2], rdb_prefix, 3)) != 0 &&
               (conv = Suffix(p[3], "conv", 5)) != 0 && IsParam(p[4])) {
      (*out)[BodyKey(n, rdb, conv, p[4])] = &tensor;
    } else {
      return NotRrdb(source, absl::StrCat("unexpected key ", name));
    }
  }
  return absl::OkStatus();
}

std::string Shape(const torch::Tensor* t) {
  return t == nullptr ? "missing" : absl::StrCat("[", absl::StrJoin(t->sizes(), ","), "]");
}

const torch::Tensor* Get(const Canonical& c, const std::string& key) {
  auto it = c.find(key);
  return it == c.end() ? nullptr : it->second;
}

// Checks that `name` is a 3x3 conv in → out with a bias.
absl::Status CheckConv(const Canonical& c, absl::string_view source, const std::string& name, int64_t in,
                       int64_t out) {
  const torch::Tensor* w = Get(c, name + ".weight");
  const torch::Tensor* b = Get(c, name + ".bias");
  if (w == nullptr || w->sizes().vec() != std::vector<int64_t>{out, in, 3, 3} || b == nullptr ||
      b->sizes().vec() != std::vector<int64_t>{out}) {
    return NotRrdb(source, absl::StrCat(name, " should be a 3x3 conv ", in, " -> ", out,
                                        " with bias; weight ", Shape(w), ", bias ", Shape(b)));
  }
  return absl::OkStatus();
}

// The canonical map and the layout name, from whichever layout `weights` has.
absl::Status Canonicalize(const TensorMap& weights, absl::string_view source, Canonical* out,
                          std::string* layout) {
  if (FindTensor(weights, "model.0.weight") != nullptr) {
    *layout = "old";
    return MapOldLayout(weights, source, out);
  }
  for (const auto& [name, tensor] : weights) {
    if (absl::StartsWith(name, "RRDB_trunk.")) {
      *layout = "trunk";
      return MapNamedLayout(weights, source, true, out);
    }
  }
  if (FindTensor(weights, "conv_first.weight") != nullptr) {
    *layout = "new";
    return MapNamedLayout(weights, source, false, out);
  }
  return NotRrdb(source, "neither model.0.weight nor conv_first.weight");
}

// In place: the argument is always a fresh conv output nothing else holds.
torch::Tensor LeakyRelu(torch::Tensor x) {
  at::leaky_relu_(x, kSlope);
  return x;
}

}  // namespace

std::string RrdbConfig::ToString() const {
  return absl::StrCat("RRDBNet(num_feat=", num_feat, ", num_block=", num_block, ", num_grow_ch=", num_grow_ch,
                      ", scale=", scale, unshuffle > 1 ? absl::StrCat(", pixel_unshuffle=", unshuffle) : "",
                      ", keys=", layout, ")");
}

absl::StatusOr<RrdbConfig> DetectRrdb(const TensorMap& weights, absl::string_view source) {
  Canonical c;
  RrdbConfig config;
  if (absl::Status s = Canonicalize(weights, source, &c, &config.layout); !s.ok()) return s;

  const torch::Tensor* first = Get(c, "conv_first.weight");
  if (first == nullptr || first->dim() != 4) return NotRrdb(source, "conv_first.weight is not a conv");
  const int64_t in_ch = first->size(1);
  config.unshuffle = in_ch == 3 ? 1 : in_ch == 12 ? 2 : in_ch == 48 ? 4 : 0;
  if (config.unshuffle == 0) {
    return NotRrdb(source, absl::StrCat("conv_first takes ", in_ch,
                                        " channels; expected 3, 12 or 48 (RGB, "
                                        "pixel-unshuffled by 2 or 4)"));
  }
  const int64_t nf = first->size(0);
  config.num_feat = static_cast<int>(nf);
  if (absl::Status s = CheckConv(c, source, "conv_first", in_ch, nf); !s.ok()) return s;

  while (c.count(BodyKey(config.num_block, 1, 1, "weight")) != 0) ++config.num_block;
  if (config.num_block == 0) return NotRrdb(source, "no RRDB blocks");
  const torch::Tensor* grow = Get(c, BodyKey(0, 1, 1, "weight"));
  if (grow->dim() != 4) return NotRrdb(source, "body.0.rdb1.conv1.weight is not a conv");
  const int64_t gc = grow->size(0);
  config.num_grow_ch = static_cast<int>(gc);
  for (int n = 0; n < config.num_block; ++n) {
    for (int r = 1; r <= 3; ++r) {
      for (int j = 1; j <= 5; ++j) {
        const std::string name = absl::StrCat("body.", n, ".rdb", r, ".conv", j);
        if (absl::Status s = CheckConv(c, source, name, nf + (j - 1) * gc, j < 5 ? gc : nf); !s.ok()) {
          return s;
        }
      }
    }
  }
  if (absl::Status s = CheckConv(c, source, "conv_body", nf, nf); !s.ok()) return s;
  while (config.num_upsample < kMaxUpsample &&
         c.count(absl::StrCat("conv_up", config.num_upsample + 1, ".weight")) != 0) {
    ++config.num_upsample;
    if (absl::Status s = CheckConv(c, source, absl::StrCat("conv_up", config.num_upsample), nf, nf);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = CheckConv(c, source, "conv_hr", nf, nf); !s.ok()) return s;
  if (absl::Status s = CheckConv(c, source, "conv_last", nf, 3); !s.ok()) return s;
  // Every key must have been used: a stray one (rdb4, conv_up4, a norm
  // layer) means a variant this forward pass would silently get wrong.
  std::vector<std::string> unused;
  for (const auto& [key, t] : c) {
    const std::vector<absl::string_view> p = absl::StrSplit(key, '.');
    absl::string_view up = p[0];
    int n = -1, i = 0;
    const bool used = (p[0] == "body" && Index(p[1], &n) && n < config.num_block) ||
                      (absl::ConsumePrefix(&up, "conv_up") && absl::SimpleAtoi(up, &i) && i >= 1 &&
                       i <= config.num_upsample) ||
                      p[0] == "conv_first" || p[0] == "conv_body" || p[0] == "conv_hr" || p[0] == "conv_last";
    if (!used) unused.push_back(key);
  }
  if (!unused.empty()) return NotRrdb(source, absl::StrCat("unused tensors: ", absl::StrJoin(unused, " ")));
  const int up = 1 << config.num_upsample;
  if (up % config.unshuffle != 0) {
    return NotRrdb(source, absl::StrCat(config.num_upsample, " up convs cannot undo a pixel unshuffle by ",
                                        config.unshuffle));
  }
  config.scale = up / config.unshuffle;
  return config;
}

absl::StatusOr<std::unique_ptr<RrdbNet>> RrdbNet::Create(const TensorMap& weights, absl::string_view source,
                                                         torch::Device device, torch::ScalarType dtype) {
  absl::StatusOr<RrdbConfig> config = DetectRrdb(weights, source);
  if (!config.ok()) return config.status();
  Canonical c;
  std::string layout;
  if (absl::Status s = Canonicalize(weights, source, &c, &layout); !s.ok()) return s;
  std::unique_ptr<RrdbNet> net(new RrdbNet(*config, device, dtype));
  const bool fused = FusedEpilogueEnabled(device);
  if (fused && CudnnFusionEnabled(device)) net->cudnn_fusion_ = std::make_unique<ConvBiasPreluFusion>();
  const torch::MemoryFormat weight_format =
      net->cudnn_fusion_ ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  const auto load = [&](const std::string& name) {
    Conv conv{c.at(name + ".weight")->to(device, dtype).contiguous(weight_format),
              c.at(name + ".bias")->to(device, dtype).contiguous()};
    if (fused) {
      const int64_t channels = conv.weight.size(0);
      conv.bias_fp32 = PerChannelFp32(conv.bias, 0.0, channels, device);
      conv.slope_fp32 = PerChannelFp32(/*values=*/{}, kSlope, channels, device);
    }
    return conv;
  };
  try {
    net->first_ = load("conv_first");
    net->blocks_.resize(config->num_block);
    for (int n = 0; n < config->num_block; ++n) {
      for (int r = 0; r < 3; ++r) {
        for (int j = 0; j < 5; ++j) {
          net->blocks_[n][r][j] = load(absl::StrCat("body.", n, ".rdb", r + 1, ".conv", j + 1));
        }
      }
    }
    net->body_ = load("conv_body");
    for (int i = 1; i <= config->num_upsample; ++i) net->up_.push_back(load(absl::StrCat("conv_up", i)));
    net->hr_ = load("conv_hr");
    net->last_ = load("conv_last");
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat(source, ": cannot move weights to ", device.str(), ": ", e.what_without_backtrace()));
  }
  return net;
}

torch::Tensor RrdbNet::Apply(const torch::Tensor& x, const Conv& conv) {
  return at::conv2d(x, conv.weight, conv.bias, /*stride=*/{1, 1}, /*padding=*/{1, 1});
}

torch::Tensor RrdbNet::ApplyLeaky(const torch::Tensor& x, const Conv& conv) const {
  if (!conv.slope_fp32.defined()) return LeakyRelu(Apply(x, conv));
  return ConvBiasPrelu(cudnn_fusion_.get(), x, conv.weight, conv.bias_fp32, conv.slope_fp32);
}

torch::Tensor RrdbNet::ApplyRdb(const torch::Tensor& x, const Rdb& rdb) const {
  // Dense connections: conv j sees the input and every earlier output.
  std::vector<torch::Tensor> features = {x};
  for (int j = 0; j < 4; ++j) {
    torch::Tensor in = j == 0 ? x : at::cat(features, 1);
    features.push_back(ApplyLeaky(in, rdb[j]));
  }
  return Apply(at::cat(features, 1), rdb[4]).mul_(kResidualScale).add_(x);
}

torch::Tensor RrdbNet::Forward(const torch::Tensor& x) const {
  const int64_t h = x.size(2), w = x.size(3);
  const int d = config_.unshuffle;
  torch::Tensor in = x;
  if (d > 1) {
    const int64_t ph = (d - h % d) % d, pw = (d - w % d) % d;
    if (ph != 0 || pw != 0) {
      // Reflection needs the pad to be smaller than the side; a frame of a
      // pixel or two falls back to repeating the edge.
      in = ph < h && pw < w ? at::reflection_pad2d(x, {0, pw, 0, ph})
                            : at::replication_pad2d(x, {0, pw, 0, ph});
    }
    in = at::pixel_unshuffle(in, d);
  }
  torch::Tensor feat = Apply(in, first_);
  torch::Tensor trunk = feat;
  for (const Rrdb& block : blocks_) {
    torch::Tensor out = ApplyRdb(ApplyRdb(ApplyRdb(trunk, block[0]), block[1]), block[2]);
    trunk = out.mul_(kResidualScale).add_(trunk);
  }
  feat = feat + Apply(trunk, body_);
  for (const Conv& up : up_) {
    feat = at::upsample_nearest2d(feat, {feat.size(2) * 2, feat.size(3) * 2});
    feat = ApplyLeaky(feat, up);
  }
  torch::Tensor out = Apply(ApplyLeaky(feat, hr_), last_);
  const int s = config_.scale;
  if (out.size(2) != h * s || out.size(3) != w * s) {
    out = out.slice(2, 0, h * s).slice(3, 0, w * s);  // drop the padding
  }
  return out;
}

}  // namespace anifarm::engine
