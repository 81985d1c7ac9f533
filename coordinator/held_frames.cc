#include "coordinator/held_frames.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <utility>

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace anifarm {
namespace {

constexpr int kSignatureCols = 16;
constexpr int kSignatureRows = 9;
constexpr int kBucketLevels = 4;        // width of a frame-mean bucket
constexpr int kRecentCandidates = 4;    // last kept pictures always tried
constexpr int kGlobalCandidates = 6;    // signature matches verified, at most
constexpr double kSignatureLevels = 3;  // mean signature difference to verify
// Per kept picture beyond its cells and signature: list and map nodes.
constexpr size_t kKeptOverhead = 160;

int CellSize(int height) { return std::max(2, static_cast<int>(std::lround(height / 108.0))); }

std::vector<uint8_t> Signature(const PictureFeature& feature) {
  std::vector<uint8_t> signature(3 * kSignatureCols * kSignatureRows);
  const size_t plane_cells = static_cast<size_t>(feature.cols) * feature.rows;
  for (int p = 0; p < 3; ++p) {
    const uint8_t* cells = feature.cells.data() + p * plane_cells;
    for (int sy = 0; sy < kSignatureRows; ++sy) {
      const int y0 = sy * feature.rows / kSignatureRows;
      const int y1 = std::max(y0 + 1, (sy + 1) * feature.rows / kSignatureRows);
      for (int sx = 0; sx < kSignatureCols; ++sx) {
        const int x0 = sx * feature.cols / kSignatureCols;
        const int x1 = std::max(x0 + 1, (sx + 1) * feature.cols / kSignatureCols);
        int sum = 0, count = 0;
        for (int y = y0; y < y1 && y < feature.rows; ++y) {
          for (int x = x0; x < x1 && x < feature.cols; ++x) {
            sum += cells[static_cast<size_t>(y) * feature.cols + x];
            ++count;
          }
        }
        signature[(p * kSignatureRows + sy) * kSignatureCols + sx] =
            static_cast<uint8_t>(count ? (sum + count / 2) / count : 0);
      }
    }
  }
  return signature;
}

double SignatureDistance(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  int sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += std::abs(int(a[i]) - int(b[i]));
  return double(sum) / double(a.size());
}

std::tuple<int, int, int> BucketOf(const PictureFeature& feature) {
  return {static_cast<int>(feature.mean[0]) / kBucketLevels,
          static_cast<int>(feature.mean[1]) / kBucketLevels,
          static_cast<int>(feature.mean[2]) / kBucketLevels};
}

// Median of `values` (reordered).
float Median(std::vector<float>& values) {
  auto middle = values.begin() + static_cast<ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), middle, values.end());
  return *middle;
}

}  // namespace

PictureFeature ComputePictureFeature(const AVFrame& frame) {
  PictureFeature feature;
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(frame.format));
  if (!desc || (desc->flags & AV_PIX_FMT_FLAG_HWACCEL) || frame.width <= 0 || frame.height <= 0) {
    return feature;
  }
  const int cell = CellSize(frame.height);
  const int cols = std::max(1, frame.width / cell);
  const int rows = std::max(1, frame.height / cell);
  // One context per planning thread, rebuilt only when the source changes.
  thread_local SwsPtr scaler;
  scaler.reset(sws_getCachedContext(scaler.release(), frame.width, frame.height,
                                    static_cast<AVPixelFormat>(frame.format), cols, rows,
                                    AV_PIX_FMT_YUV444P, SWS_AREA, nullptr, nullptr, nullptr));
  if (!scaler) return feature;
  feature.cols = cols;
  feature.rows = rows;
  const size_t plane_cells = static_cast<size_t>(cols) * rows;
  feature.cells.resize(3 * plane_cells);
  uint8_t* planes[4] = {feature.cells.data(), feature.cells.data() + plane_cells,
                        feature.cells.data() + 2 * plane_cells, nullptr};
  int strides[4] = {cols, cols, cols, 0};
  if (sws_scale(scaler.get(), frame.data, frame.linesize, 0, frame.height, planes, strides) !=
      rows) {
    return PictureFeature{};
  }
  for (int p = 0; p < 3; ++p) {
    uint64_t sum = 0;
    for (size_t i = 0; i < plane_cells; ++i) sum += planes[p][i];
    feature.mean[p] = static_cast<float>(double(sum) / double(plane_cells));
  }
  return feature;
}

