#include "node/engine/ncnn_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <numeric>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "node/engine/cudnn_fusion.h"
#include "node/engine/fused_epilogue.h"
#include "node/engine/nn_ops.h"

namespace anifarm::engine {
namespace {

constexpr int kMagic = 7767517;
constexpr int kMaxLayers = 100000;
constexpr int kMaxBlobs = 1000000;
constexpr int kMaxLayerIo = 4096;
constexpr int kMaxArray = 65536;
constexpr int kArrayKeyBase = -23300;
// Context for graphs that pad each convolution (see NcnnNet::Create).
constexpr int kPaddedGraphContext = 8;
constexpr int64_t kMaxParamBytes = int64_t{16} << 20;
constexpr int64_t kMaxBinBytes = int64_t{4} << 30;


// Reads a whole file of at most `limit` bytes.
absl::StatusOr<std::string> ReadFile(const std::string& path, int64_t limit) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open"));
  const std::streamoff size = in.tellg();
  if (size < 0) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read its size"));
  if (size > limit) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", size, " bytes, more than the ", limit, " allowed"));
  }
  std::string bytes(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (size > 0 && !in.read(bytes.data(), size)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": read error"));
  }
  return bytes;
}

// Every supported type's param ids (others are refused rather than ignored,
// so that an option changing the computation is never silently dropped).
const std::map<std::string, std::set<int>>& SupportedParams() {
  static const auto* params = new std::map<std::string, std::set<int>>{
      {"Input", {0, 1, 2, 11}},
      {"Split", {}},
      {"Convolution", {0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19}},
      {"Deconvolution", {0, 1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 28}},
      {"Crop", {9, 10, 11}},
      {"Pooling", {0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 15, 18}},
      {"InnerProduct", {0, 1, 2, 8, 9, 10}},
      {"Sigmoid", {}},
      {"PReLU", {0}},
      {"PixelShuffle", {0, 1}},
      {"Interp", {0, 1, 2, 3, 4, 5, 6}},
      {"BinaryOp", {0, 1, 2}},
      {"Eltwise", {0, 1}},
      {"Concat", {0}},
  };
  return *params;
}

// Parses "k=v" / "-233kk=n,v1,...".
absl::Status ParseParam(absl::string_view token, NcnnLayer* layer, absl::string_view source) {
  const size_t eq = token.find('=');
  int key;
  if (eq == absl::string_view::npos || !absl::SimpleAtoi(token.substr(0, eq), &key)) {
    return NcnnLayerError(source, *layer, absl::StrCat("bad param '", token, "'"));
  }
  std::vector<double> values;
  const absl::string_view value = token.substr(eq + 1);
  int id = key;
  if (key <= kArrayKeyBase) {
    id = kArrayKeyBase - key;
    std::vector<absl::string_view> parts = absl::StrSplit(value, ',');
    int n;
    if (parts.empty() || !absl::SimpleAtoi(parts[0], &n) || n < 0 || n > kMaxArray ||
        static_cast<size_t>(n) + 1 != parts.size()) {
      return NcnnLayerError(source, *layer, absl::StrCat("bad array param '", token, "'"));
    }
    parts.erase(parts.begin());
    for (absl::string_view p : parts) {
      double v;
      if (!absl::SimpleAtod(p, &v) || !std::isfinite(v)) {
        return NcnnLayerError(source, *layer, absl::StrCat("bad array param '", token, "'"));
      }
      values.push_back(v);
    }
  } else {
    double v;
    if (key < 0 || !absl::SimpleAtod(value, &v) || !std::isfinite(v)) {
      return NcnnLayerError(source, *layer, absl::StrCat("bad param '", token, "'"));
    }
    values.push_back(v);
  }
  if (id > 1000) return NcnnLayerError(source, *layer, absl::StrCat("bad param id in '", token, "'"));
  if (!layer->params.emplace(id, std::move(values)).second) {
    return NcnnLayerError(source, *layer, absl::StrCat("param ", id, " given twice"));
  }
  return absl::OkStatus();
}

// Bounds-checked reader over the .bin bytes.
class BinReader {
 public:
  BinReader(absl::string_view bytes, absl::string_view source) : bytes_(bytes), source_(source) {}
  size_t offset() const { return offset_; }

