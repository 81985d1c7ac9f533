// The held-drawing detector on a labelled corpus: clips rendered from
// drawings with known ids (a character over a banded background: mouth
// flaps, blinks, a moving arm, colour changes at equal luma, pans of one
// pixel a frame, fades, cross-fades, grain, a cut repeated later), encoded
// with libx264 and libx265 at their defaults (B-frames, CRF 16-28), then
// planned. A frame mapped onto a picture of another drawing is a visible
// error in the output; a held frame not reused is only lost time.
#include "coordinator/held_frames.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/media/ffmpeg_ptr.h"
#include "coordinator/planner.h"
#include "tests/corpus/lossy_clip.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;

constexpr int kWidth = 192, kHeight = 108;

// What a frame shows. Two frames with equal fields show the same drawing.
struct Drawing {
  int scene = 0;          // background layout and colours
  int pan = 0;            // background and character shifted right, pixels
  int arm = 0;            // the arm's position (a new drawing of the pose)
  bool mouth_open = false;
  bool eyes_open = true;
  bool alt_colour = false;  // the shirt in another hue of the same luma
  int fade = 100;           // percent of the picture over black
  int blend_to = -1;        // cross-fade: scene blended in, `fade` percent of it
  auto key() const {
    return std::make_tuple(scene, pan, arm, mouth_open, eyes_open, alt_colour, fade, blend_to);
  }
  bool operator<(const Drawing& o) const { return key() < o.key(); }
};

struct Yuv {
  int y, u, v;
};

// The picture of one drawing, before fades, as full-resolution YUV 4:4:4.
struct Canvas {
  std::vector<Yuv> px = std::vector<Yuv>(kWidth * kHeight);
  Yuv& at(int x, int y) { return px[static_cast<size_t>(y) * kWidth + x]; }
};

Canvas Render(const Drawing& d, int scene) {
  static constexpr Yuv kSky[] = {{170, 150, 100}, {90, 110, 160}, {200, 100, 140}};
  static constexpr Yuv kGround[] = {{110, 100, 120}, {60, 140, 110}, {140, 120, 90}};
  Canvas c;
  const Yuv sky = kSky[scene % 3], ground = kGround[scene % 3];
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      const int sx = x - d.pan;
      Yuv p = y < 70 ? sky : ground;
      if (y < 70) p.y += (y / 10) * 3;  // a banded gradient, as cel skies are painted
      // Buildings on the horizon: dark edges every 24 pixels.
      const int m = ((sx % 24) + 24) % 24;
      if (y > 40 && y < 70 && m < 10) p = Yuv{p.y - 50, p.u + 5, p.v - 5};
      if (y > 40 && y < 70 && (m == 0 || m == 9)) p = Yuv{30, 128, 128};
      c.at(x, y) = p;
    }
  }
  // The character: a body, a head with eyes and mouth, an arm.
  const int cx = 96 + d.pan / 2;
  auto fill = [&](int x0, int y0, int w, int h, Yuv colour) {
    for (int y = std::max(0, y0); y < std::min(kHeight, y0 + h); ++y) {
      for (int x = std::max(0, x0); x < std::min(kWidth, x0 + w); ++x) c.at(x, y) = colour;
    }
  };
  const Yuv shirt = d.alt_colour ? Yuv{120, 90, 180} : Yuv{120, 170, 80};
  fill(cx - 16, 60, 32, 40, Yuv{25, 128, 128});  // outline
  fill(cx - 15, 61, 30, 38, shirt);
  fill(cx - 13, 22, 26, 36, Yuv{25, 128, 128});
  fill(cx - 12, 23, 24, 34, Yuv{200, 120, 145});  // face
  for (int eye : {cx - 8, cx + 3}) {
    if (d.eyes_open) {
      fill(eye, 32, 5, 4, Yuv{235, 128, 128});
      fill(eye + 1, 33, 2, 2, Yuv{20, 128, 128});
    } else {
      fill(eye, 34, 5, 1, Yuv{20, 128, 128});
    }
  }
  // The mouth: 8x3 pixels open, one line closed.
  if (d.mouth_open) {
    fill(cx - 4, 47, 8, 3, Yuv{60, 140, 170});
  } else {
    fill(cx - 4, 48, 8, 1, Yuv{40, 128, 140});
  }
  fill(cx + 15, 62 + d.arm * 3, 14, 5, shirt);
  return c;
}

