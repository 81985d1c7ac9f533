// Frame-wide statistics for tiled inference.
//
// Some layers are not local: Real-CUGAN's squeeze-excitation scales channels
// by a global average, a GroupNorm normalises with a mean and variance over
// the whole feature map, a channel attention sums products over all pixels.
// Run on a tile, such a layer computes its statistic over the tile only, and
// the tile's output drifts from the whole frame's (20-40 dB). FrameStats
// makes tiles exact the way Real-CUGAN's own tiled mode does: the statistic
// is a sum over pixels, so it is collected over the tiles first, each tile
// adding the sums over its own core (the part of the frame it owns: the
// cores of all tiles partition the frame, cut in the middle of each
// overlap), and the tiles are then run again with the frame-wide sums in
// place of the tile's own.
//
// With k such layers in sequence, the i-th statistic depends on the earlier
// ones, so the tiler makes k + 1 passes: pass j (0-based, j < k) runs with
// statistics 0..j-1 frozen and collects statistic j (its later layers see
// per-tile values, and their output is thrown away), pass k runs with all k
// frozen and gives the output. Layers are identified by the order in which
// they consult this object within one forward pass, which is fixed by the
// network.
//
// The driver (TiledUpscaler) calls BeginPass, then BeginTile before each
// tile's forward pass, then EndPass. Layers call Next() and act on its role:
//   kLocal    the statistic over the tile, as without tiling;
//   kCollect  Add() the sums over Core(feature) (double precision), then
//             carry on with the tile's own statistic;
//   kUse      the frozen frame-wide sums from Frozen().
// One object serves one frame, from one thread.
#ifndef ANIFARM_NODE_ENGINE_FRAME_STATS_H_
#define ANIFARM_NODE_ENGINE_FRAME_STATS_H_

#include <torch/types.h>

#include <vector>

namespace anifarm::engine {

// Where a feature map lies over the tile it was computed from: feature
// coordinate v = scale·u + offset for the tile's input coordinate u
// (continuous: pixel i spans [i, i+1)), per axis. The identity for layers at
// input resolution.
struct FeaturePlacement {
  double scale_h = 1, offset_h = 0;
  double scale_w = 1, offset_w = 0;
};

class FrameStats {
 public:
  enum class Role { kLocal, kCollect, kUse };

  // `count`: the number of statistic layers in one forward pass.
  explicit FrameStats(int count);

  int count() const { return count_; }

  // Starts pass `collecting` (0..count(); count() is the final pass, where
  // every statistic is frozen).
  void BeginPass(int collecting);
  // The tile about to run owns input pixels [top, bottom) x [left, right),
  // in the tile's own coordinates (±infinity on sides at the frame border,
  // so that whatever a layer computes beyond the frame belongs to the tile
  // at that border, as it belongs to the frame when run whole).
  void BeginTile(double top, double bottom, double left, double right);
  // Freezes the statistic collected in this pass: the sum over the tiles.
  void EndPass();

  // The role of the next statistic layer in this tile's forward pass.
  Role Next();
  // kCollect only: this tile's sums over its core; any number of tensors,
  // the same shapes from every tile.
  void Add(std::vector<torch::Tensor> sums);
  // kUse only: the frame-wide sums (double precision) of the layer Next()
  // returned kUse for.
  const std::vector<torch::Tensor>& Frozen() const;
  // True once this pass's statistic has been collected: what the network
  // would compute after it is not used, and it may stop early.
  bool Done() const { return collecting_ < count_ && layer_ > collecting_; }

  // `x` [N, C, H, W] narrowed to the pixels of the tile's core, a pixel
  // belonging to it when its centre maps into it (see FeaturePlacement).
  torch::Tensor Core(const torch::Tensor& x, const FeaturePlacement& place) const;

 private:
  const int count_;
  int collecting_ = 0;
  int layer_ = 0;  // index of the next statistic layer in this tile's pass
  double core_[4] = {0, 0, 0, 0};
  std::vector<torch::Tensor> partial_;               // this pass's sums so far
  std::vector<std::vector<torch::Tensor>> frozen_;   // per layer, once frozen
};

// The per-channel global average of `x` [N, C, H, W] as [N, C, 1, 1] (a
// global average pooling), over the whole frame when `stats` drives a tiled
// pass. With stats == nullptr it is exactly x.mean({2, 3}, keepdim).
torch::Tensor FrameMean(const torch::Tensor& x, FrameStats* stats, const FeaturePlacement& place = {});

// GroupNorm of `x` [N, C, H, W] (`groups` groups of channels, biased
// variance, eps inside the square root, per-channel affine), with each
// group's mean and variance over the whole frame when `stats` drives a tiled
// pass (sums of x and x² in double precision, so the variance does not
// cancel). With stats == nullptr it is exactly at::group_norm.
torch::Tensor FrameGroupNorm(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                             const torch::Tensor& bias, double eps, FrameStats* stats,
                             const FeaturePlacement& place = {});

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_FRAME_STATS_H_
