// Shape inference for ncnn graphs (used by ParseNcnnParam and NcnnNet):
//
//   InferNcnnShapes  validates every layer's options and works out, per
//                    blob, the channel count and the spatial size as an
//                    affine function of the input's, side = scale·n + offset
//                    (per axis). Valid (unpadded) convolutions, strided
//                    convolutions, deconvolutions and crops all keep sizes
//                    affine, so the overall scale and the border the graph
//                    eats (waifu2x upconv_7: 2n - 28, Real-CUGAN up2x:
//                    2n - 72) come out of the graph itself: the input
//                    prepadding is -offset / (2·scale) px a side.
//   NcnnAxisOutput   the exact integer sizes for one input size along one
//                    axis; nullopt where a strided layer would drop pixels or
//                    merged branches would disagree (Real-CUGAN needs even
//                    padded sides), so the caller can pad a few more rows.
//
//   NcnnBlobPlacements  where each blob's pixels lie in the input (for the
//                    frame-wide statistics of tiled inference, which need
//                    to know which of a feature map's pixels a tile owns).
//
// Global pooling yields a "global" 1x1 blob (ncnn's 1-D blob), which
// InnerProduct consumes and BinaryOp broadcasts per channel.
#ifndef ANIFARM_NODE_ENGINE_NCNN_SHAPES_H_
#define ANIFARM_NODE_ENGINE_NCNN_SHAPES_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"

namespace anifarm::engine {

struct NcnnGraph;

// One layer's effect on the spatial size, per axis (0 = height, 1 = width).
struct NcnnGeometry {
  enum Kind {
    kSame,    // size unchanged (Split, PReLU, Sigmoid, Input)
    kConv,    // out = (n + pad_begin + pad_end - kernel) / stride + 1, exact
    kDeconv,  // out = (n - 1)·stride + kernel - pad_begin - pad_end
    kCrop,    // out = n - pad_begin - pad_end (pad_* = rows cut)
    kResize,  // out = (int)(n · factor) (PixelShuffle, Interp)
    kGlobal,  // 1x1 (global Pooling, InnerProduct)
    kMerge,   // inputs must agree, globals broadcast (BinaryOp, Eltwise, Concat)
  };
  Kind kind = kSame;
  std::vector<int> bottoms;  // blob indices, as in the layer
  std::vector<int> tops;
  int kernel[2] = {1, 1};  // dilated extent: dilation·(k - 1) + 1
  int stride = 1;
  int pad_begin[2] = {0, 0};
  int pad_end[2] = {0, 0};
  float factor[2] = {1, 1};
};

// Fills graph->blob_channels, graph->geometry, graph->input_blob,
// graph->output_blob, graph->scale and graph->prepad. InvalidArgument naming
// the graph's source and the layer otherwise.
absl::Status InferNcnnShapes(NcnnGraph* graph);

// Along `axis`, the output size for an input of `n` px, or nullopt when `n`
// does not run through exactly (a strided layer would drop pixels, merged
// branches would differ, or a size would reach zero).
std::optional<int64_t> NcnnAxisOutput(const std::vector<NcnnGeometry>& geometry, int num_blobs,
                                      int input_blob, int output_blob, int axis, int64_t n);

// Along `axis`, per blob: blob coordinate v = scale·u + offset for input
// coordinate u (continuous, pixel i spans [i, i+1); pixel centres map to
// pixel centres through convolutions, deconvolutions, crops and resizes).
// scale 0 for global blobs and blobs the input does not reach.
struct NcnnPlacement {
  double scale = 0;
  double offset = 0;
};
std::vector<NcnnPlacement> NcnnBlobPlacements(const std::vector<NcnnGeometry>& geometry, int num_blobs,
                                              int input_blob, int axis);

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_NCNN_SHAPES_H_