// Frame `index`: the drawing, with grain (different in every frame) when
// `grain` > 0, at kWidth x kHeight or a whole multiple (drawn bigger, the
// way the same drawing is scanned at a higher resolution).
void DrawFrame(const Drawing& d, int index, int grain, AVFrame& frame) {
  const int scale = frame.width / kWidth;
  Canvas c = Render(d, d.scene);
  if (d.blend_to >= 0) {
    Drawing other = d;
    other.scene = d.blend_to;
    Canvas b = Render(other, d.blend_to);
    for (size_t i = 0; i < c.px.size(); ++i) {
      auto mix = [&](int a, int z) { return (a * (100 - d.fade) + z * d.fade + 50) / 100; };
      c.px[i] = Yuv{mix(c.px[i].y, b.px[i].y), mix(c.px[i].u, b.px[i].u), mix(c.px[i].v, b.px[i].v)};
    }
  } else if (d.fade < 100) {
    for (Yuv& p : c.px) {
      p.y = 16 + ((p.y - 16) * d.fade + 50) / 100;
      p.u = 128 + ((p.u - 128) * d.fade + 50) / 100;
      p.v = 128 + ((p.v - 128) * d.fade + 50) / 100;
    }
  }
  std::mt19937 noise(static_cast<uint32_t>(index * 7919 + 13));
  std::normal_distribution<float> gauss(0.0f, float(grain));
  auto clip = [](float v) { return static_cast<uint8_t>(std::clamp(int(std::lround(v)), 0, 255)); };
  for (int y = 0; y < frame.height; ++y) {
    for (int x = 0; x < frame.width; ++x) {
      frame.data[0][y * frame.linesize[0] + x] =
          clip(float(c.at(x / scale, y / scale).y) + (grain > 0 ? gauss(noise) : 0.0f));
    }
  }
  for (int y = 0; y < frame.height / 2; ++y) {
    for (int x = 0; x < frame.width / 2; ++x) {
      int u = 0, v = 0;
      for (int k = 0; k < 4; ++k) {
        u += c.at((2 * x + k % 2) / scale, (2 * y + k / 2) / scale).u;
        v += c.at((2 * x + k % 2) / scale, (2 * y + k / 2) / scale).v;
      }
      frame.data[1][y * frame.linesize[1] + x] = static_cast<uint8_t>((u + 2) / 4);
      frame.data[2][y * frame.linesize[2] + x] = static_cast<uint8_t>((v + 2) / 4);
    }
  }
}

// A labelled clip: the drawing of every frame.
struct LabelledClip {
  std::string name;
  std::vector<Drawing> frames;
  int grain = 0;
};

// Holds `d` for `frames` frames.
void Hold(LabelledClip& clip, const Drawing& d, int frames) {
  for (int i = 0; i < frames; ++i) clip.frames.push_back(d);
}

std::vector<LabelledClip> Corpus() {
  std::vector<LabelledClip> corpus;
  {  // On ones, twos and threes, the arm moving: each pose a new drawing.
    LabelledClip clip{"holds"};
    const int holds[] = {2, 2, 3, 3, 1, 1, 1, 2, 3, 2, 2, 3, 1, 2, 3, 2};
    int arm = 0;
    for (int hold : holds) {
      Drawing d;
      d.arm = arm++ % 6;
      d.scene = arm / 6;
      Hold(clip, d, hold);
    }
    corpus.push_back(clip);
  }
  {  // Mouth flaps (8x3 pixels) and blinks over a held body, on threes.
    LabelledClip clip{"mouth-blink"};
    for (int i = 0; i < 16; ++i) {
      Drawing d;
      d.mouth_open = i % 2 == 1;
      d.eyes_open = i % 5 != 4;
      Hold(clip, d, i % 3 == 0 ? 2 : 3);
    }
    corpus.push_back(clip);
  }
  {  // The shirt changes hue at equal luma, back and forth, on twos.
    LabelledClip clip{"colour-only"};
    for (int i = 0; i < 12; ++i) {
      Drawing d;
      d.alt_colour = i % 2 == 1;
      d.arm = i / 4;
      Hold(clip, d, 2 + i % 2);
    }
    corpus.push_back(clip);
  }
  {  // A fade in from black, a hold, a fade out, a cross-fade to another scene.
    LabelledClip clip{"fades"};
    for (int f = 0; f <= 100; f += 5) {
      Drawing d;
      d.fade = f;
      Hold(clip, d, 1);
    }
    Hold(clip, Drawing{}, 6);
    for (int f = 100; f >= 40; f -= 4) {
      Drawing d;
      d.fade = f;
      Hold(clip, d, 1);
    }
    for (int f = 8; f <= 100; f += 8) {
      Drawing d;
      d.blend_to = 1;
      d.fade = f;
      Hold(clip, d, 1);
    }
    corpus.push_back(clip);
  }
  {  // A slow pan, one pixel a frame, then held drawings on twos.
    LabelledClip clip{"slow-pan"};
    for (int p = 0; p < 24; ++p) {
      Drawing d;
      d.pan = p;
      Hold(clip, d, 1);
    }
    for (int i = 0; i < 8; ++i) {
      Drawing d;
      d.pan = 24;
      d.arm = i % 3;
      Hold(clip, d, 2);
    }
    corpus.push_back(clip);
  }
  {  // Grain over drawings held on threes.
    LabelledClip clip{"grain", {}, 3};
    for (int i = 0; i < 16; ++i) {
      Drawing d;
      d.arm = i % 4;
      d.mouth_open = (i / 4) % 2 == 1;
      Hold(clip, d, 3);
    }
    corpus.push_back(clip);
  }
  {  // A cut, another scene, then the first cut again (a flashback).
    LabelledClip clip{"repeated-cut"};
    for (int i = 0; i < 6; ++i) {
      Drawing d;
      d.arm = i % 3;
      Hold(clip, d, 2);
    }
    for (int i = 0; i < 6; ++i) {
      Drawing d;
      d.scene = 2;
      d.arm = 3 + i % 3;
      Hold(clip, d, 2);
    }
    for (int i = 0; i < 6; ++i) {
      Drawing d;
      d.arm = i % 3;
      Hold(clip, d, 2);
    }
    corpus.push_back(clip);
  }
  return corpus;
}

