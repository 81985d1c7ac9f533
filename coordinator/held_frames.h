// Held-drawing detection for the planner (`--dedup near`, the default).
//
// Anime holds a drawing for two, three or more frames, and repeats cuts,
// flashbacks, openings and endings. After lossy coding a held drawing is
// almost never bit-identical (B-frames average two references, grain is
// re-coded), so MD5 dedup (`--dedup exact`) misses nearly all of them. This
// detector decides, for each decoded frame in presentation order, whether it
// shows a picture the video already showed, and never merges two drawings:
//
// - Every frame is reduced to a feature: the means of its Y, Cb and Cr
//   planes over cells of c x c pixels, c = max(2, round(height / 108)), so
//   the grid is about 192x108 at any resolution (swscale's area filter,
//   which also reads every pixel format and bit depth).
// - Two features are compared locally: the signed mean difference over each
//   2x2-cell window (4x4 pixels at 108p, 20x20 at 1080p), for all three
//   planes. Coding noise and grain are zero-mean at that scale and cancel;
//   a real change (a mouth flap, a blink, a line of a few pixels, a colour
//   change at equal luma, a 1-pixel pan's moved edges) is coherent and does
//   not. The tolerance is derived from the pair itself: the robust spread
//   (median absolute deviation) of the window differences measures the
//   source's noise (grain, coding) at that point, and a local change, which
//   covers few windows, does not raise it. A window beyond
//   max(kFloor, kSigmas x spread), capped at kCeiling, keeps the frame.
// - A uniform shift (fade, flash, a colour grade moving) moves every window
//   the same way: a plane whose mean moved by more than 0.65 level keeps
//   the frame, however flat the rest (lossy coding moved a held drawing's
//   means by up to 0.6 in the corpus, a fade's step by 4 and more).
// - Candidates: the picture the previous frame showed, the last few kept
//   pictures (a blink that reopens), and any earlier kept picture of the
//   video whose coarse signature (frame means bucketed, then a 16x9 grid) is
//   close: repeated cuts and flashbacks. Features of kept pictures are held
//   within a memory budget, least recently matched dropped first, so a
//   two-hour film stays bounded (a dropped picture can no longer be reused).
// - A frame always maps onto a kept picture itself, never onto a frame that
//   maps elsewhere, so there are no chains to follow and no drift.
#ifndef ANIFARM_COORDINATOR_HELD_FRAMES_H_
#define ANIFARM_COORDINATOR_HELD_FRAMES_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "common/media/ffmpeg_ptr.h"

namespace anifarm {

// A frame reduced for comparison: cell means of Y, Cb, Cr (8-bit levels),
// plane after plane, plus each plane's mean.
struct PictureFeature {
  int cols = 0;
  int rows = 0;
  std::vector<uint8_t> cells;  // 3 * cols * rows
  float mean[3] = {0, 0, 0};
};

// How two features differ, in 8-bit levels. `same` is the verdict.
struct FeatureComparison {
  bool same = false;
  double largest_window = 0;  // the largest |window difference| over the planes
  double tolerance = 0;       // the window tolerance of the plane holding it
  double largest_shift = 0;   // the largest |plane mean difference|
  int plane = -1;             // the plane of largest_window (0 Y, 1 Cb, 2 Cr)
};

// The detector's fixed constants (levels of 8-bit video).
inline constexpr double kHeldFloor = 13.0;   // smallest window tolerance
inline constexpr double kHeldSigmas = 8.0;   // tolerance in units of the noise spread
inline constexpr double kHeldCeiling = 16.0; // largest window tolerance, however noisy
inline constexpr double kHeldShift = 0.65;   // largest plane mean shift

struct HeldFrameOptions {
  // Also require the whole-frame PSNR over the feature (dB) to reach this;
  // 0 for none (`--near-psnr`).
  double min_psnr = 0;
  // Bytes of kept pictures' features held for matching later frames.
  size_t memory_budget_bytes = size_t{512} << 20;
};

// The feature of `frame`; empty (cols == 0) where swscale cannot read it.
PictureFeature ComputePictureFeature(const AVFrame& frame);

// Compares a frame's feature with a kept picture's (same shape, else not
// the same).
FeatureComparison CompareFeatures(const PictureFeature& frame, const PictureFeature& kept,
                                  double min_psnr = 0);

class HeldFrameDetector {
 public:
  explicit HeldFrameDetector(const HeldFrameOptions& options = {});

  // Feeds the next frame in presentation order, identified by `id` (its
  // timestamp). Returns the id of the earlier kept picture it shows, or -1
  // when it is a new picture (then it is kept for later frames).
  // `scene_cut`: the frame starts a new shot (the previous picture is then
  // no candidate of its own, only through the global search).
  int64_t Match(const AVFrame& frame, int64_t id, bool scene_cut = false);

  // The feature of the frame the last Match kept; nullptr when that frame
  // matched an earlier picture or could not be read.
  const PictureFeature* last_kept_feature() const {
    return last_kept_ && !kept_.empty() ? &kept_.front().feature : nullptr;
  }

  // Kept pictures whose features are still held, and how many were dropped
  // for the memory budget.
  size_t kept_pictures() const { return kept_.size(); }
  size_t dropped_pictures() const { return dropped_; }

 private:
  struct Kept {
    int64_t id;
    PictureFeature feature;
    std::vector<uint8_t> signature;  // 16x9 x 3 planes
    std::tuple<int, int, int> bucket;
  };
  using KeptList = std::list<Kept>;  // most recently matched first

  // The kept picture `feature` shows, or kept_.end().
  KeptList::iterator FindMatch(const PictureFeature& feature,
                               const std::vector<uint8_t>& signature, bool scene_cut);
  bool Verify(const PictureFeature& feature, const Kept& kept) const;
  void Keep(int64_t id, PictureFeature feature, std::vector<uint8_t> signature);
  void Touch(KeptList::iterator it);

  HeldFrameOptions options_;
  KeptList kept_;
  std::unordered_map<int64_t, KeptList::iterator> by_id_;
  std::map<std::tuple<int, int, int>, std::vector<int64_t>> buckets_;
  std::vector<int64_t> recent_;  // ids of the last kept pictures, newest last
  int64_t previous_shown_ = -1;  // the kept picture the previous frame showed
  size_t bytes_ = 0;
  size_t dropped_ = 0;
  bool last_kept_ = false;
};

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_HELD_FRAMES_H_
