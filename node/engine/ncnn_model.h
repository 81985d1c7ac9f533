// ncnn models (.param text graph + .bin weights, as shipped with
// Real-ESRGAN-ncnn-vulkan, waifu2x-ncnn-vulkan, realcugan-ncnn-vulkan and
// Video2X) read without ncnn and run with LibTorch ops:
//
//   ParseNcnnParam   the text .param: magic 7767517, layer and blob counts,
//                    then "Type Name nin nout bottoms... tops... k=v ..." lines.
//   LoadNcnnWeights  the .bin: per layer, in graph order, Convolution,
//                    Deconvolution and InnerProduct weights behind a 4-byte
//                    storage tag (0 = fp32, 0x01306B47 = fp16; int8 and
//                    table-quantised storage are refused), then the raw fp32
//                    bias; PReLU slopes raw fp32. Every read is
//                    bounds-checked and the file must be consumed exactly.
//   NcnnNet          runs the graph (Input, Split, Convolution and
//                    Deconvolution with any kernel / stride / dilation /
//                    padding and none / ReLU / leaky ReLU / clip / sigmoid
//                    activation, PReLU, Sigmoid, PixelShuffle, Interp nearest
//                    / bilinear / bicubic by scale factor, Crop of height and
//                    width, global Pooling, InnerProduct on its result,
//                    BinaryOp with per-channel broadcast, Eltwise, Concat on
//                    channels).
//
// The scale, the channel counts and the border the graph eats are inferred
// from the graph at load time (ncnn_shapes.h, never from the file name), so
// a graph that parses also runs: graphs of valid convolutions (waifu2x
// upconv_7, Real-CUGAN) get their input extended by that border (replicated
// or reflected, see ncnn_families.h) and, where strided layers need it, a few
// more rows and columns at the bottom and right, which are cropped off the
// output. The architecture is recognised for the description:
// SRVGGNetCompact (realesr-animevideov3, optionally followed by a resize
// Interp as in the x2/x3 graphs), RRDBNet (realesrgan-x4plus-anime), waifu2x
// UpConv7 and Real-CUGAN UpCunet.
#ifndef ANIFARM_NODE_ENGINE_NCNN_MODEL_H_
#define ANIFARM_NODE_ENGINE_NCNN_MODEL_H_

#include <torch/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "node/engine/cudnn_fusion.h"
#include "node/engine/ncnn_families.h"
#include "node/engine/ncnn_shapes.h"
#include "node/engine/network.h"
#include "node/engine/pth_checkpoint.h"
#include "node/engine/srvgg_compact.h"

namespace anifarm::engine {

// ncnn .bin storage tags of flag-tagged weights.
inline constexpr uint32_t kNcnnTagFp32 = 0;
inline constexpr uint32_t kNcnnTagFp16 = 0x01306B47;
inline constexpr uint32_t kNcnnTagInt8 = 0x000D4B38;

struct NcnnLayer {
  std::string type;
  std::string name;
  std::vector<int> bottoms;  // blob indices
  std::vector<int> tops;
  // Param id → values (one value, or the elements of an array param, whose
  // id is written as -23300 - id in the file).
  std::map<int, std::vector<double>> params;

  // Filled by LoadNcnnWeights (CPU float32), in ncnn's layout: Convolution
  // and Deconvolution weight [out, in, kh, kw], InnerProduct weight
  // [out, in], and bias [out] (undefined when bias_term=0); PReLU slopes in
  // `weight`.
  torch::Tensor weight;
  torch::Tensor bias;

  double Param(int id, double fallback) const;
  int IntParam(int id, int fallback) const;
};

struct NcnnGraph {
  std::string source;  // the .param path, for errors
  std::vector<NcnnLayer> layers;
  std::vector<std::string> blob_names;
  int input_blob = -1;
  int output_blob = -1;
  // From shape inference over the graph (ParseNcnnParam).
  std::vector<int> blob_channels;
  std::vector<NcnnGeometry> geometry;  // one per layer
  int scale = 0;
  // Input pixels the graph eats on each side (height, width): the output is
  // scale·(n - 2·prepad).
  int prepad[2] = {0, 0};
};

// The errors of the .param reader and of shape inference (ncnn_shapes.h):
// InvalidArgument naming the file, and the layer when there is one.
absl::Status NcnnError(absl::string_view source, absl::string_view what);
absl::Status NcnnLayerError(absl::string_view source, const NcnnLayer& layer,
                            absl::string_view what);
// ncnn writes integer parameters as numbers; true when `v` is a whole one.
bool IsWholeNumber(double v);

// Parses and validates the graph: supported layer types and options only,
// each blob produced once before use, one Input and one output, channel
// counts and sizes consistent, RGB in and out, an integer overall scale and
// a whole-pixel border eaten on each side.
// InvalidArgument naming `source` otherwise.
absl::StatusOr<NcnnGraph> ParseNcnnParam(absl::string_view text, absl::string_view source);

// Reads the weights of every layer of `graph` from the .bin bytes.
// InvalidArgument naming `source` (the .bin path) for a short or long file
// (with the sizes the .param implies), an unsupported storage tag or
// non-finite weights.
absl::Status LoadNcnnWeights(absl::string_view bin, absl::string_view source, NcnnGraph* graph);

// Reads `param_path` and the .bin next to it (same name, .bin extension).
absl::StatusOr<NcnnGraph> LoadNcnnModel(const std::string& param_path);

// The graph recognised as SRVGGNetCompact: its config, its weights under the
// PyTorch key names (body.N.weight/bias, usable with CompactNet::Create) and
// the factor of a trailing resize (1 when the graph has none).
struct NcnnCompactMatch {
  CompactConfig config;
  TensorMap weights;
  double resize = 1.0;
  int resize_type = 0;  // ncnn Interp resize_type of the trailing resize
};
std::optional<NcnnCompactMatch> MatchNcnnCompact(const NcnnGraph& graph);

// "SRVGGNetCompact(num_feat=64, num_conv=16, scale=4) [ncnn]",
// "RRDBNet(num_feat=64, num_block=6, scale=4) [ncnn]",
// "waifu2x UpConv7(scale=2, prepad=7 replicate) [ncnn]",
// "Real-CUGAN UpCunet2x(se_blocks=4, scale=2, prepad=18 reflect) [ncnn]", or
// a generic summary.
std::string DescribeNcnnGraph(const NcnnGraph& graph);

class NcnnNet : public Network {
 public:
  // Copies the loaded weights to `device` as `dtype`.
  static absl::StatusOr<std::unique_ptr<NcnnNet>> Create(const NcnnGraph& graph, torch::Device device,
                                                         torch::ScalarType dtype);

