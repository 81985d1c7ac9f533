#include "node/engine/frame_stats.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace anifarm::engine {
namespace {

// Pixels [begin, end) of an axis of `size` whose centres j + 0.5 map into
// [lo, hi) through v = scale·u + offset.
std::pair<int64_t, int64_t> CoreRange(int64_t size, double lo, double hi, double scale, double offset) {
  const double first = std::ceil(scale * lo + offset - 0.5);
  const double last = std::ceil(scale * hi + offset - 0.5);
  const int64_t begin = static_cast<int64_t>(std::clamp(first, 0.0, static_cast<double>(size)));
  const int64_t end = static_cast<int64_t>(std::clamp(last, 0.0, static_cast<double>(size)));
  return {begin, std::max(begin, end)};
}

}  // namespace

FrameStats::FrameStats(int count) : count_(count), frozen_(static_cast<size_t>(std::max(count, 0))) {}

void FrameStats::BeginPass(int collecting) {
  TORCH_CHECK(collecting >= 0 && collecting <= count_, "FrameStats: pass ", collecting, " of ", count_);
  for (int i = 0; i < collecting; ++i) TORCH_CHECK(!frozen_[i].empty(), "FrameStats: statistic ", i, " not frozen");
  collecting_ = collecting;
  partial_.clear();
}

void FrameStats::BeginTile(double top, double bottom, double left, double right) {
  core_[0] = top;
  core_[1] = bottom;
  core_[2] = left;
  core_[3] = right;
  layer_ = 0;
}

void FrameStats::EndPass() {
  if (collecting_ == count_) return;
  TORCH_CHECK(!partial_.empty(), "FrameStats: statistic ", collecting_, " was never collected");
  frozen_[collecting_] = std::move(partial_);
  partial_.clear();
}

FrameStats::Role FrameStats::Next() {
  const int layer = layer_++;
  TORCH_CHECK(layer < count_, "FrameStats: more statistic layers than the ", count_, " declared");
  if (layer < collecting_) return Role::kUse;
  if (layer == collecting_) return Role::kCollect;
  return Role::kLocal;
}

void FrameStats::Add(std::vector<torch::Tensor> sums) {
  TORCH_CHECK(layer_ - 1 == collecting_, "FrameStats: Add outside the collected layer");
  if (partial_.empty()) {
    for (torch::Tensor& s : sums) partial_.push_back(s.to(torch::kFloat64));
    return;
  }
  TORCH_CHECK(partial_.size() == sums.size(), "FrameStats: tiles add different sums");
  for (size_t i = 0; i < sums.size(); ++i) partial_[i].add_(sums[i].to(torch::kFloat64));
}

const std::vector<torch::Tensor>& FrameStats::Frozen() const {
  const int layer = layer_ - 1;
  TORCH_CHECK(layer >= 0 && layer < collecting_, "FrameStats: statistic ", layer, " is not frozen");
  return frozen_[layer];
}

torch::Tensor FrameStats::Core(const torch::Tensor& x, const FeaturePlacement& place) const {
  const auto [y0, y1] = CoreRange(x.size(2), core_[0], core_[1], place.scale_h, place.offset_h);
  const auto [x0, x1] = CoreRange(x.size(3), core_[2], core_[3], place.scale_w, place.offset_w);
  return x.narrow(2, y0, y1 - y0).narrow(3, x0, x1 - x0);
}

torch::Tensor FrameMean(const torch::Tensor& x, FrameStats* stats, const FeaturePlacement& place) {
  const FrameStats::Role role = stats != nullptr ? stats->Next() : FrameStats::Role::kLocal;
  if (role == FrameStats::Role::kUse) {
    const std::vector<torch::Tensor>& sums = stats->Frozen();
    return (sums[0] / sums[1]).to(x.scalar_type()).view({x.size(0), x.size(1), 1, 1});
  }
  if (role == FrameStats::Role::kCollect) {
    const torch::Tensor core = stats->Core(x, place);
    const double pixels = static_cast<double>(core.size(2) * core.size(3));
    stats->Add({core.sum({2, 3}, /*keepdim=*/false, torch::kFloat64),
                torch::full({}, pixels, core.options().dtype(torch::kFloat64))});
  }
  return x.mean({2, 3}, /*keepdim=*/true);
}

torch::Tensor FrameGroupNorm(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                             const torch::Tensor& bias, double eps, FrameStats* stats,
                             const FeaturePlacement& place) {
  const FrameStats::Role role = stats != nullptr ? stats->Next() : FrameStats::Role::kLocal;
  if (role == FrameStats::Role::kCollect) {
    const int64_t n = x.size(0);
    const torch::Tensor core = stats->Core(x, place).to(torch::kFloat64).reshape({n, groups, -1});
    stats->Add({core.sum(-1), core.square().sum(-1),
                torch::full({}, static_cast<double>(core.size(2)), core.options())});
  }
  if (role != FrameStats::Role::kUse) return at::group_norm(x, groups, weight, bias, eps);
  const std::vector<torch::Tensor>& sums = stats->Frozen();
  const torch::Tensor mean = sums[0] / sums[2];                        // [N, G] double
  const torch::Tensor invstd = (sums[1] / sums[2] - mean.square()).clamp_min(0).add(eps).rsqrt();
  const int64_t n = x.size(0), c = x.size(1);
  const torch::Tensor shift = (-mean * invstd).to(x.scalar_type()).view({n, groups, 1, 1, 1});
  const torch::Tensor y = (x.reshape({n, groups, c / groups, x.size(2), x.size(3)}) *
                               invstd.to(x.scalar_type()).view({n, groups, 1, 1, 1}) +
                           shift)
                              .reshape_as(x);
  return y * weight.view({1, c, 1, 1}) + bias.view({1, c, 1, 1});
}

}  // namespace anifarm::engine