  // `count` floats stored raw.
  absl::StatusOr<torch::Tensor> Raw(int64_t count, absl::string_view what) {
    return Take(count, count * 4, torch::kFloat32, what);
  }
  // `count` floats behind a storage tag.
  absl::StatusOr<torch::Tensor> Tagged(int64_t count, absl::string_view what) {
    if (!Has(4)) return Short(4, what);
    uint32_t tag;
    std::memcpy(&tag, bytes_.data() + offset_, 4);  // little-endian files on little-endian hosts
    const size_t at = offset_;
    offset_ += 4;
    if (tag == kNcnnTagFp32) return Take(count, count * 4, torch::kFloat32, what);
    if (tag == kNcnnTagFp16) return Take(count, (count * 2 + 3) / 4 * 4, torch::kHalf, what);
    const std::string name =
        tag == kNcnnTagInt8 ? "int8" : absl::StrCat("0x", absl::Hex(tag, absl::kZeroPad8));
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", what, ": unsupported weight storage ", name,
                                                   " at offset ", at, " (only fp32 and fp16 are supported)"));
  }

 private:
  bool Has(int64_t n) const { return n >= 0 && static_cast<uint64_t>(n) <= bytes_.size() - offset_; }
  absl::Status Short(int64_t n, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": truncated: ", what, " needs ", n,
                                                   " bytes at offset ", offset_, ", the file has ",
                                                   bytes_.size()));
  }
  absl::StatusOr<torch::Tensor> Take(int64_t count, int64_t stored, torch::ScalarType dtype,
                                     absl::string_view what) {
    if (!Has(stored)) return Short(stored, what);
    torch::Tensor t = torch::empty({count}, dtype);
    std::memcpy(t.data_ptr(), bytes_.data() + offset_, count * t.element_size());
    offset_ += stored;
    t = t.to(torch::kFloat32);
    if (!torch::isfinite(t).all().item<bool>()) {
      return absl::InvalidArgumentError(absl::StrCat(source_, ": ", what, " has non-finite values"));
    }
    return t;
  }

  absl::string_view bytes_;
  std::string source_;
  size_t offset_ = 0;
};

// The producer layer of each blob.
std::vector<int> Producers(const NcnnGraph& g) {
  std::vector<int> producer(g.blob_names.size(), -1);
  for (size_t i = 0; i < g.layers.size(); ++i) {
    for (int t : g.layers[i].tops) producer[t] = static_cast<int>(i);
  }
  return producer;
}

// Layers whose .bin record is tagged weights (then an optional raw bias).
bool HasTaggedWeights(const NcnnLayer& layer) {
  return layer.type == "Convolution" || layer.type == "Deconvolution" || layer.type == "InnerProduct";
}
// weight_data_size is param 6, but param 2 for InnerProduct.
int64_t WeightCount(const NcnnLayer& layer) {
  return static_cast<int64_t>(layer.Param(layer.type == "InnerProduct" ? 2 : 6, 0));
}
// bias_term is param 5, but param 1 for InnerProduct.
bool HasBias(const NcnnLayer& layer) { return layer.IntParam(layer.type == "InnerProduct" ? 1 : 5, 0) != 0; }

std::string FormatFactor(double f) { return absl::StrCat(std::round(f * 10000) / 10000); }

}  // namespace

double NcnnLayer::Param(int id, double fallback) const {
  const auto it = params.find(id);
  return it == params.end() || it->second.size() != 1 ? fallback : it->second[0];
}

int NcnnLayer::IntParam(int id, int fallback) const {
  const double v = Param(id, fallback);
  if (!IsWholeNumber(v) || std::fabs(v) > std::numeric_limits<int>::max()) return std::numeric_limits<int>::min();
  return static_cast<int>(v);
}

absl::Status NcnnError(absl::string_view source, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", what));
}

absl::Status NcnnLayerError(absl::string_view source, const NcnnLayer& layer,
                            absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": layer ", layer.type, " '", layer.name, "': ", what));
}

bool IsWholeNumber(double v) {
  return std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15;
}

absl::StatusOr<NcnnGraph> ParseNcnnParam(absl::string_view text, absl::string_view source) {
  NcnnGraph graph;
  graph.source = std::string(source);
  std::vector<absl::string_view> lines;
  for (absl::string_view line : absl::StrSplit(text, absl::ByAnyChar("\r\n"))) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty()) lines.push_back(line);
  }
  int magic = 0;
  if (lines.empty() || !absl::SimpleAtoi(lines[0], &magic) || magic != kMagic) {
    return NcnnError(source, "not an ncnn text .param file (the first line is not the magic 7767517)");
  }
  std::vector<absl::string_view> counts =
      absl::StrSplit(lines.size() > 1 ? lines[1] : "", ' ', absl::SkipEmpty());
  int layer_count = 0, blob_count = 0;
  if (counts.size() != 2 || !absl::SimpleAtoi(counts[0], &layer_count) ||
      !absl::SimpleAtoi(counts[1], &blob_count) || layer_count < 1 || layer_count > kMaxLayers ||
      blob_count < 1 || blob_count > kMaxBlobs) {
    return NcnnError(source, "bad layer/blob count line");
  }
  if (static_cast<int>(lines.size()) - 2 != layer_count) {
    return NcnnError(source, absl::StrCat("declares ", layer_count, " layers but has ", lines.size() - 2));
  }
  std::map<std::string, int, std::less<>> blob_index;
  std::vector<bool> produced;
  for (int l = 0; l < layer_count; ++l) {
    std::vector<absl::string_view> tok =
        absl::StrSplit(lines[l + 2], absl::ByAnyChar(" \t"), absl::SkipEmpty());
    NcnnLayer layer;
    int nin = -1, nout = -1;
    if (tok.size() < 4 || !absl::SimpleAtoi(tok[2], &nin) || !absl::SimpleAtoi(tok[3], &nout) || nin < 0 ||
        nout < 0 || nin > kMaxLayerIo || nout > kMaxLayerIo || tok.size() < 4u + nin + nout) {
      return NcnnError(source, absl::StrCat("malformed layer line ", l + 3));
    }
    layer.type = std::string(tok[0]);
    layer.name = std::string(tok[1]);
    const auto supported = SupportedParams().find(layer.type);
    if (supported == SupportedParams().end()) {
      std::vector<std::string> names;
      for (const auto& [name, ids] : SupportedParams()) names.push_back(name);
      return NcnnLayerError(source, layer,
                      absl::StrCat("unsupported layer type (supported: ", absl::StrJoin(names, ", "), ")"));
    }
    for (int i = 0; i < nin; ++i) {
      const auto it = blob_index.find(tok[4 + i]);
      if (it == blob_index.end() || !produced[it->second]) {
        return NcnnLayerError(source, layer, absl::StrCat("input blob '", tok[4 + i], "' is not produced before"));
      }
      layer.bottoms.push_back(it->second);
    }
    for (int i = 0; i < nout; ++i) {
      const std::string name(tok[4 + nin + i]);
      if (blob_index.count(name) != 0) {
        return NcnnLayerError(source, layer, absl::StrCat("blob '", name, "' is produced twice"));
      }
      if (static_cast<int>(graph.blob_names.size()) == blob_count) {
        return NcnnError(source, absl::StrCat("more blobs than the declared ", blob_count));
      }
      blob_index.emplace(name, static_cast<int>(graph.blob_names.size()));
      graph.blob_names.push_back(name);
      produced.push_back(true);
      layer.tops.push_back(static_cast<int>(graph.blob_names.size()) - 1);
    }
    for (size_t i = 4 + nin + nout; i < tok.size(); ++i) {
      if (absl::Status s = ParseParam(tok[i], &layer, source); !s.ok()) return s;
    }
    for (const auto& [id, values] : layer.params) {
      if (supported->second.count(id) == 0) {
        return NcnnLayerError(source, layer, absl::StrCat("unsupported param id ", id));
      }
    }
    graph.layers.push_back(std::move(layer));
  }
  if (absl::Status s = InferNcnnShapes(&graph); !s.ok()) return s;
  return graph;
}