  int scale() const override { return scale_; }
  std::string ToString() const override { return description_; }
  torch::Device device() const override { return device_; }
  torch::ScalarType dtype() const override { return dtype_; }
  torch::Tensor Forward(const torch::Tensor& x) const override;
  // The global average Poolings (Real-CUGAN's squeeze-excitation blocks).
  int frame_statistics() const override { return frame_statistics_; }
  // The border the graph eats, plus the rows a strided graph may need at
  // the bottom and right: a tile reads its neighbours' pixels there, where
  // Forward extends a frame by reflecting or replicating its edge. A graph
  // that pads its own convolutions takes 8 pixels it runs and crops off.
  int tile_context() const override { return tile_context_; }
  // What the strided layers subsample by (Real-CUGAN up2x: 2).
  int tile_alignment() const override { return tile_alignment_; }
  torch::MemoryFormat input_memory_format() const override { return torch::MemoryFormat::ChannelsLast; }
  torch::Tensor ForwardTile(const torch::Tensor& x, const Tile& tile) const override;

 private:
  // One layer, resolved for execution.
  struct Op {
    enum Kind {
      kSplit, kConv, kDeconv, kPRelu, kSigmoid, kPixelShuffle, kInterp, kCrop, kPool, kInnerProduct,
      kBinary, kEltwise, kConcat
    };
    Kind kind = kSplit;
    std::vector<int> bottoms;
    std::vector<int> tops;
    std::vector<int> release;  // blobs no later op reads: freed after this one
    torch::Tensor weight;
    torch::Tensor bias;
    NcnnGeometry geometry;  // kernel, stride, pads / crop
    int dilation_h = 1, dilation_w = 1;
    int pool_type = 0;   // 0 max, 1 average
    int activation = 0;  // ncnn activation_type
    double act_a = 0, act_b = 0;
    // A convolution whose only reader was a PReLU layer runs it itself
    // (folded at load): its slopes, [C] or [1].
    torch::Tensor prelu;
    // With the fused epilogue (CUDA, fused_epilogue.h), for a convolution
    // followed by a PReLU or ncnn's ReLU/LeakyReLU: the bias and one slope
    // per channel in fp32; the convolution then runs without its bias.
    torch::Tensor bias_fp32;
    torch::Tensor slope_fp32;
    // With the cuDNN fusion as well (cudnn_fusion.h): a stride-1, undilated
    // convolution with its kernel's own symmetric padding, whose weights
    // are then channels-last, runs as ConvBiasPrelu.
    bool cudnn_fusable = false;
    int factor = 0;  // PixelShuffle upscale factor
    int mode = 0;    // PixelShuffle mode
    int resize_type = 0;
    float height_scale = 1, width_scale = 1;
    bool align_corners = false;
    int op_type = 0;
    bool with_scalar = false;
    double scalar = 0;
    std::vector<double> coeffs;
    // Average Pooling: where its input lies over the unpadded input.
    FeaturePlacement place;
  };
  NcnnNet(torch::Device device, torch::ScalarType dtype) : device_(device), dtype_(dtype) {}

  // The graph itself on an already extended input; undefined once
  // stats->Done().
  torch::Tensor RunGraph(const torch::Tensor& x, FrameStats* stats) const;

  torch::Device device_;
  torch::ScalarType dtype_;
  int scale_ = 0;
  std::string description_;
  std::vector<Op> ops_;
  std::unique_ptr<ConvBiasPreluFusion> cudnn_fusion_;  // with ANIFARM_CUDNN_FUSION=1
  int num_blobs_ = 0;
  int input_blob_ = -1;
  int output_blob_ = -1;
  std::vector<NcnnGeometry> geometry_;
  int prepad_[2] = {0, 0};
  NcnnBorder border_ = NcnnBorder::kReplicate;
  int frame_statistics_ = 0;
  int tile_context_ = 0;
  int tile_alignment_ = 1;
};

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_NCNN_MODEL_H_
