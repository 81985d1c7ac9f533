// Lossy test clips as users' episodes are: H.264 (libx264), HEVC (libx265)
// or MPEG-2 at the encoder's own defaults (preset medium, B-frames, the
// encoder's GOP structure and frame types), optionally with open GOPs and an
// AAC track. Unlike common/media/test_clip.h (lossless, closed GOPs,
// keyframes where asked, for exact dedup), these exercise what real encoders
// put in files: leading pictures, B-pyramids, scene-cut keyframes.
// Written with the FFmpeg libraries in-process (no ffmpeg binary).
#ifndef ANIFARM_TESTS_CORPUS_LOSSY_CLIP_H_
#define ANIFARM_TESTS_CORPUS_LOSSY_CLIP_H_

#include <functional>
#include <string>

#include "absl/status/status.h"

extern "C" {
#include <libavutil/frame.h>
#include <libavutil/rational.h>
}

namespace anifarm {

struct LossyClipSpec {
  std::string encoder = "libx264";  // "libx264", "libx265" or "mpeg2video"
  int width = 192, height = 108;
  int fps = 24;  // frames per second (time base 1/fps for the encoder)
  // A rate that is not whole (30000/1001: NTSC): overrides fps when set.
  AVRational rate{0, 1};
  // Coded interlaced, top field first (mpeg2video: interlaced DCT and motion
  // estimation, progressive_frame=0; libx264: interlaced=1), every frame
  // flagged interlaced: what `draw` weaves into the frame is up to the test
  // (tests/corpus/field_clips.h).
  bool interlaced = false;
  // Written into the stream (an NTSC 4:3 DVD: 8:9 at 720x480).
  AVRational sample_aspect_ratio{1, 1};
  int frames = 48;
  int crf = 23;     // x264/x265 CRF; for mpeg2video mapped to a qscale (see .cc)
  int keyint = 0;   // 0: the encoder's default
  bool open_gop = false;  // x264 open-gop=1; x265: its default (open) when true,
                          // open-gop=0 when false; mpeg2: no closed-GOP flag
  std::string codec_params;  // extra x264-params / x265-params, "k=v:k=v"
  // Fills a YUV420P frame (8-bit, width x height) for frame `index`. Unset:
  // DrawMovingPattern.
  std::function<void(int index, AVFrame& frame)> draw;
  // MP4: the index (moov) before the frames, as files made for streaming
  // are; cut short, such a file still opens and declares every frame.
  bool index_first = false;
  bool audio = false;  // a 440 Hz sine AAC track (like common/media/test_clip.cc);
                       // not in .mpg (MPEG-PS has no AAC)
};

// Writes `path` (.mp4 or .mkv by extension; mpeg2video also .ts/.mpg) with
// the encoder at its defaults otherwise (preset medium for x264/x265,
// B-frames on): the way episodes reach users. Frame types are never forced.
absl::Status WriteLossyClip(const std::string& path, const LossyClipSpec& spec);

// The default picture: a banded background panning and a box crossing it,
// different in every frame, so that no two frames decode alike and motion
// makes the encoder use B-frames.
void DrawMovingPattern(int index, AVFrame& frame);

}  // namespace anifarm

#endif  // ANIFARM_TESTS_CORPUS_LOSSY_CLIP_H_