absl::Status LoadNcnnWeights(absl::string_view bin, absl::string_view source, NcnnGraph* graph) {
  // The sizes the .param implies, for the error message.
  int64_t fp32_size = 0, fp16_size = 0;
  for (const NcnnLayer& layer : graph->layers) {
    if (HasTaggedWeights(layer)) {
      const int64_t w = WeightCount(layer);
      const int64_t b = HasBias(layer) ? layer.IntParam(0, 0) : 0;
      fp32_size += 4 + 4 * w + 4 * b;
      fp16_size += 4 + (2 * w + 3) / 4 * 4 + 4 * b;
    } else if (layer.type == "PReLU") {
      fp32_size += 4 * layer.IntParam(0, 0);
      fp16_size += 4 * layer.IntParam(0, 0);
    }
  }
  const std::string expected =
      absl::StrCat("the .param implies ", fp32_size, " bytes with fp32 weights or ", fp16_size, " with fp16");
  BinReader reader(bin, source);
  for (NcnnLayer& layer : graph->layers) {
    const std::string what = absl::StrCat("layer ", layer.type, " '", layer.name, "'");
    if (HasTaggedWeights(layer)) {
      const int out = layer.IntParam(0, 0);
      const int64_t size = WeightCount(layer);
      absl::StatusOr<torch::Tensor> w = reader.Tagged(size, what);
      if (!w.ok()) return absl::InvalidArgumentError(absl::StrCat(w.status().message(), "; ", expected));
      if (layer.type == "InnerProduct") {
        layer.weight = w->view({out, size / out});
      } else {
        const int kw = layer.IntParam(1, 0), kh = layer.IntParam(11, kw);
        layer.weight = w->view({out, size / (int64_t{out} * kw * kh), kh, kw});
      }
      if (HasBias(layer)) {
        absl::StatusOr<torch::Tensor> b = reader.Raw(out, what + " bias");
        if (!b.ok()) return absl::InvalidArgumentError(absl::StrCat(b.status().message(), "; ", expected));
        layer.bias = *b;
      }
    } else if (layer.type == "PReLU") {
      absl::StatusOr<torch::Tensor> s = reader.Raw(layer.IntParam(0, 0), what);
      if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(s.status().message(), "; ", expected));
      layer.weight = *s;
    }
  }
  if (reader.offset() != bin.size()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", bin.size() - reader.offset(),
                                                   " bytes left over after the last layer's weights (",
                                                   bin.size(), " bytes; ", expected, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<NcnnGraph> LoadNcnnModel(const std::string& param_path) {
  if (!absl::EndsWith(param_path, ".param")) {
    return absl::InvalidArgumentError(
        absl::StrCat(param_path, ": an ncnn model is named by its .param file"));
  }
  absl::StatusOr<std::string> text = ReadFile(param_path, kMaxParamBytes);
  if (!text.ok()) return text.status();
  absl::StatusOr<NcnnGraph> graph = ParseNcnnParam(*text, param_path);
  if (!graph.ok()) return graph.status();
  const std::string bin_path = param_path.substr(0, param_path.size() - 6) + ".bin";
  absl::StatusOr<std::string> bin = ReadFile(bin_path, kMaxBinBytes);
  if (!bin.ok()) return bin.status();
  try {
    if (absl::Status s = LoadNcnnWeights(*bin, bin_path, &*graph); !s.ok()) return s;
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat(bin_path, ": ", e.what_without_backtrace()));
  }
  return graph;
}

