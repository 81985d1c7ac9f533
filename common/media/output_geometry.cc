#include "common/media/output_geometry.h"

#include <algorithm>
#include <cmath>

namespace anifarm {
namespace {

// Nearest even size, at least 2: 4:2:0 and 4:2:2 encoders need even widths.
int RoundEven(double size) { return std::max(2, static_cast<int>(std::lround(size / 2)) * 2); }

}  // namespace

bool IsAnamorphic(AVRational sar) {
  return sar.num > 0 && sar.den > 0 && sar.num != sar.den;
}

OutputGeometry PlanOutputGeometry(int source_width, int source_height, AVRational source_sar,
                                  int scale, int target_width, int target_height,
                                  bool keep_sar) {
  OutputGeometry geometry;
  const bool anamorphic = IsAnamorphic(source_sar);
  if (anamorphic && keep_sar) {
    av_reduce(&geometry.sample_aspect_ratio.num, &geometry.sample_aspect_ratio.den,
              source_sar.num, source_sar.den, 1 << 30);
  }
  // The width the picture is planned at: its display width unless the
  // stored pixels are kept as they are.
  const bool to_square = anamorphic && !keep_sar;
  const double planned_width = to_square ? source_width * av_q2d(source_sar) : source_width;
  if (target_width > 0 && target_height > 0) {
    const double factor =
        std::min(target_width / planned_width, double(target_height) / source_height);
    geometry.width = RoundEven(planned_width * factor);
    geometry.height = RoundEven(source_height * factor);
    geometry.vertical_factor = factor;
    return geometry;
  }
  // Square pixels keep the exact multiple (odd sizes included, as before).
  geometry.width = to_square ? RoundEven(planned_width * scale) : source_width * scale;
  geometry.height = source_height * scale;
  geometry.vertical_factor = scale;
  return geometry;
}

}  // namespace anifarm
