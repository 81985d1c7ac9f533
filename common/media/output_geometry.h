// Output geometry: the frame size of a job's output and the sample aspect
// ratio (SAR) its video stream signals, from the source's stored size and
// SAR, the scale or the --size box, and --keep-sar. One rule, used by the
// coordinator at submit (limits, codec sizes) and by nodes (ScalePlan), so
// both agree on the size.
//
// Square-pixel sources (SAR 1:1 or unknown): stored size times the scale;
// --size fits the frame inside the box, aspect kept, even sizes.
//
// Anamorphic sources (SAR other than 1:1), by default: the output has
// square pixels at the source's display aspect. The height is the stored
// height times the scale; the width is the display width (stored width x
// SAR) times the scale, rounded to the nearest even number:
//   720x480 SAR 32:27 (16:9), x2 -> 1706x960 (853.3 x 2 = 1706.7)
//   720x480 SAR 8:9   (4:3),  x2 -> 1280x960
// --size fits that display-aspect picture inside the box:
//   720x480 16:9 into 1920x1080 -> 1920x1080; 4:3 -> 1440x1080.
// The model's passes still follow the vertical factor (the scale); the final
// Lanczos resize also makes the pixels square (stretches 32:27 widths by
// 1.185, narrows 8:9 ones).
//
// --keep-sar: the stored aspect is kept (720x480 x2 -> 1440x960, --size
// 1920x1080 -> 1620x1080) and the stream carries the source's SAR, so
// players show the same display aspect.
#ifndef ANIFARM_COMMON_MEDIA_OUTPUT_GEOMETRY_H_
#define ANIFARM_COMMON_MEDIA_OUTPUT_GEOMETRY_H_

extern "C" {
#include <libavutil/rational.h>
}

namespace anifarm {

struct OutputGeometry {
  int width = 0;
  int height = 0;
  // Output height / source height: what the model's passes must reach.
  double vertical_factor = 1.0;
  // What the output stream signals: 1:1, or the source's with keep_sar.
  AVRational sample_aspect_ratio{1, 1};
};

// Whether `sar` says the pixels are not square ({0, 1}, 0/0 and 1:1 are square).
bool IsAnamorphic(AVRational sar);

// `scale` applies unless both target sizes are positive (--size). Sizes and
// scale must be positive (the callers validate them).
OutputGeometry PlanOutputGeometry(int source_width, int source_height, AVRational source_sar,
                                  int scale, int target_width, int target_height, bool keep_sar);

}  // namespace anifarm

#endif  // ANIFARM_COMMON_MEDIA_OUTPUT_GEOMETRY_H_