struct Encoding {
  std::string encoder;
  int crf;
  int scale;  // frame size in multiples of kWidth x kHeight
};

struct Score {
  int frames = 0;
  int held = 0;        // frames whose drawing an earlier frame showed
  int reused = 0;      // ... mapped onto a picture of that drawing
  int wrong = 0;       // frames mapped onto a picture of another drawing
  int upscaled = 0;
  std::string first_wrong;
};

Score PlanAndScore(const LabelledClip& clip, const Encoding& encoding, const fs::path& dir) {
  Score score;
  const std::string path =
      (dir / (clip.name + "-" + encoding.encoder + "-" + std::to_string(encoding.crf) + "-" +
              std::to_string(encoding.scale) + ".mkv"))
          .string();
  LossyClipSpec spec;
  spec.encoder = encoding.encoder;
  spec.width = kWidth * encoding.scale;
  spec.height = kHeight * encoding.scale;
  spec.crf = encoding.crf;
  spec.frames = static_cast<int>(clip.frames.size());
  spec.draw = [&](int index, AVFrame& frame) {
    DrawFrame(clip.frames[index], index, clip.grain, frame);
  };
  const absl::Status written = WriteLossyClip(path, spec);
  EXPECT_TRUE(written.ok()) << written;
  if (!written.ok()) return score;
  fs::create_directories(dir / "chunks");
  PlanOptions options;
  options.dedup = v1::DEDUP_NEAR;
  auto plan = PlanJob("job", path, (dir / "chunks").string(), options);
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (!plan.ok()) return score;
  EXPECT_EQ(plan->frames.size(), clip.frames.size()) << path;
  std::map<Drawing, int> first;
  for (const FrameRecord& frame : plan->frames) {
    if (frame.index >= static_cast<int64_t>(clip.frames.size())) break;
    const Drawing& d = clip.frames[frame.index];
    const bool held = !first.emplace(d, frame.index).second;
    ++score.frames;
    score.held += held;
    if (frame.source_index == frame.index) {
      ++score.upscaled;
      continue;
    }
    // The picture shown must be upscaled itself (no chains).
    EXPECT_EQ(plan->frames[frame.source_index].source_index, frame.source_index) << path;
    if (clip.frames[frame.source_index] < d || d < clip.frames[frame.source_index]) {
      if (score.wrong++ == 0) {
        score.first_wrong = "frame " + std::to_string(frame.index) + " shows frame " +
                            std::to_string(frame.source_index);
      }
    } else {
      ++score.reused;
    }
  }
  return score;
}