std::optional<NcnnCompactMatch> MatchNcnnCompact(const NcnnGraph& g) {
  const std::vector<int> producer = Producers(g);
  // The layer producing `blob`, looking through Split layers; -1 for the input.
  const auto source_of = [&](int blob) {
    int layer = producer[blob];
    while (layer >= 0 && g.layers[layer].type == "Split") layer = producer[g.layers[layer].bottoms[0]];
    return layer >= 0 && g.layers[layer].type == "Input" ? -1 : layer;
  };
  const auto is = [&](int layer, const char* type) { return layer >= 0 && g.layers[layer].type == type; };
  NcnnCompactMatch match;
  int last = source_of(g.output_blob);
  if (is(last, "Interp")) {
    match.resize = g.layers[last].Param(1, 1);
    match.resize_type = g.layers[last].IntParam(0, 0);
    last = source_of(g.layers[last].bottoms[0]);
  }
  if (!is(last, "BinaryOp") || g.layers[last].IntParam(0, 0) != 0 || g.layers[last].IntParam(1, 0) != 0) {
    return std::nullopt;
  }
  int shuffle = source_of(g.layers[last].bottoms[0]);
  int nearest = source_of(g.layers[last].bottoms[1]);
  if (is(shuffle, "Interp")) std::swap(shuffle, nearest);
  if (!is(shuffle, "PixelShuffle") || g.layers[shuffle].IntParam(1, 0) != 0 || !is(nearest, "Interp") ||
      g.layers[nearest].IntParam(0, 0) != 1 || source_of(g.layers[nearest].bottoms[0]) != -1 ||
      g.layers[nearest].Param(1, 0) != g.layers[shuffle].IntParam(0, 0)) {
    return std::nullopt;
  }
  // conv (prelu conv)* back to the input.
  std::vector<int> chain;
  int at = source_of(g.layers[shuffle].bottoms[0]);
  while (at >= 0) {
    const bool want_conv = chain.size() % 2 == 0;
    if (!is(at, want_conv ? "Convolution" : "PReLU")) return std::nullopt;
    if (want_conv && (g.layers[at].IntParam(9, 0) != 0 || !g.layers[at].bias.defined())) return std::nullopt;
    if (!g.layers[at].weight.defined()) return std::nullopt;
    chain.push_back(at);
    at = source_of(g.layers[at].bottoms[0]);
  }
  if (chain.size() % 2 == 0) return std::nullopt;
  std::reverse(chain.begin(), chain.end());
  for (size_t i = 0; i < chain.size(); ++i) {
    const NcnnLayer& layer = g.layers[chain[i]];
    match.weights.emplace_back(absl::StrCat("body.", i, ".weight"), layer.weight);
    if (i % 2 == 0) match.weights.emplace_back(absl::StrCat("body.", i, ".bias"), layer.bias);
  }
  absl::StatusOr<CompactConfig> config = DetectCompact(match.weights, g.source);
  if (!config.ok() || config->scale != g.layers[shuffle].IntParam(0, 0)) return std::nullopt;
  match.config = *config;
  return match;
}

std::string DescribeNcnnGraph(const NcnnGraph& g) {
  if (std::optional<NcnnCompactMatch> compact = MatchNcnnCompact(g)) {
    std::string text = compact->config.ToString();
    if (compact->resize != 1.0) {
      static const char* const kTypes[] = {"", "nearest", "bilinear", "bicubic"};
      absl::StrAppend(&text, " + ", kTypes[compact->resize_type], " x", FormatFactor(compact->resize),
                      " (scale ", g.scale, ")");
    }
    return text + " [ncnn]";
  }
  if (std::optional<NcnnFamily> family = MatchNcnnPaddedFamily(g)) return family->description;
  std::map<std::string, int> counts;
  for (const NcnnLayer& layer : g.layers) ++counts[layer.type];
  // ESRGAN's RRDBNet: 3 dense blocks of 5 convs (the first 4 with leaky
  // ReLU, inputs concatenated) per RRDB, each with a scaled residual Eltwise,
  // plus the RRDB's own.
  if (counts["Concat"] > 0 && counts["Eltwise"] > 0 && counts["Eltwise"] % 4 == 0 &&
      counts["Concat"] == 12 * (counts["Eltwise"] / 4) && g.layers.size() > 1 &&
      g.layers[1].type == "Convolution") {
    return absl::StrCat("RRDBNet(num_feat=", g.layers[1].IntParam(0, 0),
                        ", num_block=", counts["Eltwise"] / 4, ", scale=", g.scale, ") [ncnn]");
  }
  std::vector<std::string> parts;
  for (const auto& [type, n] : counts) parts.push_back(absl::StrCat(type, "x", n));
  std::string prepad;
  if (g.prepad[0] != 0 || g.prepad[1] != 0) prepad = absl::StrCat(", prepad=", g.prepad[0], "x", g.prepad[1]);
  return absl::StrCat("ncnn graph(", absl::StrJoin(parts, " "), ", scale=", g.scale, prepad, ")");
}

