// Recognition of the ncnn upscaler families that eat a border of their
// input (valid, unpadded convolutions), for their description and for how
// the input is extended before the graph runs:
//
//   waifu2x upconv_7   6 valid 3x3 convs with leaky ReLU 0.1, then a 4x4
//                      stride-2 Deconvolution: output 2n - 28, so 7 px of
//                      prepadding; waifu2x-ncnn-vulkan replicates the edge.
//   Real-CUGAN (se)    UNet1 + UNet2 with squeeze-excitation blocks (global
//                      average Pooling, InnerProduct ReLU, InnerProduct
//                      sigmoid, BinaryOp mul), Crop-ed skips and stride-2
//                      (De)Convolutions: up2x outputs 2n - 72, 18 px of
//                      prepadding; realcugan-ncnn-vulkan reflects the edge
//                      and pads the padded side to an even size.
//
// The prepadding itself comes from the graph (ncnn_shapes.h), never from
// these names; only the border mode does.
#ifndef ANIFARM_NODE_ENGINE_NCNN_FAMILIES_H_
#define ANIFARM_NODE_ENGINE_NCNN_FAMILIES_H_

#include <optional>
#include <string>

namespace anifarm::engine {

struct NcnnGraph;

// How the input is extended by the graph's prepadding (ncnn's
// copy_make_border types).
enum class NcnnBorder { kReplicate, kReflect };

struct NcnnFamily {
  std::string description;  // e.g. "waifu2x UpConv7(scale=2, prepad=7 replicate) [ncnn]"
  NcnnBorder border = NcnnBorder::kReplicate;
};

// The waifu2x upconv or Real-CUGAN family of `graph`, if it is one.
std::optional<NcnnFamily> MatchNcnnPaddedFamily(const NcnnGraph& graph);

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_NCNN_FAMILIES_H_