FeatureComparison CompareFeatures(const PictureFeature& frame, const PictureFeature& kept,
                                  double min_psnr) {
  FeatureComparison result;
  if (frame.cols == 0 || frame.cols != kept.cols || frame.rows != kept.rows) return result;
  for (int p = 0; p < 3; ++p) {
    result.largest_shift =
        std::max(result.largest_shift, std::fabs(double(frame.mean[p]) - double(kept.mean[p])));
  }
  if (result.largest_shift > kHeldShift) return result;

  const int cols = frame.cols, rows = frame.rows;
  const size_t plane_cells = static_cast<size_t>(cols) * rows;
  // Windows of 2x2 cells, overlapping by one; a grid too small for that
  // compares cells.
  const int wx = cols > 1 ? 2 : 1, wy = rows > 1 ? 2 : 1;
  const int window_cols = cols - wx + 1, window_rows = rows - wy + 1;
  const float per_window = 1.0f / float(wx * wy);
  std::vector<float> windows(static_cast<size_t>(window_cols) * window_rows);
  std::vector<int> diff(plane_cells);
  uint64_t squared = 0;
  for (int p = 0; p < 3; ++p) {
    const uint8_t* a = frame.cells.data() + p * plane_cells;
    const uint8_t* b = kept.cells.data() + p * plane_cells;
    for (size_t i = 0; i < plane_cells; ++i) {
      diff[i] = int(a[i]) - int(b[i]);
      squared += static_cast<uint64_t>(diff[i] * diff[i]);
    }
    float largest = 0;
    for (int y = 0; y < window_rows; ++y) {
      for (int x = 0; x < window_cols; ++x) {
        int sum = 0;
        for (int dy = 0; dy < wy; ++dy) {
          for (int dx = 0; dx < wx; ++dx) sum += diff[static_cast<size_t>(y + dy) * cols + x + dx];
        }
        const float w = float(sum) * per_window;
        windows[static_cast<size_t>(y) * window_cols + x] = w;
        largest = std::max(largest, std::fabs(w));
      }
    }
    double tolerance = kHeldFloor;
    if (largest > kHeldFloor && largest <= kHeldCeiling) {
      // The noise here: a robust spread, which the few windows a real
      // change covers do not move.
      const float centre = Median(windows);
      for (float& w : windows) w = std::fabs(w - centre);
      const double spread = 1.4826 * Median(windows);
      tolerance = std::clamp(kHeldSigmas * spread, kHeldFloor, kHeldCeiling);
    }
    if (largest > result.largest_window) {
      result.largest_window = largest;
      result.tolerance = tolerance;
      result.plane = p;
    }
    if (largest > tolerance) return result;
  }
  if (min_psnr > 0 && squared > 0) {
    const double mse = double(squared) / double(3 * plane_cells);
    if (10.0 * std::log10(255.0 * 255.0 / mse) < min_psnr) return result;
  }
  result.same = true;
  return result;
}

HeldFrameDetector::HeldFrameDetector(const HeldFrameOptions& options) : options_(options) {}

int64_t HeldFrameDetector::Match(const AVFrame& frame, int64_t id, bool scene_cut) {
  last_kept_ = false;
  PictureFeature feature = ComputePictureFeature(frame);
  if (feature.cols == 0) {
    previous_shown_ = -1;
    return -1;  // unreadable: upscaled on its own
  }
  std::vector<uint8_t> signature = Signature(feature);
  auto match = FindMatch(feature, signature, scene_cut);
  if (match != kept_.end()) {
    const int64_t shown = match->id;
    Touch(match);
    previous_shown_ = shown;
    return shown;
  }
  Keep(id, std::move(feature), std::move(signature));
  previous_shown_ = id;
  last_kept_ = true;
  return -1;
}

