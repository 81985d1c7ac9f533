#include "node/engine/srvgg_compact.h"

#include <cmath>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "node/engine/fused_epilogue.h"

namespace anifarm::engine {
namespace {

constexpr int kMaxKeysInError = 8;

std::string ShapeString(const torch::Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.sizes(), ","), "]");
}

// The error for a state dict that is not a Compact network: lists what it
// did see so that the user can tell which architecture the file holds.
absl::Status NotCompact(const TensorMap& weights, absl::string_view source, absl::string_view why) {
  std::vector<std::string> keys;
  for (const auto& [name, tensor] : weights) {
    if (static_cast<int>(keys.size()) == kMaxKeysInError) {
      keys.push_back("...");
      break;
    }
    keys.push_back(absl::StrCat(name, ShapeString(tensor)));
  }
  const std::string guess = GuessArchitecture(weights);
  std::string detected;
  if (absl::StartsWith(guess, "ESRGAN/RRDBNet") || guess == "OmniSR" || guess == "SPAN" || guess == "RealPLKSR" ||
      guess == "DAT") {
    detected = absl::StrCat("detected architecture ", guess, ", which its own network runs, not CompactNet; ");
  } else if (!guess.empty() && guess != "SRVGGNetCompact") {
    detected = absl::StrCat("detected architecture ", guess, ", which this engine does not run yet; ");
  }
  return absl::InvalidArgumentError(absl::StrCat(
      source, ": unrecognised model layout (", why, "); ", detected, weights.size(),
      " tensors, keys: ", absl::StrJoin(keys, " "),
      ". Supported architectures: SRVGGNetCompact (Real-ESRGAN Compact: body.N.weight/bias with PReLU), "
      "ESRGAN RRDBNet (model.N.sub / conv_first + body.N.rdbK / RRDB_trunk key layouts), OmniSR, SPAN, "
      "RealPLKSR (pixel-shuffle upsampler), DAT, and TorchScript archives"));
}

bool HasShape(const torch::Tensor* t, std::initializer_list<int64_t> shape) {
  return t != nullptr && t->sizes().vec() == std::vector<int64_t>(shape);
}

}  // namespace

std::string GuessArchitecture(const TensorMap& weights) {
  const auto has_key = [&](absl::string_view key) {
    return FindTensor(weights, std::string(key)) != nullptr;
  };
  const auto any_key = [&](absl::string_view part) {
    for (const auto& [name, tensor] : weights) {
      if (absl::StrContains(name, part)) return true;
    }
    return false;
  };
  if (has_key("model.0.weight") && any_key(".sub.")) return "ESRGAN/RRDBNet (old key layout model.N.sub)";
  if ((has_key("conv_first.weight") && any_key(".rdb1.")) || any_key("RRDB_trunk.")) {
    return "ESRGAN/RRDBNet (new key layout conv_first/body.N.rdbK)";
  }
  if (any_key("residual_layer.") && any_key(".fn.")) return "OmniSR";
  // The original PLKSR spells its mixer "channe_mixer"; RealPLKSR fixed it.
  if (has_key("feats.0.weight") && any_key("channe_mixer")) return "PLKSR";
  if (has_key("feats.0.weight") && (any_key("channel_mixer") || any_key(".lk."))) return "RealPLKSR";
  if (any_key("block_1.c1_r")) return "SPAN";
  // DAT before SwinIR/HAT: both have layers.N...blocks.M, but only DAT has
  // before_RG, the offset tables of its window branches (attns.N.rpe_biases)
  // and the spatial gate of its feed-forward (ffn.sg).
  if (any_key("before_RG") || (any_key("layers.") && (any_key(".attn.attns.0.rpe_biases") || any_key(".ffn.sg.")))) {
    return "DAT";
  }
  if (any_key("residual_group.")) return "SwinIR/HAT";
  if (any_key("unet1.")) return "Real-CUGAN";
  if (has_key("body.0.weight") && has_key("body.1.weight")) return "SRVGGNetCompact";
  return "";
}

std::string CompactConfig::ToString() const {
  return absl::StrCat("SRVGGNetCompact(num_feat=", num_feat, ", num_conv=", num_conv, ", scale=", scale, ")");
}