absl::StatusOr<std::unique_ptr<NcnnNet>> NcnnNet::Create(const NcnnGraph& graph, torch::Device device,
                                                         torch::ScalarType dtype) {
  std::unique_ptr<NcnnNet> net(new NcnnNet(device, dtype));
  net->scale_ = graph.scale;
  net->description_ = DescribeNcnnGraph(graph);
  net->num_blobs_ = static_cast<int>(graph.blob_names.size());
  net->input_blob_ = graph.input_blob;
  net->output_blob_ = graph.output_blob;
  net->geometry_ = graph.geometry;
  net->prepad_[0] = graph.prepad[0];
  net->prepad_[1] = graph.prepad[1];
  if (std::optional<NcnnFamily> family = MatchNcnnPaddedFamily(graph)) net->border_ = family->border;
  if (graph.geometry.size() != graph.layers.size()) {
    return absl::InvalidArgumentError(absl::StrCat(graph.source, ": graph shapes were not inferred"));
  }
  std::vector<int> last_use(graph.blob_names.size(), -1);
  const int num_blobs = static_cast<int>(graph.blob_names.size());
  const std::vector<NcnnPlacement> place_h = NcnnBlobPlacements(graph.geometry, num_blobs, graph.input_blob, 0);
  const std::vector<NcnnPlacement> place_w = NcnnBlobPlacements(graph.geometry, num_blobs, graph.input_blob, 1);
  // Strided layers sample every (1/scale)-th input pixel: tiles must start
  // on that grid to compute the frame's own feature pixels.
  for (const std::vector<NcnnPlacement>* places : {&place_h, &place_w}) {
    for (const NcnnPlacement& p : *places) {
      if (p.scale <= 0 || p.scale >= 1) continue;
      const int step = static_cast<int>(std::lround(1.0 / p.scale));
      net->tile_alignment_ = std::lcm(net->tile_alignment_, std::max(step, 1));
    }
  }
  net->tile_alignment_ = std::min(net->tile_alignment_, 64);
  if (graph.prepad[0] > 0 || graph.prepad[1] > 0) {
    net->tile_context_ = std::max(graph.prepad[0], graph.prepad[1]) + net->tile_alignment_ - 1;
  } else if (net->frame_statistics_ == 0 && net->tile_alignment_ == 1) {
    // A graph whose convolutions pad themselves (Real-ESRGAN animevideov3)
    // sees zeros past a tile's edge where the frame has pixels; a few
    // context pixels, run through and cropped off, make seams exact.
    net->tile_context_ = kPaddedGraphContext;
  }
  const auto weights = [&](const NcnnLayer& layer, Op* op) -> absl::Status {
    if (!layer.weight.defined()) return NcnnLayerError(graph.source, layer, "weights not loaded");
    op->weight = layer.weight.to(device, dtype).contiguous();
    if (layer.bias.defined()) op->bias = layer.bias.to(device, dtype).contiguous();
    return absl::OkStatus();
  };
  const auto activation = [](const NcnnLayer& layer, Op* op) {
    op->activation = layer.IntParam(9, 0);
    const auto it = layer.params.find(10);
    if (it != layer.params.end() && !it->second.empty()) {
      op->act_a = it->second[0];
      if (it->second.size() > 1) op->act_b = it->second[1];
    }
  };
  // How many layers read each blob: a convolution's PReLU folds into it
  // only when nothing else reads the convolution's own output.
  std::vector<int> readers(graph.blob_names.size(), 0);
  for (const NcnnLayer& layer : graph.layers) {
    for (int b : layer.bottoms) ++readers[b];
  }
  try {
    for (size_t i = 0; i < graph.layers.size(); ++i) {
      const NcnnLayer& layer = graph.layers[i];
      if (layer.type == "Input") continue;
      if (layer.type == "PReLU" && layer.weight.defined() && !net->ops_.empty() && layer.bottoms.size() == 1 &&
          layer.tops.size() == 1) {
        Op& producer = net->ops_.back();
        const int blob = layer.bottoms[0];
        if (producer.kind == Op::kConv && producer.activation == 0 && !producer.prelu.defined() &&
            producer.tops.size() == 1 && producer.tops[0] == blob && readers[blob] == 1 &&
            blob != graph.output_blob) {
          producer.prelu = layer.weight.to(device, dtype).contiguous();
          producer.tops = layer.tops;
          continue;
        }
      }
      Op op;
      op.bottoms = layer.bottoms;
      op.tops = layer.tops;
      op.geometry = graph.geometry[i];
      const std::string& t = layer.type;
      if (t == "Split") {
        op.kind = Op::kSplit;
      } else if (t == "Convolution" || t == "Deconvolution") {
        op.kind = t == "Convolution" ? Op::kConv : Op::kDeconv;
        if (absl::Status s = weights(layer, &op); !s.ok()) return s;
        // PyTorch's transposed convolution takes [in, out, kh, kw]; ncnn
        // stores [out, in, kh, kw] and, like PyTorch, scatters each input
        // pixel through the unflipped kernel.
        if (op.kind == Op::kDeconv) op.weight = op.weight.transpose(0, 1).contiguous();
        op.dilation_w = layer.IntParam(2, 1);
        op.dilation_h = layer.IntParam(12, op.dilation_w);
        activation(layer, &op);
      } else if (t == "InnerProduct") {
        op.kind = Op::kInnerProduct;
        if (absl::Status s = weights(layer, &op); !s.ok()) return s;
        activation(layer, &op);
      } else if (t == "PReLU") {
        op.kind = Op::kPRelu;
        if (absl::Status s = weights(layer, &op); !s.ok()) return s;
      } else if (t == "Sigmoid") {
        op.kind = Op::kSigmoid;
      } else if (t == "Crop") {
        op.kind = Op::kCrop;
      } else if (t == "Pooling") {
        op.kind = Op::kPool;
        op.pool_type = layer.IntParam(0, 0);
        if (op.pool_type == 1) {
          // A global average: a frame-wide statistic when tiled. The graph
          // runs on the input extended by prepad, so the tile's coordinate
          // u is the extended input's u + prepad.
          const NcnnPlacement ph = place_h[layer.bottoms[0]];
          const NcnnPlacement pw = place_w[layer.bottoms[0]];
          op.place = {ph.scale, ph.offset + ph.scale * graph.prepad[0], pw.scale,
                      pw.offset + pw.scale * graph.prepad[1]};
          ++net->frame_statistics_;
        }
      } else if (t == "PixelShuffle") {
        op.kind = Op::kPixelShuffle;
        op.factor = layer.IntParam(0, 1);
        op.mode = layer.IntParam(1, 0);
      } else if (t == "Interp") {
        op.kind = Op::kInterp;
        op.resize_type = layer.IntParam(0, 0);
        op.height_scale = static_cast<float>(layer.Param(1, 1));
        op.width_scale = static_cast<float>(layer.Param(2, 1));
        op.align_corners = layer.IntParam(6, 0) != 0;
      } else if (t == "BinaryOp") {
        op.kind = Op::kBinary;
        op.op_type = layer.IntParam(0, 0);
        op.with_scalar = layer.IntParam(1, 0) != 0;
        op.scalar = layer.Param(2, 0);
      } else if (t == "Eltwise") {
        op.kind = Op::kEltwise;
        op.op_type = layer.IntParam(0, 0);
        const auto it = layer.params.find(1);
        if (it != layer.params.end()) op.coeffs = it->second;
      } else if (t == "Concat") {
        op.kind = Op::kConcat;
      } else {
        return NcnnLayerError(graph.source, layer, "unsupported layer type");
      }
      for (int b : op.bottoms) last_use[b] = static_cast<int>(net->ops_.size());
      net->ops_.push_back(std::move(op));
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat(graph.source, ": cannot move weights to ", device.str(), ": ",
                                            e.what_without_backtrace()));
  }
  if (FusedEpilogueEnabled(device)) {
    bool fused = false;
    const bool cudnn = CudnnFusionEnabled(device);
    for (Op& op : net->ops_) {
      // ncnn's activation_type 1 is ReLU with an optional slope, 2 LeakyReLU.
      const bool leaky = op.activation == 1 || op.activation == 2;
      if (op.kind != Op::kConv || (!op.prelu.defined() && !leaky)) continue;
      const int64_t channels = op.weight.size(0);
      op.bias_fp32 = PerChannelFp32(op.bias, 0.0, channels, device);
      op.slope_fp32 = PerChannelFp32(op.prelu, op.act_a, channels, device);
      fused = true;
      const NcnnGeometry& g = op.geometry;
      const int64_t k = op.weight.size(2);
      if (cudnn && g.stride == 1 && op.dilation_h == 1 && op.dilation_w == 1 && op.weight.dim() == 4 &&
          k == op.weight.size(3) && k % 2 == 1 && g.pad_begin[0] == k / 2 && g.pad_end[0] == k / 2 &&
          g.pad_begin[1] == k / 2 && g.pad_end[1] == k / 2) {
        op.weight = op.weight.contiguous(torch::MemoryFormat::ChannelsLast);
        op.cudnn_fusable = true;
        if (!net->cudnn_fusion_) net->cudnn_fusion_ = std::make_unique<ConvBiasPreluFusion>();
      }
    }
    if (fused) absl::StrAppend(&net->description_, " fused-epilogue");
    if (net->cudnn_fusion_) absl::StrAppend(&net->description_, " cudnn-fusion");
  }
  for (size_t b = 0; b < last_use.size(); ++b) {
    if (last_use[b] >= 0 && static_cast<int>(b) != net->output_blob_) {
      net->ops_[last_use[b]].release.push_back(static_cast<int>(b));
    }
  }
  return net;
}

