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
  // Input pixels beyond each side of a tile that the tile's output depends
  // on and that ForwardTile takes from the frame (the border a graph of
  // valid convolutions eats), rather than padding the tile as Forward pads
  // a frame; 0 when tiles are padded like frames.
  virtual int tile_context() const { return 0; }
  // What tile origins must be a multiple of for the network's strided
  // layers to sample a tile on the frame's grid (Real-CUGAN up2x: 2).
  virtual int tile_alignment() const { return 1; }

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
    const torch::Tensor y = Forward(x);
    const int s = scale();
    const int* c = tile.context;
    return y.narrow(2, int64_t{c[0]} * s, y.size(2) - int64_t{c[0] + c[1]} * s)
        .narrow(3, int64_t{c[2]} * s, y.size(3) - int64_t{c[2] + c[3]} * s);
  }
};

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_NETWORK_H_
