#include "node/scale_plan.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace anifarm {

absl::StatusOr<ScalePlan> PlanScale(int source_width, int source_height, int native_scale,
                                    int scale, int target_width, int target_height) {
  if (source_width <= 0 || source_height <= 0 || native_scale <= 0) {
    return absl::InvalidArgumentError("empty frame or model without a scale");
  }
  ScalePlan plan;
  double factor = 0;
  if (target_width > 0 || target_height > 0) {
    if (target_width <= 0 || target_height <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--size ", target_width, "x", target_height, " needs both sizes"));
    }
    factor = std::min(double(target_width) / source_width, double(target_height) / source_height);
    plan.output_width = std::max(2, int(std::lround(source_width * factor / 2)) * 2);
    plan.output_height = std::max(2, int(std::lround(source_height * factor / 2)) * 2);
  } else {
    const int wanted = scale == 0 ? native_scale : scale;
    factor = wanted;
    plan.output_width = source_width * wanted;
    plan.output_height = source_height * wanted;
  }
  plan.passes = 1;
  for (double reached = native_scale; reached + 1e-9 < factor; reached *= native_scale) {
    ++plan.passes;
  }
  if (factor >= 16) {
    plan.tile_factor = 0.25;
  } else if (factor >= 8) {
    plan.tile_factor = 0.5;
  }
  return plan;
}

}  // namespace anifarm
