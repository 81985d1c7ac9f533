#include "node/engine/ncnn_families.h"

#include <cmath>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "node/engine/ncnn_model.h"

namespace anifarm::engine {
namespace {

// The leaky-ReLU slope of a fused activation, or -1 without one.
double LeakySlope(const NcnnLayer& layer) {
  if (layer.IntParam(9, 0) != 2) return -1;
  const auto it = layer.params.find(10);
  return it == layer.params.end() || it->second.empty() ? -1 : it->second[0];
}

bool Unpadded3x3(const NcnnLayer& layer) {
  return layer.IntParam(1, 0) == 3 && layer.IntParam(11, 3) == 3 && layer.IntParam(3, 1) == 1 &&
         layer.IntParam(4, 0) == 0 && layer.params.count(14) == 0 && layer.params.count(15) == 0 &&
         layer.params.count(16) == 0;
}

std::string PadNote(const NcnnGraph& g, const char* border) {
  return g.prepad[0] == g.prepad[1] ? absl::StrCat(g.prepad[0], " ", border)
                                    : absl::StrCat(g.prepad[0], "x", g.prepad[1], " ", border);
}

// Input, then N valid 3x3 leaky-ReLU convs in a chain, then one stride-2
// Deconvolution to RGB.
std::optional<NcnnFamily> MatchUpconv(const NcnnGraph& g) {
  const size_t n = g.layers.size();
  if (n < 3 || g.layers[0].type != "Input" || g.layers[n - 1].type != "Deconvolution") return std::nullopt;
  for (size_t i = 1; i + 1 < n; ++i) {
    const NcnnLayer& l = g.layers[i];
    if (l.type != "Convolution" || !Unpadded3x3(l) || std::abs(LeakySlope(l) - 0.1) > 1e-6 ||
        l.bottoms[0] != g.layers[i - 1].tops[0]) {
      return std::nullopt;
    }
  }
  const NcnnLayer& last = g.layers[n - 1];
  if (last.IntParam(3, 1) != 2 || last.IntParam(0, 0) != 3 || last.bottoms[0] != g.layers[n - 2].tops[0]) {
    return std::nullopt;
  }
  NcnnFamily family;
  family.border = NcnnBorder::kReplicate;
  family.description = absl::StrCat("waifu2x UpConv", n - 1, "(scale=", g.scale,
                                    ", prepad=", PadNote(g, "replicate"), ") [ncnn]");
  return family;
}

// Squeeze-excitation blocks (global average Pooling → InnerProduct ReLU →
// InnerProduct sigmoid → BinaryOp mul) with Crop-ed skips and
// Deconvolutions: Real-CUGAN's UNets.
std::optional<NcnnFamily> MatchCugan(const NcnnGraph& g) {
  std::vector<int> producer(g.blob_names.size(), -1);
  for (size_t i = 0; i < g.layers.size(); ++i) {
    for (int t : g.layers[i].tops) producer[t] = static_cast<int>(i);
  }
  std::map<std::string, int> counts;
  int se_blocks = 0;
  for (const NcnnLayer& l : g.layers) {
    ++counts[l.type];
    if (l.type != "BinaryOp" || l.IntParam(0, 0) != 2 || l.bottoms.size() != 2) continue;
    const int fc2 = producer[l.bottoms[1]];
    if (fc2 < 0 || g.layers[fc2].type != "InnerProduct" || g.layers[fc2].IntParam(9, 0) != 4) continue;
    const int fc1 = producer[g.layers[fc2].bottoms[0]];
    if (fc1 < 0 || g.layers[fc1].type != "InnerProduct" || g.layers[fc1].IntParam(9, 0) != 1) continue;
    const int pool = producer[g.layers[fc1].bottoms[0]];
    if (pool < 0 || g.layers[pool].type != "Pooling" || g.layers[pool].IntParam(0, 0) != 1) continue;
    ++se_blocks;
  }
  if (se_blocks == 0 || counts["Crop"] == 0 || counts["Deconvolution"] == 0) return std::nullopt;
  NcnnFamily family;
  family.border = NcnnBorder::kReflect;
  family.description = absl::StrCat("Real-CUGAN UpCunet", g.scale, "x(se_blocks=", se_blocks,
                                    ", scale=", g.scale, ", prepad=", PadNote(g, "reflect"), ") [ncnn]");
  return family;
}

}  // namespace

std::optional<NcnnFamily> MatchNcnnPaddedFamily(const NcnnGraph& graph) {
  if (std::optional<NcnnFamily> f = MatchUpconv(graph)) return f;
  return MatchCugan(graph);
}

}  // namespace anifarm::engine
