// ScalePlan: how a requested scale (or exact size) is reached with a model of
// a given native scale, as the guide does it: whole passes of the network
// until the target is reached or passed, then one high-quality downscale.
//   x1  -> one pass, then back down to the source size
//   x4 with a 2x model -> two passes; x8 -> three; x16 -> four
//   x2 with a 4x model -> one pass, then down to 2x
// Tiles shrink for deep chains (x8: half, x16: quarter) because later passes
// run on much larger frames. The output size (anamorphic sources, --size,
// --keep-sar) is common/media/output_geometry.h's, the coordinator's rule.
#ifndef ANIFARM_NODE_SCALE_PLAN_H_
#define ANIFARM_NODE_SCALE_PLAN_H_

#include "absl/status/statusor.h"
#include "common/media/output_geometry.h"

namespace anifarm {

struct ScalePlan {
  int passes = 1;
  int output_width = 0;
  int output_height = 0;
  // Multiply an explicit tile size by this (1, 1/2 or 1/4).
  double tile_factor = 1.0;
};

// scale: 0 = native. target_width/height: both 0 unless an exact size was
// asked for (then it wins over scale; the aspect ratio is kept and the
// result fits inside the box, rounded to even sizes for the encoders).
// source_sar: the source's sample aspect ratio ({0, 1}: square); anamorphic
// sources come out with square pixels at their display aspect unless
// keep_sar (PlanOutputGeometry).
absl::StatusOr<ScalePlan> PlanScale(int source_width, int source_height, int native_scale,
                                    int scale, int target_width = 0, int target_height = 0,
                                    AVRational source_sar = AVRational{0, 1},
                                    bool keep_sar = false);

}  // namespace anifarm

#endif  // ANIFARM_NODE_SCALE_PLAN_H_