absl::StatusOr<CompactConfig> DetectCompact(const TensorMap& weights, absl::string_view source) {
  // Every key must be body.<index>.weight|bias; find the last index.
  int last = -1;
  for (const auto& [name, tensor] : weights) {
    absl::string_view rest = name;
    int index;
    if (!absl::ConsumePrefix(&rest, "body.")) return NotCompact(weights, source, absl::StrCat("key ", name));
    const size_t dot = rest.find('.');
    if (dot == absl::string_view::npos || !absl::SimpleAtoi(rest.substr(0, dot), &index) || index < 0 ||
        (rest.substr(dot) != ".weight" && rest.substr(dot) != ".bias")) {
      return NotCompact(weights, source, absl::StrCat("key ", name));
    }
    last = std::max(last, index);
  }
  if (last < 2 || last % 2 != 0) return NotCompact(weights, source, "no body.N layer sequence");

  const torch::Tensor* first = FindTensor(weights, "body.0.weight");
  if (first == nullptr || first->dim() != 4 || first->size(2) != 3 || first->size(3) != 3 ||
      first->size(1) != 3) {
    return NotCompact(weights, source, "body.0.weight is not a 3x3 convolution from RGB");
  }
  CompactConfig config;
  config.num_feat = static_cast<int>(first->size(0));
  config.num_conv = last / 2 - 1;
  const int64_t nf = config.num_feat;
  for (int i = 0; i < last; ++i) {
    const std::string prefix = absl::StrCat("body.", i, ".");
    if (i % 2 == 0) {
      const int64_t in = i == 0 ? 3 : nf;
      if (!HasShape(FindTensor(weights, prefix + "weight"), {nf, in, 3, 3}) ||
          !HasShape(FindTensor(weights, prefix + "bias"), {nf})) {
        return NotCompact(weights, source,
                          absl::StrCat(prefix, "weight/bias is not a ", nf, "-channel 3x3 conv"));
      }
    } else if (!HasShape(FindTensor(weights, prefix + "weight"), {nf})) {
      return NotCompact(weights, source, absl::StrCat(prefix, "weight is not a PReLU of ", nf, " channels"));
    }
  }
  const std::string prefix = absl::StrCat("body.", last, ".");
  const torch::Tensor* up = FindTensor(weights, prefix + "weight");
  if (up == nullptr || up->dim() != 4 || up->size(1) != nf || up->size(2) != 3 || up->size(3) != 3 ||
      !HasShape(FindTensor(weights, prefix + "bias"), {up->size(0)})) {
    return NotCompact(weights, source, absl::StrCat(prefix, "weight is not the upsampling conv"));
  }
  const int64_t out = up->size(0);
  const int scale = static_cast<int>(std::lround(std::sqrt(out / 3.0)));
  if (out % 3 != 0 || scale < 1 || scale * scale * 3 != out) {
    return NotCompact(weights, source, absl::StrCat(prefix, "weight has ", out, " outputs, not 3*scale^2"));
  }
  config.scale = scale;
  return config;
}