namespace {

// ncnn's fused activations (activation_type 1-4).
torch::Tensor Activate(torch::Tensor y, int activation, double a, double b) {
  switch (activation) {
    case 1:
      return a == 0 ? at::relu_(y) : at::leaky_relu_(y, a);
    case 2:
      return at::leaky_relu_(y, a);
    case 3:
      return at::clamp_(y, a, b);
    case 4:
      return at::sigmoid_(y);
    default:
      return y;
  }
}

// Rows [begin, size - end) and columns likewise.
torch::Tensor CutBorder(const torch::Tensor& x, const int begin[2], const int end[2]) {
  if (begin[0] == 0 && end[0] == 0 && begin[1] == 0 && end[1] == 0) return x;
  return x.narrow(2, begin[0], x.size(2) - begin[0] - end[0])
      .narrow(3, begin[1], x.size(3) - begin[1] - end[1]);
}

// Extends `x` by top/bottom/left/right pixels, reflecting (as ncnn's
// BORDER_REFLECT, without repeating the edge) where the side is long enough
// and replicating otherwise.
torch::Tensor ExtendBorder(const torch::Tensor& x, int64_t top, int64_t bottom, int64_t left, int64_t right,
                           NcnnBorder border) {
  if (top == 0 && bottom == 0 && left == 0 && right == 0) return x;
  const bool reflect = border == NcnnBorder::kReflect && std::max(top, bottom) < x.size(2) &&
                       std::max(left, right) < x.size(3);
  // replication/reflection padding has no half-precision CPU kernel.
  const torch::Tensor in = x.is_cuda() ? x : x.to(torch::kFloat32);
  torch::Tensor y = reflect ? at::reflection_pad2d(in, {left, right, top, bottom})
                            : at::replication_pad2d(in, {left, right, top, bottom});
  return y.to(x.scalar_type());
}

}  // namespace

