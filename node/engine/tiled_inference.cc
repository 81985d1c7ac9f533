#include "node/engine/tiled_inference.h"

#include <algorithm>
#include <cmath>

namespace anifarm::engine {
namespace {

// Keeps every covered pixel's weight sum > 0 (and the division finite).
constexpr float kMinWeight = 1e-6f;

}  // namespace

std::vector<TileSpan> SplitAxis(int length, int tile, int overlap) {
  if (tile <= 0 || tile >= length) return {{0, length}};
  overlap = std::clamp(overlap, 0, tile / 2);
  const int stride = tile - overlap;
  std::vector<TileSpan> spans;
  int start = 0;
  while (start + tile < length) {
    spans.push_back({start, tile});
    start += stride;
  }
  spans.push_back({length - tile, tile});
  return spans;
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

torch::Tensor TiledUpscaler::Run(const torch::Tensor& input, const Network& network) {
  const int h = static_cast<int>(input.size(2));
  const int w = static_cast<int>(input.size(3));
  const std::vector<TileSpan> rows = SplitAxis(h, tile_, overlap_);
  const std::vector<TileSpan> cols = SplitAxis(w, tile_, overlap_);
  if (rows.size() == 1 && cols.size() == 1) return network(input).to(torch::kFloat32);

  const int s = scale_;
  auto options = torch::TensorOptions().dtype(torch::kFloat32).device(input.device());
  torch::Tensor sum = torch::zeros({3, int64_t{h} * s, int64_t{w} * s}, options);
  torch::Tensor weight_sum = torch::zeros({1, int64_t{h} * s, int64_t{w} * s}, options);
  for (const TileSpan& r : rows) {
    for (const TileSpan& c : cols) {
      torch::Tensor tile = input.narrow(2, r.start, r.length).narrow(3, c.start, c.length);
      torch::Tensor out = network(tile).to(torch::kFloat32)[0];
      const std::array<bool, 4> interior = {r.start > 0, r.start + r.length<h, c.start> 0,
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
