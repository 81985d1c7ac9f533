#include "node/engine/tiled_inference.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "node/engine/frame_stats.h"
#include "node/engine/network.h"

namespace anifarm::engine {
namespace {

// Keeps every covered pixel's weight sum > 0 (and the division finite).
constexpr float kMinWeight = 1e-6f;

}  // namespace

// Spans of `span` every `stride` (a multiple of `align`), the last one
// starting on `align` and reaching the end; empty when that last one would
// share less than `overlap` with the one before it.
std::vector<TileSpan> LayOutSpans(int length, int span, int stride, int overlap, int align) {
  std::vector<TileSpan> spans;
  for (int start = 0; start + span < length; start += stride) spans.push_back({start, span});
  const int last = (length - span) / align * align;
  if (!spans.empty() && spans.back().start == last) spans.pop_back();
  if (!spans.empty() && spans.back().start + spans.back().length - last < overlap) return {};
  spans.push_back({last, length - last});
  return spans;
}

std::vector<TileSpan> SplitAxis(int length, int tile, int overlap, int align) {
  if (tile <= 0 || tile >= length) return {{0, length}};
  overlap = std::clamp(overlap, 0, tile / 2);
  align = std::max(align, 1);
  // The fewest spans of at most `tile` that overlap by `overlap`, made as
  // short as that count allows, all of one length: a 640 px side in tiles
  // of 512 is two spans of 336, not 512 + 512 with 384 px computed twice
  // (1.05x the pixels instead of 1.6x; docs/models.md).
  const int count = (length - overlap + (tile - overlap) - 1) / (tile - overlap);
  const int shortest = (length + (count - 1) * overlap + count - 1) / count;
  // Lengths on the alignment too: a network that pads its input to its grid
  // (RRDBNet's pixel-unshuffle) must not pad a tile where the frame has pixels.
  for (int span = (shortest + align - 1) / align * align; span <= tile; span += align) {
    const int stride = (span - overlap) / align * align;
    if (stride <= 0) continue;
    std::vector<TileSpan> spans = LayOutSpans(length, span, stride, overlap, align);
    if (!spans.empty() && spans.size() <= static_cast<size_t>(count)) return spans;
  }
  // An alignment too coarse for the tile and overlap: spans of `tile` on
  // the alignment's grid, overlapping by what the grid allows.
  return LayOutSpans(length, tile, std::max((tile - overlap) / align * align, align), 0, align);
}

std::vector<float> AxisWeights(int length, int scale, int overlap, bool ramp_start, bool ramp_end) {
  std::vector<float> w(static_cast<size_t>(length) * scale, 1.0f);
  if (overlap <= 0) return w;
  // Gaussian rising from the edge to 1 at `overlap` input pixels inwards
  // (exp(-8) ~ 3e-4 at the edge itself): steep, so that in a shared band
  // the tile whose edge is farther away, and whose output is more right,
  // dominates.
  const double sigma = overlap / 4.0;
  const auto ramp = [&](double d) {  // d: distance from the edge, input px
    if (d >= overlap) return 1.0;
    const double z = (overlap - d) / sigma;
    return std::exp(-0.5 * z * z);
  };
  for (size_t i = 0; i < w.size(); ++i) {
    const double from_start = (i + 0.5) / scale;
    const double from_end = length - from_start;
    double v = 1.0;
    if (ramp_start) v *= ramp(from_start);
    if (ramp_end) v *= ramp(from_end);
    w[i] = std::max(static_cast<float>(v), kMinWeight);
  }
  return w;
}

TiledUpscaler::TiledUpscaler(int scale, int tile, int overlap)
    : scale_(scale), tile_(std::max(tile, 0)), overlap_(std::clamp(overlap, 0, std::max(tile, 0) / 2)) {}

torch::Tensor TiledUpscaler::Weights(int h, int w, std::array<bool, 4> interior,
                                     const torch::Device& device) {
  std::lock_guard<std::mutex> lock(mu_);
  auto key = std::make_tuple(h, w, interior, device.str());
  auto it = weights_.find(key);
  if (it != weights_.end()) return it->second;
  std::vector<float> wy = AxisWeights(h, scale_, overlap_, interior[0], interior[1]);
  std::vector<float> wx = AxisWeights(w, scale_, overlap_, interior[2], interior[3]);
  torch::Tensor ty = torch::from_blob(wy.data(), {static_cast<int64_t>(wy.size()), 1}, torch::kFloat32);
  torch::Tensor tx = torch::from_blob(wx.data(), {1, static_cast<int64_t>(wx.size())}, torch::kFloat32);
  torch::Tensor weights = (ty * tx).unsqueeze(0).to(device);  // the product copies out of the vectors
  weights_.emplace(key, weights);
  return weights;
}

std::vector<std::pair<double, double>> AxisCores(const std::vector<TileSpan>& spans) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<std::pair<double, double>> cores;
  for (size_t i = 0; i < spans.size(); ++i) {
    const TileSpan& s = spans[i];
    // Integer cuts, so that every tile's test of a feature pixel against
    // them is exact and no pixel is counted twice or missed.
    const double lo = i == 0 ? -kInf : (spans[i - 1].start + spans[i - 1].length + s.start) / 2 - s.start;
    const double hi =
        i + 1 == spans.size() ? kInf : (s.start + s.length + spans[i + 1].start) / 2 - s.start;
    cores.emplace_back(lo, hi);
  }
  return cores;
}

