// A loaded super-resolution network, whatever the file format and
// architecture it came from: the engine and the tiler only need the scale,
// a description and a forward pass, and, for networks with frame-wide
// statistics (frame_stats.h), how many there are and a forward pass that
// consults them.
#ifndef ANIFARM_NODE_ENGINE_NETWORK_H_
#define ANIFARM_NODE_ENGINE_NETWORK_H_

#include <torch/types.h>

#include <string>

#include "node/engine/frame_stats.h"

namespace anifarm::engine {

class Network {
 public:
  virtual ~Network() = default;

  // Overall scale of one Forward: output sides are scale() times the input's.
  virtual int scale() const = 0;
  // Architecture and hyper-parameters, e.g.
  // "SRVGGNetCompact(num_feat=64, num_conv=16, scale=2)".
  virtual std::string ToString() const = 0;
  virtual torch::Device device() const = 0;
  virtual torch::ScalarType dtype() const = 0;

  // x: [N, 3, H, W] in [0, 1] on device() with dtype(); returns
  // [N, 3, H·s, W·s] (not clamped). Thread-safe; call under
  // c10::InferenceMode.
  virtual torch::Tensor Forward(const torch::Tensor& x) const = 0;

  // The statistic layers over the whole frame in one forward pass (global
  // average pools, GroupNorms, channel attentions), in the order they run;
  // 0 for a local network, which a tiler then runs in one pass.
  virtual int frame_statistics() const { return 0; }
  // Input pixels beyond each side of a tile that ForwardTile takes from the
  // frame rather than padding the tile as Forward pads a frame: the border a
  // graph of valid convolutions eats, or the reach of a padded network
  // beyond what the blending overlap hides (then cropped off its output,
  // CropContext); 0 when tiles are padded like frames.
  virtual int tile_context() const { return 0; }
  // Why tiles cannot give this network's whole-frame output, for a network
  // whose output at a pixel depends on the frame's size and on pixels far
  // across it in ways no tile or frame statistic reproduces (OmniSR's grid
  // attention mixes pixels a frame height / 8 apart): the tiler then runs
  // frames whole, whatever the tile size. Empty for a tileable network.
  virtual std::string whole_frame_reason() const { return ""; }
  // What tile origins must be a multiple of for the network's strided
  // layers to sample a tile on the frame's grid (Real-CUGAN up2x: 2).
  virtual int tile_alignment() const { return 1; }
  // The layout the engine hands Forward its frames in. Networks of
  // convolutions take NHWC (channels-last), which their convolutions then
  // keep throughout: oneDNN's CPU kernels ran 1.1-1.5x faster on it in fp32
  // and 2-2.4x in bf16 (docs/benchmarks.md), and cuDNN's tensor-core kernels
  // are NHWC. Networks of reshapes and attention (DAT, OmniSR) and opaque
  // TorchScript keep the default NCHW. Forward accepts either.
  virtual torch::MemoryFormat input_memory_format() const { return torch::MemoryFormat::Contiguous; }

  // One tile of a frame for ForwardTile.
  struct Tile {
    // The frame-wide statistics the tiler drives; null: the tile's own.
    FrameStats* stats = nullptr;
    // Pixels of the input beyond the tile proper, top, bottom, left, right
    // (at most tile_context(); fewer at the frame border).
    int context[4] = {0, 0, 0, 0};
  };
  // Forward on one tile with its context, returning the output of the tile
  // proper (context cropped off), with the statistic layers consulting
  // tile.stats instead of averaging over the tile; the result may be
  // undefined once stats->Done(). By default Forward(x), cropped.
  virtual torch::Tensor ForwardTile(const torch::Tensor& x, const Tile& tile) const {
    return CropContext(Forward(x), tile, scale());
  }

 protected:
  // `y`, the output of a tile with its context at `scale` output pixels per
  // input pixel, without the context's part.
  static torch::Tensor CropContext(const torch::Tensor& y, const Tile& tile, int scale) {
    const int* c = tile.context;
    return y.narrow(2, int64_t{c[0]} * scale, y.size(2) - int64_t{c[0] + c[1]} * scale)
        .narrow(3, int64_t{c[2]} * scale, y.size(3) - int64_t{c[2] + c[3]} * scale);
  }
  // Where a feature map at input resolution, computed over a tile with its
  // context, lies over the tile proper (for FrameStats::Core).
  static FeaturePlacement ContextPlacement(const Tile& tile) {
    FeaturePlacement place;
    place.offset_h = tile.context[0];
    place.offset_w = tile.context[2];
    return place;
  }
};

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_NETWORK_H_