torch::Tensor NcnnNet::Forward(const torch::Tensor& x) const { return ForwardTile(x, Tile()); }

torch::Tensor NcnnNet::ForwardTile(const torch::Tensor& x, const Tile& tile) const {
  const bool has_context = tile.context[0] + tile.context[1] + tile.context[2] + tile.context[3] > 0;
  if (has_context && prepad_[0] == 0 && prepad_[1] == 0) {
    // The graph pads itself: the context is input like any other pixel.
    Tile whole;
    whole.stats = tile.stats;
    return CropContext(ForwardTile(x, whole), tile, scale_);
  }
  // Extend by the border the graph eats, plus the fewest extra rows and
  // columns at the bottom and right that let every strided layer divide
  // evenly (Real-CUGAN: an even padded side), then crop to scale·input.
  // Context pixels stand in for that extension where the tile has them;
  // what is left is extended from the edge, which is then the frame's.
  const int64_t size[2] = {x.size(2) - tile.context[0] - tile.context[1],
                           x.size(3) - tile.context[2] - tile.context[3]};
  int64_t begin[2], end[2];  // rows / columns to add (> 0) or cut (< 0)
  for (int axis = 0; axis < 2; ++axis) {
    const int64_t padded = size[axis] + 2 * prepad_[axis];
    constexpr int64_t kMaxExtra = 64;
    int64_t e = 0;
    while (e < kMaxExtra &&
           !NcnnAxisOutput(geometry_, num_blobs_, input_blob_, output_blob_, axis, padded + e))
      ++e;
    TORCH_CHECK(e < kMaxExtra, description_, ": no padded size near ", padded, " runs through the graph");
    begin[axis] = prepad_[axis] - tile.context[2 * axis];
    end[axis] = prepad_[axis] + e - tile.context[2 * axis + 1];
  }
  torch::Tensor in = x;
  if (begin[0] < 0 || end[0] < 0) {
    const int64_t cut = std::max<int64_t>(-begin[0], 0);
    in = in.narrow(2, cut, in.size(2) - cut - std::max<int64_t>(-end[0], 0));
  }
  if (begin[1] < 0 || end[1] < 0) {
    const int64_t cut = std::max<int64_t>(-begin[1], 0);
    in = in.narrow(3, cut, in.size(3) - cut - std::max<int64_t>(-end[1], 0));
  }
  in = ExtendBorder(in, std::max<int64_t>(begin[0], 0), std::max<int64_t>(end[0], 0),
                    std::max<int64_t>(begin[1], 0), std::max<int64_t>(end[1], 0), border_);
  torch::Tensor y = RunGraph(in, tile.stats);
  if (!y.defined()) return y;  // stats->Done()
  if (y.size(2) == size[0] * scale_ && y.size(3) == size[1] * scale_) return y;
  return y.narrow(2, 0, size[0] * scale_).narrow(3, 0, size[1] * scale_);
}