TEST(HeldFramesTest, LabelledCorpusReusesHeldDrawingsAndMergesNothing) {
  const fs::path dir = fs::temp_directory_path() / ("anifarm-held-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const Encoding encodings[] = {{"libx264", 23, 1}, {"libx264", 16, 2}, {"libx264", 23, 2},
                                {"libx264", 28, 2}, {"libx265", 20, 2}, {"libx265", 28, 2}};
  // Reuse is counted per clip and over the corpus for each encoding: a clip
  // with few held frames (the fades) may miss one of them.
  std::map<std::string, std::pair<int, int>> reused_of_held;
  for (const LabelledClip& clip : Corpus()) {
    for (const Encoding& encoding : encodings) {
      const Score s = PlanAndScore(clip, encoding, dir);
      const std::string size = std::to_string(kWidth * encoding.scale) + "x" +
                               std::to_string(kHeight * encoding.scale);
      const std::string coding = encoding.encoder + " crf " + std::to_string(encoding.crf) + " " + size;
      const std::string label = clip.name + " " + coding;
      std::printf("%-40s frames %3d held %3d reused %3d wrong %d upscaled %3d\n", label.c_str(),
                  s.frames, s.held, s.reused, s.wrong, s.upscaled);
      EXPECT_EQ(s.wrong, 0) << label << ": " << s.first_wrong;
      if (encoding.crf <= 23) {
        EXPECT_GE(s.reused * 100, s.held * 95) << label << ": " << s.reused << " of " << s.held;
        reused_of_held[coding].first += s.reused;
        reused_of_held[coding].second += s.held;
      }
    }
  }
  for (const auto& [coding, counts] : reused_of_held) {
    std::printf("%-40s held frames reused: %d of %d\n", coding.c_str(), counts.first, counts.second);
    EXPECT_GE(counts.first * 100, counts.second * 95) << coding;
  }
  fs::remove_all(dir);
}

// Features of raw frames, no coding: what each rule sees.
FramePtr Flat(int y_value) {
  FramePtr frame = MakeFrame();
  frame->format = AV_PIX_FMT_YUV420P;
  frame->width = kWidth;
  frame->height = kHeight;
  EXPECT_GE(av_frame_get_buffer(frame.get(), 0), 0);
  for (int y = 0; y < kHeight; ++y) {
    std::memset(frame->data[0] + y * frame->linesize[0], y_value, kWidth);
  }
  for (int p = 1; p < 3; ++p) {
    for (int y = 0; y < kHeight / 2; ++y) {
      std::memset(frame->data[p] + y * frame->linesize[p], 128, kWidth / 2);
    }
  }
  return frame;
}

TEST(HeldFramesTest, FewPixelsChangedKeepTheFrameNoiseDoesNot) {
  FramePtr base = Flat(120);
  FramePtr changed = Flat(120);
  for (int y = 50; y < 53; ++y) std::memset(changed->data[0] + y * changed->linesize[0] + 90, 60, 8);
  FramePtr noisy = Flat(120);
  std::mt19937 rng(1);
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) noisy->data[0][y * noisy->linesize[0] + x] = 120 + rng() % 5 - 2;
  }
  const PictureFeature a = ComputePictureFeature(*base);
  EXPECT_FALSE(CompareFeatures(ComputePictureFeature(*changed), a).same);
  EXPECT_TRUE(CompareFeatures(ComputePictureFeature(*noisy), a).same);
  // A uniform shift of one level: a fade's step, not noise.
  EXPECT_FALSE(CompareFeatures(ComputePictureFeature(*Flat(121)), a).same);
}

TEST(HeldFramesTest, ColourChangeAtEqualLumaKeepsTheFrame) {
  FramePtr base = Flat(120);
  FramePtr tinted = Flat(120);
  for (int y = 20; y < 30; ++y) std::memset(tinted->data[1] + y * tinted->linesize[1] + 40, 170, 10);
  EXPECT_FALSE(
      CompareFeatures(ComputePictureFeature(*tinted), ComputePictureFeature(*base)).same);
}

TEST(HeldFramesTest, DetectorReusesAnEarlierPictureAfterOthers) {
  HeldFrameDetector detector;
  FramePtr a = Flat(60), b = Flat(200);
  EXPECT_EQ(detector.Match(*a, 0), -1);
  EXPECT_EQ(detector.Match(*a, 1), 0);
  EXPECT_EQ(detector.Match(*b, 2, /*scene_cut=*/true), -1);
  for (int i = 3; i < 20; ++i) {
    FramePtr other = Flat(100 + 5 * i);
    EXPECT_EQ(detector.Match(*other, i), -1);
  }
  EXPECT_EQ(detector.Match(*a, 20, /*scene_cut=*/true), 0) << "found globally, not only recently";
}

TEST(HeldFramesTest, MemoryBudgetDropsLeastRecentlyMatchedPictures) {
  HeldFrameOptions options;
  options.memory_budget_bytes = 3 * (3 * 96 * 54 + 16 * 9 * 3 + 160);
  HeldFrameDetector detector(options);
  for (int i = 0; i < 10; ++i) detector.Match(*Flat(20 + 20 * i), i, true);
  EXPECT_EQ(detector.kept_pictures(), 3u);
  EXPECT_EQ(detector.dropped_pictures(), 7u);
  EXPECT_EQ(detector.Match(*Flat(20), 10, true), -1) << "dropped: no longer a candidate";
}

}  // namespace
}  // namespace anifarm
