// Scene-cut detection for the planner, which already decodes every frame.
//
// Each frame is reduced to a thumbnail: the mean of its first colour
// component (luma for YUV) over a grid of at most 32x32 cells, each cell
// sampled on at most 8x8 points, so a 1080p frame costs about 65k reads.
// Averaging cells keeps grain and small motion out of the score.
//
// A frame's score is how far its change exceeds the recent motion: with `d`
// the mean absolute difference between its thumbnail and the previous
// frame's (in percent of full scale) and `m` the largest such difference
// among the previous 4 frames, score = max(0, d - m) (FFmpeg's scdet filter
// compares with the previous frame only). A pan or busy action changes every
// drawing a lot, but steadily, and scores low; looking 4 frames back keeps
// anime drawn on twos, threes or fours, where a changed frame follows held
// ones, from scoring each drawing whole. A cut after a still shot or calm
// motion scores about its whole difference. The cost: a cut within 4 frames
// of a change nearly as big (a flash, another cut) can go unseen.
#ifndef ANIFARM_COORDINATOR_SCENE_CUT_H_
#define ANIFARM_COORDINATOR_SCENE_CUT_H_

#include <array>
#include <cstddef>
#include <vector>

extern "C" {
#include <libavutil/frame.h>
}

namespace anifarm {

// Default cut threshold (score, percent). Cuts between scenes of different
// brightness or layout score 20 and more; movement within a scene (a pan, a
// character crossing, a background shading) stays well under it. See
// planner_test.cc for both sides.
inline constexpr double kDefaultSceneCutThreshold = 12.0;

// Cell means (0..255) of `frame`'s first colour component, row by row; empty
// for pixel formats it cannot read (hardware, paletted, bitstream, float).
std::vector<float> FrameThumbnail(const AVFrame& frame);

// Mean absolute difference of two thumbnails in percent of full scale
// (0..100); 100 when their shapes differ, 0 when either is empty.
double ThumbnailDifference(const std::vector<float>& a, const std::vector<float>& b);

class SceneCutDetector {
 public:
  // `threshold` <= 0 turns detection off (no frame is read).
  explicit SceneCutDetector(double threshold) : threshold_(threshold) {}

  // Feeds the next frame in presentation order; true when it starts a new
  // scene. The first frame never does.
  bool IsCut(const AVFrame& frame);
  // The score of the frame IsCut saw last.
  double last_score() const { return last_score_; }

 private:
  double threshold_;
  std::vector<float> previous_;
  bool has_previous_ = false;
  // Differences of the last frames, a ring (0 before there were any).
  std::array<double, 4> recent_{};
  size_t next_recent_ = 0;
  double last_score_ = 0;
};

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_SCENE_CUT_H_