absl::StatusOr<std::unique_ptr<CompactNet>> CompactNet::Create(const TensorMap& weights,
                                                               absl::string_view source, torch::Device device,
                                                               torch::ScalarType dtype,
                                                               std::optional<torch::MemoryFormat> memory_format) {
  absl::StatusOr<CompactConfig> config = DetectCompact(weights, source);
  if (!config.ok()) return config.status();
  const torch::MemoryFormat format = memory_format.value_or(torch::MemoryFormat::ChannelsLast);
  std::unique_ptr<CompactNet> net(new CompactNet(*config, device, dtype, format));
  const auto load = [&](int index, const char* what) {
    torch::Tensor t = FindTensor(weights, absl::StrCat("body.", index, ".", what))->to(device, dtype);
    return t.dim() == 4 ? t.contiguous(format) : t.contiguous();
  };
  try {
    const int last = 2 * config->num_conv + 2;
    for (int i = 0; i <= last; i += 2) {
      net->conv_weight_.push_back(load(i, "weight"));
      net->conv_bias_.push_back(load(i, "bias"));
      if (i < last) net->prelu_weight_.push_back(load(i + 1, "weight"));
    }
    if (PadsChannelsFromEnvironment()) {
      // Zero weights for the extra channels: constant_pad_nd pads from the
      // last dimension backwards, so {.., 0, k} on dim 1 (inputs) of the
      // first weight and on dim 0 (outputs) of the last.
      const auto to_multiple_of_8 = [](int64_t n) { return (n + 7) / 8 * 8; };
      torch::Tensor& first = net->conv_weight_.front();
      net->pad_input_to_ = static_cast<int>(to_multiple_of_8(first.size(1)));
      first = at::constant_pad_nd(first, {0, 0, 0, 0, 0, net->pad_input_to_ - first.size(1)}).contiguous(format);
      torch::Tensor& last_weight = net->conv_weight_.back();
      torch::Tensor& last_bias = net->conv_bias_.back();
      const int64_t extra = to_multiple_of_8(last_weight.size(0)) - last_weight.size(0);
      last_weight = at::constant_pad_nd(last_weight, {0, 0, 0, 0, 0, 0, 0, extra}).contiguous(format);
      last_bias = at::constant_pad_nd(last_bias, {0, extra}).contiguous();
    }
    net->fused_epilogue_ = FusedEpilogueEnabled(device);
    if (net->fused_epilogue_) {
      for (size_t i = 0; i < net->prelu_weight_.size(); ++i) {
        const int64_t channels = net->conv_weight_[i].size(0);
        net->conv_bias_fp32_.push_back(PerChannelFp32(net->conv_bias_[i], 0.0, channels, device));
        net->prelu_weight_fp32_.push_back(PerChannelFp32(net->prelu_weight_[i], 0.0, channels, device));
      }
      if (CudnnFusionEnabled(device)) net->cudnn_fusion_ = std::make_unique<ConvBiasPreluFusion>();
      if (CompactEndsEnabled(device) && net->pad_input_to_ == 0) {
        net->head_ = PackHeadWeights(net->conv_weight_.front(), net->conv_bias_.front(), net->prelu_weight_.front());
        net->tail_weights_ = PackTailWeights(net->conv_weight_.back(), dtype, device);
        net->tail_bias_fp32_ =
            PerChannelFp32(net->conv_bias_.back(), 0.0, net->conv_weight_.back().size(0), device);
      }
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat(source, ": cannot move weights to ", device.str(), ": ", e.what_without_backtrace()));
  }
  return net;
}

bool CompactNet::PadsChannelsFromEnvironment() {
  const char* value = std::getenv("ANIFARM_PAD_CHANNELS");
  return value != nullptr && std::string(value) == "1";
}

std::string CompactNet::ToString() const {
  return absl::StrCat(config_.ToString(), fused_epilogue_ ? " fused-epilogue" : "", cudnn_fusion_ ? " cudnn-fusion" : "",
                      head_ ? " compact-ends" : "", pad_input_to_ > 0 ? " padded-ends" : "");
}

torch::Tensor CompactNet::Forward(const torch::Tensor& x) const {
  torch::Tensor y = pad_input_to_ > 0 ? at::constant_pad_nd(x, {0, 0, 0, 0, 0, pad_input_to_ - x.size(1)})
                                      : x;
  // The head kernel reads x in any layout: no copy for it.
  std::optional<torch::Tensor> head = head_ ? RunCompactHead(x, *head_) : std::nullopt;
  if (!head) y = y.contiguous(memory_format_);
  for (size_t i = 0; i < conv_weight_.size(); ++i) {
    const bool activated = i < prelu_weight_.size();
    if (i == 0 && head) {
      y = *std::move(head);
      continue;
    }
    if (i + 1 == conv_weight_.size() && head_) {
      std::optional<torch::Tensor> out =
          RunCompactTail(y, x, tail_weights_, tail_bias_fp32_, conv_weight_.back().size(0), config_.scale);
      if (out) return *std::move(out);
    }
    if (activated && fused_epilogue_) {
      y = ConvBiasPrelu(cudnn_fusion_.get(), y, conv_weight_[i], conv_bias_fp32_[i], prelu_weight_fp32_[i]);
      continue;
    }
    y = at::conv2d(y, conv_weight_[i], conv_bias_[i], /*stride=*/{1, 1}, /*padding=*/{1, 1});
    if (activated) y = at::prelu(y, prelu_weight_[i]);
  }
  if (pad_input_to_ > 0) y = y.narrow(1, 0, 3 * config_.scale * config_.scale);
  y = at::pixel_shuffle(y, config_.scale);
  const int64_t h = x.size(2) * config_.scale;
  const int64_t w = x.size(3) * config_.scale;
  // The network learns a residual over nearest-neighbour upsampling.
  return y.add_(at::upsample_nearest2d(x, {h, w}));
}

}  // namespace anifarm::engine
