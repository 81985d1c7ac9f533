// Field analysis: is a video progressive, telecined film (3:2 pulldown) or
// interlaced video (every field its own moment)? Decided per source before
// planning (coordinator/source_prepass.h), from three things:
//
//   - the headers' field order (AVCodecParameters::field_order) and the
//     decoded frames' interlaced / top-field-first flags: which field comes
//     first, and what the file claims;
//   - repeat flags (AVFrame::repeat_pict): soft telecine, where the decoder
//     already returns the film's progressive frames;
//   - a comb metric on the decoded pictures, which decides: flags lie in
//     both directions (progressive encodes flagged interlaced, telecined
//     rips flagged progressive), combing is what the viewer would see.
//
// A telecined source combs 2 frames of every 5 at fixed positions (the
// cadence: fields AA BB BC CD DD); interlaced video combs wherever it moves.
// The rules and thresholds are the constants below (docs/formats.md).
#ifndef ANIFARM_COMMON_MEDIA_FIELD_ANALYSIS_H_
#define ANIFARM_COMMON_MEDIA_FIELD_ANALYSIS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

extern "C" {
#include <libavutil/frame.h>
}

namespace anifarm {

// A luma pixel combs when it differs from both rows around it (the other
// field) by more than this, in the same direction, while the rows two above
// and below (its own field) are within it: line art and horizontal edges
// differ from one neighbour only, a 1-pixel line from its own field too.
inline constexpr int kCombPixelThreshold = 24;  // of 255 (8-bit scale)
// Only runs of at least this many combing pixels along a row count: motion
// combs a band as wide as the displacement, film grain and noise comb
// isolated pixels.
inline constexpr int kCombRun = 3;
// A frame is combed when more than this fraction of its pixels comb. The
// moving box of the tests combs 2-10 %; clean progressive frames, lossy
// MPEG-2 included, stay under 0.05 %.
inline constexpr double kCombedFrameFraction = 0.002;
// A source is progressive when fewer than this fraction of the sampled
// frames (or fewer than kMinCombedFrames) are combed.
inline constexpr double kCombedSourceFraction = 0.02;
inline constexpr int kMinCombedFrames = 3;
// Telecined when at least this share of the combed frames sit on the two
// adjacent positions of a 5-frame cadence (per sampled window). Edits break
// the cadence now and then, hence not 100 %; interlaced video that moves
// all the time puts 40 % there.
inline constexpr double kCadenceShare = 0.8;
// Soft telecine: repeat flags on at least this share of the frames.
inline constexpr double kRepeatFlagShare = 0.2;
// Sampling: sources up to this long are analysed whole (up to
// kMaxWholeFrames frames); longer ones in kWindows windows of kWindowFrames
// frames spread over the duration (whole cadences, so phases count).
inline constexpr double kWholeSourceSeconds = 120;
inline constexpr int kMaxWholeFrames = 3600;
inline constexpr int kWindows = 10;
inline constexpr int kWindowFrames = 150;

enum class FieldStructure { kProgressive, kTelecined, kInterlaced };

// "progressive", "telecined", "interlaced".
const char* FieldStructureName(FieldStructure structure);

// Fraction (0..1) of the luma pixels of `frame` that comb (8- to 16-bit
// planar or semi-planar YUV/gray; 0 for a frame under 5 rows).
double CombFraction(const AVFrame& frame);

// What one decoded frame told.
struct FieldSample {
  double comb = 0;  // CombFraction
  bool interlaced_flag = false;
  bool top_field_first = false;
  int repeat_pict = 0;
  int window = 0;  // sampled window; the cadence is counted per window
  int position = 0;  // frame index within its window
};

struct FieldAnalysis {
  FieldStructure structure = FieldStructure::kProgressive;
  int frames = 0;             // sampled
  int combed = 0;             // over kCombedFrameFraction
  int combed_in_cadence = 0;  // of them, on the best 2-of-5 positions
  int flagged_interlaced = 0;
  int repeat_flagged = 0;
  bool soft_telecine = false;  // progressive frames with repeat flags
  bool top_field_first = true;  // the field order the filters use
  double max_comb = 0;
  // One phrase for the notice: "telecined (3:2 pulldown, 30 of 75 sampled
  // frames combed, 30 in its cadence)".
  std::string Describe() const;
};

// The rules above over the samples; `header_field_order` (AVFieldOrder)
// gives the field order when no frame carries one.
FieldAnalysis ClassifyFields(const std::vector<FieldSample>& samples, int header_field_order);

// Decodes the sampled frames of `path`'s video and classifies them.
absl::StatusOr<FieldAnalysis> AnalyzeFields(const std::string& path);

}  // namespace anifarm

#endif  // ANIFARM_COMMON_MEDIA_FIELD_ANALYSIS_H_