bool HeldFrameDetector::Verify(const PictureFeature& feature, const Kept& kept) const {
  return CompareFeatures(feature, kept.feature, options_.min_psnr).same;
}

HeldFrameDetector::KeptList::iterator HeldFrameDetector::FindMatch(
    const PictureFeature& feature, const std::vector<uint8_t>& signature, bool scene_cut) {
  std::vector<int64_t> tried;
  auto try_id = [&](int64_t id) -> KeptList::iterator {
    if (id < 0 || std::find(tried.begin(), tried.end(), id) != tried.end()) return kept_.end();
    tried.push_back(id);
    auto found = by_id_.find(id);
    if (found == by_id_.end()) return kept_.end();
    return Verify(feature, *found->second) ? found->second : kept_.end();
  };
  if (!scene_cut) {
    if (auto it = try_id(previous_shown_); it != kept_.end()) return it;
  }
  for (int k = 0; k < kRecentCandidates && k < static_cast<int>(recent_.size()); ++k) {
    if (auto it = try_id(recent_[recent_.size() - 1 - k]); it != kept_.end()) return it;
  }
  // Anywhere earlier in the video: pictures of about the same means, closest
  // signature first.
  const auto [by, bu, bv] = BucketOf(feature);
  std::vector<std::pair<double, int64_t>> candidates;
  for (int dy = -1; dy <= 1; ++dy) {
    for (int du = -1; du <= 1; ++du) {
      for (int dv = -1; dv <= 1; ++dv) {
        auto bucket = buckets_.find({by + dy, bu + du, bv + dv});
        if (bucket == buckets_.end()) continue;
        for (int64_t id : bucket->second) {
          const double distance = SignatureDistance(signature, by_id_.at(id)->signature);
          if (distance <= kSignatureLevels) candidates.emplace_back(distance, id);
        }
      }
    }
  }
  std::sort(candidates.begin(), candidates.end());
  int verified = 0;
  for (const auto& [distance, id] : candidates) {
    if (verified++ >= kGlobalCandidates) break;
    if (auto it = try_id(id); it != kept_.end()) return it;
  }
  return kept_.end();
}

void HeldFrameDetector::Keep(int64_t id, PictureFeature feature, std::vector<uint8_t> signature) {
  const std::tuple<int, int, int> bucket = BucketOf(feature);
  bytes_ += feature.cells.size() + signature.size() + kKeptOverhead;
  kept_.push_front(Kept{id, std::move(feature), std::move(signature), bucket});
  by_id_[id] = kept_.begin();
  buckets_[bucket].push_back(id);
  recent_.push_back(id);
  if (recent_.size() > static_cast<size_t>(kRecentCandidates)) recent_.erase(recent_.begin());
  // Over budget: the least recently matched pictures go (never the new one).
  while (bytes_ > options_.memory_budget_bytes && kept_.size() > 1) {
    const Kept& oldest = kept_.back();
    bytes_ -= oldest.feature.cells.size() + oldest.signature.size() + kKeptOverhead;
    std::vector<int64_t>& ids = buckets_[oldest.bucket];
    ids.erase(std::remove(ids.begin(), ids.end(), oldest.id), ids.end());
    if (ids.empty()) buckets_.erase(oldest.bucket);
    recent_.erase(std::remove(recent_.begin(), recent_.end(), oldest.id), recent_.end());
    by_id_.erase(oldest.id);
    kept_.pop_back();
    ++dropped_;
  }
}

void HeldFrameDetector::Touch(KeptList::iterator it) { kept_.splice(kept_.begin(), kept_, it); }

}  // namespace anifarm
