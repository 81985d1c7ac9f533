// Synthetic test clips, written with the FFmpeg libraries (no ffmpeg binary):
// a cartoon-like picture sequence with held and repeated frames, and a sine
// audio track. Tests and the quick start use them as their input.
#ifndef ANIFARM_COMMON_MEDIA_TEST_CLIP_H_
#define ANIFARM_COMMON_MEDIA_TEST_CLIP_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace anifarm {

struct TestClipSpec {
  int width = 160;
  int height = 96;
  int fps = 24;
  // content[i] is the picture shown by frame i: equal ids give pixel-identical
  // decoded frames (the video is coded losslessly), so dedup is testable.
  // Empty: 48 frames held on twos, with the opening pictures repeated at the
  // end (duplicates across chunk boundaries).
  std::vector<int> content;
  int gop = 12;       // keyframe interval
  bool audio = true;  // 440 Hz sine, AAC, 48 kHz stereo, language "eng"
  // The libavcodec encoder of that track ("libopus", "flac", "dca"...): a
  // source of each codec for the container rules (needs .mkv for most).
  std::string audio_encoder = "aac";

  // Extras for testing that the rest of a source is kept (an anime episode
  // as users have them). Subtitles and the attachment need .mkv.
  bool second_audio = false;     // 660 Hz sine, PCM s16le 48 kHz stereo, "jpn"
  int subtitle_events = 0;       // an ASS track ("eng") with this many events
  bool font_attachment = false;  // "TestFont.ttf", application/x-truetype-font
  int chapters = 0;              // chapters of equal length over the clip
  std::string title;             // the global title tag, when non-empty

  // Geometry and HDR, for the tests that they are kept (output_geometry.h,
  // video_writer.h).
  int sample_aspect_num = 1;  // the pixel aspect ratio, e.g. 32:27 or 8:9
  int sample_aspect_den = 1;
  double rotation = 0;  // degrees: a display matrix on the stream (0: none)
  // 10-bit (yuv420p10le, lossless High 4:4:4 Predictive), BT.2020 / PQ
  // tags, and the stream side data kTestMasteringDisplay and
  // kTestContentLight describe.
  bool hdr10 = false;
};

// The HDR10 static metadata of hdr10 clips: display primaries of BT.2020,
// D65 white, 1000 cd/m2 peak, 0.005 minimum; MaxCLL 1000, MaxFALL 400.
constexpr int kTestMaxLuminance = 1000;       // cd/m2
constexpr int kTestMinLuminanceMilli = 5;     // 0.005 cd/m2
constexpr unsigned kTestMaxCll = 1000;
constexpr unsigned kTestMaxFall = 400;

// The bytes of the dummy font attachment (for tests to compare).
std::string TestFontBytes();

// Writes an MP4 (H.264 lossless + AAC) or, for .mkv, the same in Matroska.
absl::Status WriteTestClip(const std::string& path, const TestClipSpec& spec);

// The content pattern used when spec.content is empty, for `frames` frames.
std::vector<int> DefaultTestPattern(int frames);

}  // namespace anifarm

#endif  // ANIFARM_COMMON_MEDIA_TEST_CLIP_H_