torch::Tensor TiledUpscaler::Run(const torch::Tensor& input, const Network& network) {
  const std::vector<TileSpan> rows = SplitAxis(static_cast<int>(input.size(2)), tile_, overlap_);
  const std::vector<TileSpan> cols = SplitAxis(static_cast<int>(input.size(3)), tile_, overlap_);
  if (rows.size() == 1 && cols.size() == 1) return network(input).to(torch::kFloat32);
  return Blend(input, rows, cols, [&](size_t r, size_t c) {
    return network(input.narrow(2, rows[r].start, rows[r].length).narrow(3, cols[c].start, cols[c].length));
  });
}

torch::Tensor TiledUpscaler::Run(const torch::Tensor& input, const engine::Network& network) {
  if (!network.whole_frame_reason().empty()) return network.Forward(input).to(torch::kFloat32);
  const int h = static_cast<int>(input.size(2));
  const int w = static_cast<int>(input.size(3));
  const int align = network.tile_alignment();
  const std::vector<TileSpan> rows = SplitAxis(h, tile_, overlap_, align);
  const std::vector<TileSpan> cols = SplitAxis(w, tile_, overlap_, align);
  const int statistics = network.frame_statistics();
  const int context = network.tile_context();
  if ((rows.size() == 1 && cols.size() == 1) || (statistics == 0 && context == 0)) {
    return Run(input, [&network](const torch::Tensor& t) { return network.Forward(t); });
  }
  const std::vector<std::pair<double, double>> row_cores = AxisCores(rows);
  const std::vector<std::pair<double, double>> col_cores = AxisCores(cols);
  FrameStats stats(statistics);
  // A tile with up to `context` frame pixels on each side.
  const auto run_tile = [&](size_t r, size_t c) {
    const TileSpan& rs = rows[r];
    const TileSpan& cs = cols[c];
    engine::Network::Tile tile;
    tile.stats = statistics > 0 ? &stats : nullptr;
    tile.context[0] = std::min(context, rs.start);
    tile.context[1] = std::min(context, h - rs.start - rs.length);
    tile.context[2] = std::min(context, cs.start);
    tile.context[3] = std::min(context, w - cs.start - cs.length);
    stats.BeginTile(row_cores[r].first, row_cores[r].second, col_cores[c].first, col_cores[c].second);
    const torch::Tensor x =
        input.narrow(2, rs.start - tile.context[0], rs.length + tile.context[0] + tile.context[1])
            .narrow(3, cs.start - tile.context[2], cs.length + tile.context[2] + tile.context[3]);
    return network.ForwardTile(x, tile);
  };
  for (int pass = 0; pass < statistics; ++pass) {
    stats.BeginPass(pass);
    for (size_t r = 0; r < rows.size(); ++r) {
      for (size_t c = 0; c < cols.size(); ++c) run_tile(r, c);
    }
    stats.EndPass();
  }
  stats.BeginPass(statistics);
  return Blend(input, rows, cols, run_tile);
}

torch::Tensor TiledUpscaler::Blend(const torch::Tensor& input, const std::vector<TileSpan>& rows,
                                   const std::vector<TileSpan>& cols, const TileFn& tile_fn) {
  const int h = static_cast<int>(input.size(2));
  const int w = static_cast<int>(input.size(3));
  const int s = scale_;
  auto options = torch::TensorOptions().dtype(torch::kFloat32).device(input.device());
  torch::Tensor sum = torch::zeros({3, int64_t{h} * s, int64_t{w} * s}, options);
  torch::Tensor weight_sum = torch::zeros({1, int64_t{h} * s, int64_t{w} * s}, options);
  for (size_t ri = 0; ri < rows.size(); ++ri) {
    for (size_t ci = 0; ci < cols.size(); ++ci) {
      const TileSpan& r = rows[ri];
      const TileSpan& c = cols[ci];
      torch::Tensor out = tile_fn(ri, ci).to(torch::kFloat32)[0];
      const std::array<bool, 4> interior = {r.start > 0, r.start + r.length < h, c.start > 0,
                                            c.start + c.length < w};
      torch::Tensor weights = Weights(r.length, c.length, interior, input.device());
      sum.narrow(1, int64_t{r.start} * s, int64_t{r.length} * s)
          .narrow(2, int64_t{c.start} * s, int64_t{c.length} * s)
          .add_(out * weights);
      weight_sum.narrow(1, int64_t{r.start} * s, int64_t{r.length} * s)
          .narrow(2, int64_t{c.start} * s, int64_t{c.length} * s)
          .add_(weights);
    }
  }
  return (sum / weight_sum).unsqueeze(0);
}

}  // namespace anifarm::engine
