#include "node/engine/ncnn_shapes.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "node/engine/ncnn_model.h"

namespace anifarm::engine {
namespace {

constexpr int kMaxChannels = 1 << 16;
constexpr int kMaxKernel = 31;
constexpr int kMaxStride = 8;
constexpr int kMaxPad = 64;
// Prepadding beyond this is not a plausible border for a 3x3-conv network.
constexpr int kMaxPrepad = 64;
// An ncnn Crop end at or beyond this means "to the end".
constexpr int kCropToEnd = 1 << 20;

bool Near(double a, double b) { return std::fabs(a - b) < 1e-6; }

// A blob's spatial size as scale·n + off[axis], or a global 1x1 blob.
struct Extent {
  double scale = 0;
  double off[2] = {0, 0};
  bool global = false;

  bool operator==(const Extent& o) const {
    return global == o.global &&
           (global || (Near(scale, o.scale) && Near(off[0], o.off[0]) && Near(off[1], o.off[1])));
  }
  std::string ToString() const {
    if (global) return "1x1 (global)";
    return absl::StrCat(scale, "·n + (", off[0], ", ", off[1], ")");
  }
};

// The fused activation options shared by Convolution, Deconvolution and
// InnerProduct (0 none, 1 ReLU, 2 leaky ReLU, 3 clip, 4 sigmoid).
absl::Status CheckActivation(absl::string_view src, const NcnnLayer& layer) {
  const int act = layer.IntParam(9, 0);
  if (act < 0 || act > 4) return NcnnLayerError(src, layer, absl::StrCat("unsupported activation_type ", act));
  const auto it = layer.params.find(10);
  const size_t act_params = it == layer.params.end() ? 0 : it->second.size();
  if ((act == 2 && act_params < 1) || (act == 3 && act_params < 2)) {
    return NcnnLayerError(src, layer, "missing activation_params");
  }
  return absl::OkStatus();
}

// Convolution and Deconvolution share their window options: kernel,
// dilation, stride and padding (ids 1/11, 2/12, 3/13, 4/15/14/16).
absl::Status WindowGeometry(absl::string_view src, const NcnnLayer& layer, NcnnGeometry* g) {
  const int kw = layer.IntParam(1, 0), kh = layer.IntParam(11, kw);
  const int dw = layer.IntParam(2, 1), dh = layer.IntParam(12, dw);
  const int sw = layer.IntParam(3, 1), sh = layer.IntParam(13, sw);
  const int pl = layer.IntParam(4, 0), pr = layer.IntParam(15, pl);
  const int pt = layer.IntParam(14, pl), pb = layer.IntParam(16, pt);
  if (kw < 1 || kh < 1 || kw > kMaxKernel || kh > kMaxKernel) {
    return NcnnLayerError(src, layer, absl::StrCat("unsupported kernel ", kw, "x", kh));
  }
  if (dw < 1 || dh < 1 || dw > 8 || dh > 8) return NcnnLayerError(src, layer, "unsupported dilation");
  // One scale per blob for both axes: strides must agree.
  if (sw < 1 || sw > kMaxStride || sh != sw) {
    return NcnnLayerError(src, layer,
                    absl::StrCat("unsupported stride ", sw, "x", sh, " (equal strides 1 to 8 only)"));
  }
  // Negative pads are ncnn's SAME modes (-233/-234), which depend on the
  // actual input size.
  for (int p : {pl, pr, pt, pb}) {
    if (p < 0 || p > kMaxPad) {
      return NcnnLayerError(src, layer,
                      absl::StrCat("unsupported padding ", p, " (SAME padding modes are not supported)"));
    }
  }
  g->kernel[0] = dh * (kh - 1) + 1;
  g->kernel[1] = dw * (kw - 1) + 1;
  g->stride = sw;
  g->pad_begin[0] = pt;
  g->pad_end[0] = pb;
  g->pad_begin[1] = pl;
  g->pad_end[1] = pr;
  return absl::OkStatus();
}

// Weight count of a Convolution/Deconvolution: num_output·in·kh·kw.
absl::Status CheckWeights(absl::string_view src, const NcnnLayer& layer, int in_channels) {
  const int num_output = layer.IntParam(0, 0);
  const int kw = layer.IntParam(1, 0), kh = layer.IntParam(11, kw);
  const double weight_size = layer.Param(6, 0);
  const double per_in = static_cast<double>(num_output) * kw * kh;
  if (!IsWholeNumber(weight_size) || weight_size < per_in || std::fmod(weight_size, per_in) != 0) {
    return NcnnLayerError(src, layer,
                    absl::StrCat("weight_data_size ", weight_size, " is not a multiple of ", num_output, "x",
                                 kw, "x", kh));
  }
  const double in_ch = weight_size / per_in;
  if (in_channels != in_ch) {
    return NcnnLayerError(src, layer,
                    absl::StrCat("weights for ", in_ch, " input channels, but its input has ", in_channels));
  }
  return absl::OkStatus();
}

// Crop by numpy-style starts/ends/axes (ids 9, 10, 11) on height and width;
// the older offset form and channel crops are refused at parse time.
absl::Status CropGeometry(absl::string_view src, const NcnnLayer& layer, NcnnGeometry* g) {
  const auto starts = layer.params.find(9);
  const auto ends = layer.params.find(10);
  const auto axes = layer.params.find(11);
  if (starts == layer.params.end() || ends == layer.params.end() || axes == layer.params.end() ||
      starts->second.size() != ends->second.size() || axes->second.size() != starts->second.size()) {
    return NcnnLayerError(src, layer, "only Crop with starts, ends and axes arrays of one length is supported");
  }
  for (size_t i = 0; i < axes->second.size(); ++i) {
    const double axis = axes->second[i];
    double start = starts->second[i], end = ends->second[i];
    // Axes of a [C, H, W] blob, negative from the back.
    const int a = axis == 1 || axis == -2 ? 0 : axis == 2 || axis == -1 ? 1 : -1;
    if (a < 0)
      return NcnnLayerError(src, layer, absl::StrCat("unsupported crop axis ", axis, " (height and width only)"));
    if (start == -233) start = 0;
    if (end == -233 || end >= kCropToEnd) end = 0;
    // A negative start or a positive end would give a fixed size, not one
    // that follows the input's.
    if (!IsWholeNumber(start) || !IsWholeNumber(end) || start < 0 || start > kMaxPad || end > 0 || end < -kMaxPad) {
      return NcnnLayerError(src, layer, absl::StrCat("unsupported crop ", start, ":", end));
    }
    g->pad_begin[a] = static_cast<int>(start);
    g->pad_end[a] = static_cast<int>(-end);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status InferNcnnShapes(NcnnGraph* graph) {
  const std::string& src = graph->source;
  const size_t nb = graph->blob_names.size();
  graph->blob_channels.assign(nb, -1);
  graph->geometry.clear();
  std::vector<Extent> extent(nb);
  std::vector<int> consumers(nb, 0);
  for (const NcnnLayer& layer : graph->layers) {
    for (int b : layer.bottoms) ++consumers[b];
  }
  auto& ch = graph->blob_channels;
  for (NcnnLayer& layer : graph->layers) {
    NcnnGeometry g;
    g.bottoms = layer.bottoms;
    g.tops = layer.tops;
    const auto expect_io = [&](int nin, int nout) -> absl::Status {
      if ((nin >= 0 && static_cast<int>(layer.bottoms.size()) != nin) ||
          (nout >= 0 && static_cast<int>(layer.tops.size()) != nout)) {
        return NcnnLayerError(src, layer, absl::StrCat("expected ", nin, " input(s) and ", nout, " output(s)"));
      }
      return absl::OkStatus();
    };
    const std::string& t = layer.type;
    if (t == "Input") {
      if (absl::Status s = expect_io(0, 1); !s.ok()) return s;
      if (graph->input_blob >= 0) return NcnnLayerError(src, layer, "a second Input layer");
      graph->input_blob = layer.tops[0];
      ch[layer.tops[0]] = 3;  // an RGB frame
      extent[layer.tops[0]].scale = 1.0;
      graph->geometry.push_back(std::move(g));
      continue;
    }
    if (layer.bottoms.empty()) return NcnnLayerError(src, layer, "no input");
    const int in = layer.bottoms[0];
    if (t == "Split") {
      if (absl::Status s = expect_io(1, -1); !s.ok()) return s;
      for (int top : layer.tops) {
        ch[top] = ch[in];
        extent[top] = extent[in];
      }
      graph->geometry.push_back(std::move(g));
      continue;
    }
    if (layer.tops.size() != 1) return NcnnLayerError(src, layer, "expected one output");
    const int out = layer.tops[0];
    Extent& e = extent[out];
    e = extent[in];
    const bool spatial_op = t == "Convolution" || t == "Deconvolution" || t == "Crop" || t == "Pooling" ||
                            t == "PixelShuffle" || t == "Interp";
    if (spatial_op && extent[in].global) return NcnnLayerError(src, layer, "input is a 1x1 global result");
    if (t == "Convolution" || t == "Deconvolution") {
      if (absl::Status s = expect_io(1, 1); !s.ok()) return s;
      const bool deconv = t == "Deconvolution";
      const int num_output = layer.IntParam(0, 0);
      if (num_output < 1 || num_output > kMaxChannels) return NcnnLayerError(src, layer, "bad num_output");
      if (absl::Status s = WindowGeometry(src, layer, &g); !s.ok()) return s;
      if (absl::Status s = CheckActivation(src, layer); !s.ok()) return s;
      if (absl::Status s = CheckWeights(src, layer, ch[in]); !s.ok()) return s;
      if (!deconv) {
        if (layer.IntParam(8, 0) != 0) return NcnnLayerError(src, layer, "int8 convolutions are not supported");
        if (layer.IntParam(19, 0) != 0) return NcnnLayerError(src, layer, "dynamic weights are not supported");
        if (layer.Param(18, 0) != 0) return NcnnLayerError(src, layer, "non-zero pad_value is not supported");
      } else {
        if (layer.IntParam(18, 0) != 0 || layer.IntParam(19, 0) != 0) {
          return NcnnLayerError(src, layer, "output padding is not supported");
        }
        if (layer.IntParam(20, 0) != 0 || layer.IntParam(21, 0) != 0) {
          return NcnnLayerError(src, layer, "fixed output sizes are not supported");
        }
        if (layer.IntParam(28, 0) != 0) return NcnnLayerError(src, layer, "dynamic weights are not supported");
      }
      g.kind = deconv ? NcnnGeometry::kDeconv : NcnnGeometry::kConv;
      const double s = g.stride;
      for (int a = 0; a < 2; ++a) {
        const double pads = g.pad_begin[a] + g.pad_end[a];
        e.off[a] = deconv ? (extent[in].off[a] - 1) * s + g.kernel[a] - pads
                          : (extent[in].off[a] + pads - g.kernel[a]) / s + 1;
      }
      e.scale = deconv ? extent[in].scale * s : extent[in].scale / s;
      ch[out] = num_output;
    } else if (t == "Crop") {
      if (absl::Status s = expect_io(1, 1); !s.ok()) return s;
      if (absl::Status s = CropGeometry(src, layer, &g); !s.ok()) return s;
      g.kind = NcnnGeometry::kCrop;
      for (int a = 0; a < 2; ++a) e.off[a] -= g.pad_begin[a] + g.pad_end[a];
      ch[out] = ch[in];
    } else if (t == "Pooling") {
      if (absl::Status s = expect_io(1, 1); !s.ok()) return s;
      const int type = layer.IntParam(0, 0);
      if (layer.IntParam(4, 0) != 1 || layer.IntParam(7, 0) != 0 || (type != 0 && type != 1)) {
        return NcnnLayerError(src, layer, "only global max or average pooling is supported");
      }
      g.kind = NcnnGeometry::kGlobal;
      e.global = true;
      ch[out] = ch[in];
    } else if (t == "InnerProduct") {
      if (absl::Status s = expect_io(1, 1); !s.ok()) return s;
      // On a [C, H, W] blob ncnn flattens; only the SE-block use (after
      // global pooling) keeps a size-independent weight count.
      if (!extent[in].global)
        return NcnnLayerError(src, layer, "only InnerProduct on a global pooling result is supported");
      const int num_output = layer.IntParam(0, 0);
      if (num_output < 1 || num_output > kMaxChannels) return NcnnLayerError(src, layer, "bad num_output");
      if (layer.IntParam(8, 0) != 0) return NcnnLayerError(src, layer, "int8 weights are not supported");
      if (absl::Status s = CheckActivation(src, layer); !s.ok()) return s;
      if (layer.Param(2, 0) != static_cast<double>(num_output) * ch[in]) {
        return NcnnLayerError(
            src, layer,
            absl::StrCat("weight_data_size ", layer.Param(2, 0), " is not ", num_output, "x", ch[in]));
      }
      g.kind = NcnnGeometry::kGlobal;
      ch[out] = num_output;
    } else if (t == "PReLU") {
      if (absl::Status s = expect_io(1, 1); !s.ok()) return s;
      const int n = layer.IntParam(0, 0);
      if (n != 1 && n != ch[in]) {
        return NcnnLayerError(src, layer, absl::StrCat(n, " slopes for ", ch[in], " channels"));
      }
      ch[out] = ch[in];
    } else if (t == "Sigmoid") {
      if (absl::Status s = expect_io(1, 1); !s.ok()) return s;
      ch[out] = ch[in];
    } else if (t == "PixelShuffle") {
      if (absl::Status s = expect_io(1, 1); !s.ok()) return s;
      const int r = layer.IntParam(0, 1);
      const int mode = layer.IntParam(1, 0);
      if (r < 1 || r > 16 || (mode != 0 && mode != 1) || ch[in] % (r * r) != 0) {
        return NcnnLayerError(
            src, layer,
            absl::StrCat("upscale_factor ", r, " mode ", mode, " on ", ch[in], " channels is not supported"));
      }
      g.kind = NcnnGeometry::kResize;
      g.factor[0] = g.factor[1] = static_cast<float>(r);
      ch[out] = ch[in] / (r * r);
      e.scale *= r;
      for (double& o : e.off) o *= r;
    } else if (t == "Interp") {
      if (absl::Status s = expect_io(1, 1); !s.ok()) return s;
      const int type = layer.IntParam(0, 0);
      const double hs = layer.Param(1, 1), ws = layer.Param(2, 1);
      if (type < 1 || type > 3) return NcnnLayerError(src, layer, absl::StrCat("unsupported resize_type ", type));
      if (layer.IntParam(3, 0) != 0 || layer.IntParam(4, 0) != 0 || layer.IntParam(5, 0) != 0) {
        return NcnnLayerError(src, layer, "fixed or dynamic output sizes are not supported (only scale factors)");
      }
      if (!(hs > 0.01 && hs <= 16) || hs != ws) {
        return NcnnLayerError(src, layer, absl::StrCat("unsupported scale ", hs, "x", ws));
      }
      if (type == 1 && layer.IntParam(6, 0) != 0) return NcnnLayerError(src, layer, "align_corner with nearest");
      const float f = static_cast<float>(hs);
      // ncnn truncates n·scale: affine only when the offset scales exactly.
      for (double& o : e.off) {
        o *= f;
        if (!IsWholeNumber(o)) return NcnnLayerError(src, layer, "resize of a border-cropped blob by a fractional factor");
      }
      g.kind = NcnnGeometry::kResize;
      g.factor[0] = g.factor[1] = f;
      ch[out] = ch[in];
      e.scale *= f;
    } else if (t == "BinaryOp" || t == "Eltwise") {
      const bool scalar = t == "BinaryOp" && layer.IntParam(1, 0) != 0;
      const int op = layer.IntParam(0, 0);
      if (t == "BinaryOp" && (op < 0 || op > 8 || op == 6)) {
        return NcnnLayerError(src, layer, absl::StrCat("unsupported op_type ", op));
      }
      if (t == "Eltwise" && (op < 0 || op > 2)) {
        return NcnnLayerError(src, layer, absl::StrCat("unsupported op_type ", op));
      }
      if (scalar ? layer.bottoms.size() != 1
                 : (layer.bottoms.size() < 2 || (t == "BinaryOp" && layer.bottoms.size() != 2))) {
        return NcnnLayerError(src, layer, "wrong number of inputs");
      }
      const auto coeffs = layer.params.find(1);
      if (t == "Eltwise" && coeffs != layer.params.end() && !coeffs->second.empty() &&
          coeffs->second.size() != layer.bottoms.size()) {
        return NcnnLayerError(src, layer, "coefficient count differs from the input count");
      }
      // BinaryOp broadcasts a global [C] blob over a [C, H, W] one per
      // channel (the SE block's scaling); otherwise shapes must agree.
      const bool broadcast =
          t == "BinaryOp" && !scalar && extent[layer.bottoms[0]].global != extent[layer.bottoms[1]].global;
      if (broadcast && extent[in].global) e = extent[layer.bottoms[1]];
      for (int b : layer.bottoms) {
        if (ch[b] != ch[in] || (!(extent[b] == extent[in]) && !broadcast)) {
          return NcnnLayerError(
              src, layer,
              absl::StrCat("inputs of different shapes (", ch[b], " channels of ", extent[b].ToString(),
                           " vs ", ch[in], " of ", extent[in].ToString(), ")"));
        }
      }
      g.kind = NcnnGeometry::kMerge;
      ch[out] = ch[in];
    } else if (t == "Concat") {
      const int axis = layer.IntParam(0, 0);
      if (axis != 0 && axis != -3) return NcnnLayerError(src, layer, "only channel concatenation is supported");
      int64_t sum = 0;
      for (int b : layer.bottoms) {
        if (!(extent[b] == extent[in])) return NcnnLayerError(src, layer, "inputs of different sizes");
        sum += ch[b];
      }
      if (sum > kMaxChannels) return NcnnLayerError(src, layer, "too many channels");
      g.kind = NcnnGeometry::kMerge;
      ch[out] = static_cast<int>(sum);
    } else {
      return NcnnLayerError(src, layer, "unsupported layer type");
    }
    graph->geometry.push_back(std::move(g));
  }
  if (graph->input_blob < 0) return NcnnError(src, "no Input layer");
  for (size_t b = 0; b < nb; ++b) {
    if (consumers[b] == 0 && static_cast<int>(b) != graph->input_blob) {
      if (graph->output_blob >= 0) {
        return NcnnError(src, absl::StrCat("more than one output blob (", graph->blob_names[graph->output_blob],
                                     ", ", graph->blob_names[b], ")"));
      }
      graph->output_blob = static_cast<int>(b);
    }
  }
  if (graph->output_blob < 0) return NcnnError(src, "no output blob");
  if (ch[graph->output_blob] != 3) {
    return NcnnError(src, absl::StrCat("output has ", ch[graph->output_blob], " channels, not RGB"));
  }
  const Extent& result = extent[graph->output_blob];
  if (result.global) return NcnnError(src, "the output is a 1x1 global result, not an image");
  const double s = result.scale;
  const long rounded = std::lround(s);
  if (rounded < 1 || rounded > 16 || std::fabs(s - rounded) > 1e-5) {
    return NcnnError(src, absl::StrCat("the graph's overall scale ", s, " is not a whole number from 1 to 16"));
  }
  graph->scale = static_cast<int>(rounded);
  // The output is scale·(n + 2·prepad) + off = scale·n for the input padded
  // by prepad on each side.
  for (int a = 0; a < 2; ++a) {
    const double pad = -result.off[a] / (2.0 * graph->scale);
    if (!IsWholeNumber(pad) || pad < 0 || pad > kMaxPrepad) {
      return NcnnError(src, absl::StrCat("the graph's output is ", result.off[a], " px off ", graph->scale,
                                   "x its input's ", a == 0 ? "height" : "width",
                                   ", not a border of whole input pixels on each side"));
    }
    graph->prepad[a] = static_cast<int>(pad);
  }
  return absl::OkStatus();
}

std::optional<int64_t> NcnnAxisOutput(const std::vector<NcnnGeometry>& geometry, int num_blobs,
                                      int input_blob, int output_blob, int axis, int64_t n) {
  constexpr int64_t kGlobal = 0;  // sizes are >= 1 otherwise
  std::vector<int64_t> size(num_blobs, -1);
  size[input_blob] = n;
  for (const NcnnGeometry& g : geometry) {
    if (g.bottoms.empty()) continue;  // Input
    const int64_t in = size[g.bottoms[0]];
    int64_t out = in;
    switch (g.kind) {
      case NcnnGeometry::kSame:
        break;
      case NcnnGeometry::kConv: {
        const int64_t span = in + g.pad_begin[axis] + g.pad_end[axis] - g.kernel[axis];
        if (span < 0 || span % g.stride != 0) return std::nullopt;
        out = span / g.stride + 1;
        break;
      }
      case NcnnGeometry::kDeconv:
        out = (in - 1) * g.stride + g.kernel[axis] - g.pad_begin[axis] - g.pad_end[axis];
        break;
      case NcnnGeometry::kCrop:
        out = in - g.pad_begin[axis] - g.pad_end[axis];
        break;
      case NcnnGeometry::kResize:
        out = static_cast<int64_t>(static_cast<float>(in) * g.factor[axis]);
        break;
      case NcnnGeometry::kGlobal:
        out = kGlobal;
        break;
      case NcnnGeometry::kMerge: {
        out = kGlobal;
        for (int b : g.bottoms) {
          if (size[b] == kGlobal) continue;
          if (out != kGlobal && size[b] != out) return std::nullopt;
          out = size[b];
        }
        break;
      }
    }
    // Spatial layers never see a global blob (checked at parse time).
    const bool spatial = g.kind == NcnnGeometry::kConv || g.kind == NcnnGeometry::kDeconv ||
                         g.kind == NcnnGeometry::kCrop || g.kind == NcnnGeometry::kResize;
    if (spatial && out < 1) return std::nullopt;
    for (int top : g.tops) size[top] = out;
  }
  const int64_t result = size[output_blob];
  return result >= 1 ? std::optional<int64_t>(result) : std::nullopt;
}

std::vector<NcnnPlacement> NcnnBlobPlacements(const std::vector<NcnnGeometry>& geometry, int num_blobs,
                                              int input_blob, int axis) {
  std::vector<NcnnPlacement> place(num_blobs);
  place[input_blob] = {1, 0};
  for (const NcnnGeometry& g : geometry) {
    if (g.bottoms.empty()) continue;  // Input
    const NcnnPlacement in = place[g.bottoms[0]];
    NcnnPlacement out = in;
    const double k = g.kernel[axis], s = g.stride, pad = g.pad_begin[axis];
    switch (g.kind) {
      case NcnnGeometry::kSame:
        break;
      case NcnnGeometry::kConv:  // output pixel j reads input [s·j - pad, s·j - pad + k)
        out = {in.scale / s, (in.offset + pad - (k - s) / 2) / s};
        break;
      case NcnnGeometry::kDeconv:  // input pixel i writes [s·i, s·i + k), then pad cut
        out = {in.scale * s, in.offset * s + (k - s) / 2 - pad};
        break;
      case NcnnGeometry::kCrop:
        out = {in.scale, in.offset - pad};
        break;
      case NcnnGeometry::kResize:
        out = {in.scale * g.factor[axis], in.offset * g.factor[axis]};
        break;
      case NcnnGeometry::kGlobal:
        out = {0, 0};
        break;
      case NcnnGeometry::kMerge:
        out = {0, 0};
        for (int b : g.bottoms) {
          if (place[b].scale != 0) {
            out = place[b];
            break;
          }
        }
        break;
    }
    if (in.scale == 0 && g.kind != NcnnGeometry::kMerge) out = {0, 0};
    for (int top : g.tops) place[top] = out;
  }
  return place;
}

}  // namespace anifarm::engine
