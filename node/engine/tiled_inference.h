// Tiled inference with blended seams: frames larger than a tile are cut into
// overlapping tiles (bounded memory), each tile is upscaled on its own and
// the results are blended with smooth weights, result = Σ tile·w / Σ w.
//
// The weight of a tile falls from 1 in its interior towards ~0 (never 0) at
// edges shared with a neighbour, over `overlap` input pixels, with a Gaussian
// profile. Edges on the frame border keep weight 1: no other tile covers
// those pixels, and the network sees the same zero padding there as when the
// whole frame is run, so nothing needs hiding. Near a shared edge the
// network's output is wrong (it saw zero padding instead of the neighbour's
// pixels); the steep profile makes the tile whose edge is farther dominate.
// Networks that declare a tile context (graphs of valid convolutions that
// eat a border) get the neighbours' pixels instead, and no tile is wrong.
//
// That makes a local network (every output pixel depends on a bounded
// neighbourhood) give the whole-frame result. A network with frame-wide
// statistics (Network::frame_statistics() > 0: Real-CUGAN's
// squeeze-excitation, GroupNorm, channel attention) is run in k + 1 passes
// over the tiles instead (frame_stats.h): k passes collect the statistics
// over the tiles' cores, the last one runs with them and is blended. A tile's
// core is the part of the frame it owns: its span cut in the middle of the
// overlap with each neighbour, and open-ended at the frame border.
#ifndef ANIFARM_NODE_ENGINE_TILED_INFERENCE_H_
#define ANIFARM_NODE_ENGINE_TILED_INFERENCE_H_

#include <torch/types.h>

#include <array>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace anifarm::engine {

class Network;

// One tile of a 1-D split: [start, start + length).
struct TileSpan {
  int start = 0;
  int length = 0;
};

// Splits [0, length) into the fewest spans of at most `tile` that share at
// least `overlap` with their neighbours, all of one length (as short as
// that count allows), the last one aligned to the end. tile <= 0 or
// tile >= length gives one span. overlap is clamped to [0, tile / 2].
// Every start, and every length but the last, is a multiple of `align` (the
// last span is then up to align - 1 longer than the others).
std::vector<TileSpan> SplitAxis(int length, int tile, int overlap, int align = 1);

class TiledUpscaler {
 public:
  // Runs one batch [1, 3, h, w] → [1, 3, h·scale, w·scale].
  using Network = std::function<torch::Tensor(const torch::Tensor&)>;

  // tile: edge in input pixels, 0 = whole frame in one pass.
  TiledUpscaler(int scale, int tile, int overlap);

  int scale() const { return scale_; }
  int tile() const { return tile_; }
  int overlap() const { return overlap_; }

  // input: [1, 3, H, W] on the network's device and dtype. Returns
  // [1, 3, H·s, W·s] float32 on the same device. Thread-safe.
  torch::Tensor Run(const torch::Tensor& input, const Network& network);
  // The same with a Network: one pass for a local network (through
  // Forward), k + 1 passes over the tiles for one with k frame-wide
  // statistics (through ForwardTile), so that tiles give the whole frame.
  // Tiles start on the network's tile_alignment() and carry its
  // tile_context() of frame pixels. A network with a whole_frame_reason()
  // runs whole.
  torch::Tensor Run(const torch::Tensor& input, const engine::Network& network);

 private:
  // Blends `tile_fn(row, col)`, the output of the tile rows[row] x
  // cols[col], over all tiles.
  using TileFn = std::function<torch::Tensor(size_t, size_t)>;
  torch::Tensor Blend(const torch::Tensor& input, const std::vector<TileSpan>& rows,
                      const std::vector<TileSpan>& cols, const TileFn& tile_fn);

  // Output-resolution weights [1, h·s, w·s] for a tile of h×w input pixels;
  // `interior` flags top, bottom, left, right edges shared with a neighbour.
  torch::Tensor Weights(int h, int w, std::array<bool, 4> interior, const torch::Device& device);

  const int scale_;
  const int tile_;
  const int overlap_;
  std::mutex mu_;
  std::map<std::tuple<int, int, std::array<bool, 4>, std::string>, torch::Tensor> weights_;  // guarded by mu_
};

// Per span, the part of the axis it owns, in the span's own coordinates:
// neighbours split their overlap in the middle, and the first and last spans
// reach to -/+infinity (frame-stats cores; exposed for tests).
std::vector<std::pair<double, double>> AxisCores(const std::vector<TileSpan>& spans);

// The 1-D weight profile in output pixels for a span of `length` input
// pixels (exposed for tests).
std::vector<float> AxisWeights(int length, int scale, int overlap, bool ramp_start, bool ramp_end);

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_TILED_INFERENCE_H_