torch::Tensor NcnnNet::RunGraph(const torch::Tensor& x, FrameStats* stats) const {
  std::vector<torch::Tensor> blobs(num_blobs_);
  blobs[input_blob_] = x;
  for (const Op& op : ops_) {
    const torch::Tensor& in = blobs[op.bottoms[0]];
    const NcnnGeometry& g = op.geometry;
    torch::Tensor y;
    switch (op.kind) {
      case Op::kSplit:
        for (int top : op.tops) blobs[top] = in;
        break;
      case Op::kConv: {
        const bool symmetric = g.pad_begin[0] == g.pad_end[0] && g.pad_begin[1] == g.pad_end[1];
        // ncnn pads with zeros (pad_value 0 is the only one accepted).
        const torch::Tensor padded =
            symmetric ? in
                      : at::constant_pad_nd(in, {g.pad_begin[1], g.pad_end[1], g.pad_begin[0], g.pad_end[0]});
        const std::vector<int64_t> pad =
            symmetric ? std::vector<int64_t>{g.pad_begin[0], g.pad_begin[1]} : std::vector<int64_t>{0, 0};
        if (op.cudnn_fusable) {
          y = ConvBiasPrelu(cudnn_fusion_.get(), in, op.weight, op.bias_fp32, op.slope_fp32);
          break;
        }
        if (op.slope_fp32.defined()) {
          y = at::conv2d(padded, op.weight, /*bias=*/{}, {g.stride, g.stride}, pad, {op.dilation_h, op.dilation_w});
          y = FusedBiasPrelu(std::move(y), op.bias_fp32, op.slope_fp32);
          break;
        }
        y = at::conv2d(padded, op.weight, op.bias, {g.stride, g.stride}, pad, {op.dilation_h, op.dilation_w});
        y = op.prelu.defined() ? at::prelu(y, op.prelu) : Activate(y, op.activation, op.act_a, op.act_b);
        break;
      }
      case Op::kDeconv:
        // The full transposed convolution, then ncnn's pads cut off it.
        y = InFloatOnCpu(in, [&](const torch::Tensor& v) {
          const auto like = [&](const torch::Tensor& t) { return t.defined() ? t.to(v.scalar_type()) : t; };
          return at::conv_transpose2d(v, like(op.weight), like(op.bias), {g.stride, g.stride}, {0, 0}, {0, 0}, 1,
                                      {op.dilation_h, op.dilation_w});
        });
        y = CutBorder(y, g.pad_begin, g.pad_end);
        y = Activate(y, op.activation, op.act_a, op.act_b);
        break;
      case Op::kCrop:
        y = CutBorder(in, g.pad_begin, g.pad_end);
        break;
      case Op::kPool:
        y = op.pool_type == 1 ? FrameMean(in, stats, op.place) : in.amax({2, 3}, /*keepdim=*/true);
        // The collected statistic was the last thing this pass needed.
        if (stats != nullptr && stats->Done()) return torch::Tensor();
        break;
      case Op::kInnerProduct:
        y = at::linear(in.flatten(1), op.weight, op.bias).view({in.size(0), -1, 1, 1});
        y = Activate(y, op.activation, op.act_a, op.act_b);
        break;
      case Op::kPRelu:
        y = at::prelu(in, op.weight);
        break;
      case Op::kSigmoid:
        y = at::sigmoid(in);
        break;
      case Op::kPixelShuffle:
        if (op.mode == 0) {
          y = at::pixel_shuffle(in, op.factor);
        } else {  // DCR: channel = (ry·r + rx)·C + c
          const int64_t r = op.factor, n = in.size(0), c = in.size(1) / (r * r), h = in.size(2),
                        w = in.size(3);
          y = in.reshape({n, r, r, c, h, w}).permute({0, 3, 4, 1, 5, 2}).reshape({n, c, h * r, w * r});
        }
        break;
      case Op::kInterp: {
        // ncnn: out = (int)(in · scale) with a float scale.
        const int64_t oh = static_cast<int64_t>(static_cast<float>(in.size(2)) * op.height_scale);
        const int64_t ow = static_cast<int64_t>(static_cast<float>(in.size(3)) * op.width_scale);
        if (op.resize_type == 1) {
          y = at::upsample_nearest2d(in, {oh, ow});
        } else if (op.resize_type == 2) {
          y = at::upsample_bilinear2d(in, {oh, ow}, op.align_corners);
        } else {
          // ncnn's bicubic: A = -0.75, edge pixels repeated, source position
          // from the size ratio: PyTorch's bicubic with the output size given.
          y = at::upsample_bicubic2d(in, {oh, ow}, op.align_corners);
        }
        break;
      }
      case Op::kBinary: {
        const torch::Tensor& b = op.with_scalar ? torch::Tensor() : blobs[op.bottoms[1]];
        const auto s = op.scalar;
        switch (op.op_type) {
          case 0:
            y = op.with_scalar ? in + s : in + b;
            break;
          case 1:
            y = op.with_scalar ? in - s : in - b;
            break;
          case 2:
            y = op.with_scalar ? in * s : in * b;
            break;
          case 3:
            y = op.with_scalar ? in / s : in / b;
            break;
          case 4:
            y = op.with_scalar ? at::clamp_min(in, s) : at::maximum(in, b);
            break;
          case 5:
            y = op.with_scalar ? at::clamp_max(in, s) : at::minimum(in, b);
            break;
          case 7:
            y = op.with_scalar ? s - in : b - in;
            break;
          case 8:
            y = op.with_scalar ? at::reciprocal(in) * s : b / in;
            break;
          default:
            break;
        }
        break;
      }
      case Op::kEltwise: {
        const auto coeff = [&op](size_t i) { return op.coeffs.empty() ? 1.0 : op.coeffs[i]; };
        if (op.op_type == 1) {
          y = coeff(0) == 1.0 ? in.clone() : in * coeff(0);
          for (size_t i = 1; i < op.bottoms.size(); ++i) y.add_(blobs[op.bottoms[i]], coeff(i));
        } else {
          y = in.clone();
          for (size_t i = 1; i < op.bottoms.size(); ++i) {
            const torch::Tensor& b = blobs[op.bottoms[i]];
            y = op.op_type == 0 ? y.mul_(b) : at::maximum(y, b);
          }
        }
        break;
      }
      case Op::kConcat: {
        std::vector<torch::Tensor> parts;
        for (int b : op.bottoms) parts.push_back(blobs[b]);
        y = at::cat(parts, 1);
        break;
      }
    }
    if (op.kind != Op::kSplit) blobs[op.tops[0]] = std::move(y);
    for (int b : op.release) blobs[b] = torch::Tensor();
  }
  return blobs[output_blob_];
}

}  // namespace anifarm::engine
