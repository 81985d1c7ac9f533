#include "coordinator/scene_cut.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace anifarm {
namespace {

constexpr int kGridCells = 32;        // thumbnail columns and rows, at most
constexpr int kSamplesPerCell = 8;    // sampled points per cell side, at most

}  // namespace

std::vector<float> FrameThumbnail(const AVFrame& frame) {
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(frame.format));
  if (!desc || frame.width <= 0 || frame.height <= 0) return {};
  if (desc->flags & (AV_PIX_FMT_FLAG_HWACCEL | AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_BITSTREAM |
                     AV_PIX_FMT_FLAG_FLOAT)) {
    return {};
  }
  const AVComponentDescriptor& comp = desc->comp[0];
  if (comp.depth < 1 || comp.depth > 16 || !frame.data[comp.plane]) return {};
  const bool wide = comp.depth > 8;  // 9..16-bit samples take two bytes
  const bool big_endian = desc->flags & AV_PIX_FMT_FLAG_BE;
  const int mask = (1 << comp.depth) - 1;
  // Down to 8 bits, so thresholds mean the same for 10-bit anime encodes.
  const int to_8bit = comp.depth > 8 ? comp.depth - 8 : 0;
  const float scale_up = comp.depth < 8 ? 255.0f / float(mask) : 1.0f;
  auto sample = [&](const uint8_t* row, int x) -> int {
    const uint8_t* p = row + comp.offset + static_cast<ptrdiff_t>(x) * comp.step;
    int raw = wide ? (big_endian ? (p[0] << 8 | p[1]) : (p[1] << 8 | p[0])) : p[0];
    return ((raw >> comp.shift) & mask) >> to_8bit;
  };

  const int cols = std::min(kGridCells, frame.width);
  const int rows = std::min(kGridCells, frame.height);
  std::vector<float> cells(static_cast<size_t>(cols) * rows);
  for (int cy = 0; cy < rows; ++cy) {
    const int y0 = cy * frame.height / rows;
    const int y1 = (cy + 1) * frame.height / rows;
    const int step_y = std::max(1, (y1 - y0) / kSamplesPerCell);
    for (int cx = 0; cx < cols; ++cx) {
      const int x0 = cx * frame.width / cols;
      const int x1 = (cx + 1) * frame.width / cols;
      const int step_x = std::max(1, (x1 - x0) / kSamplesPerCell);
      int64_t sum = 0;
      int count = 0;
      for (int y = y0; y < y1; y += step_y) {
        const uint8_t* row =
            frame.data[comp.plane] + static_cast<ptrdiff_t>(y) * frame.linesize[comp.plane];
        for (int x = x0; x < x1; x += step_x) {
          sum += sample(row, x);
          ++count;
        }
      }
      cells[static_cast<size_t>(cy) * cols + cx] = scale_up * float(sum) / float(count);
    }
  }
  return cells;
}

double ThumbnailDifference(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.empty() || b.empty()) return 0;
  if (a.size() != b.size()) return 100;
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += std::fabs(double(a[i]) - double(b[i]));
  return 100.0 * sum / (255.0 * double(a.size()));
}

bool SceneCutDetector::IsCut(const AVFrame& frame) {
  last_score_ = 0;
  if (threshold_ <= 0) return false;
  std::vector<float> thumbnail = FrameThumbnail(frame);
  if (has_previous_) {
    const double difference = ThumbnailDifference(thumbnail, previous_);
    const double recent_motion = *std::max_element(recent_.begin(), recent_.end());
    last_score_ = std::max(0.0, difference - recent_motion);
    recent_[next_recent_] = difference;
    next_recent_ = (next_recent_ + 1) % recent_.size();
  }
  previous_ = std::move(thumbnail);
  has_previous_ = true;
  return last_score_ >= threshold_;
}

}  // namespace anifarm
