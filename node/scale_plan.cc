#include "node/scale_plan.h"

#include "absl/strings/str_cat.h"

namespace anifarm {

absl::StatusOr<ScalePlan> PlanScale(int source_width, int source_height, int native_scale,
                                    int scale, int target_width, int target_height,
                                    AVRational source_sar, bool keep_sar) {
  if (source_width <= 0 || source_height <= 0 || native_scale <= 0) {
    return absl::InvalidArgumentError("empty frame or model without a scale");
  }
  if ((target_width > 0 || target_height > 0) && (target_width <= 0 || target_height <= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--size ", target_width, "x", target_height, " needs both sizes"));
  }
  const OutputGeometry geometry =
      PlanOutputGeometry(source_width, source_height, source_sar,
                         scale == 0 ? native_scale : scale, target_width, target_height, keep_sar);
  ScalePlan plan;
  plan.output_width = geometry.width;
  plan.output_height = geometry.height;
  // Passes follow the lines (the vertical factor): an anamorphic width's
  // extra stretch to square pixels is the final resize's, as a player's.
  const double factor = geometry.vertical_factor;
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
