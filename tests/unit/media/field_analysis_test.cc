// Field analysis and field filters on clips as NTSC DVDs hold them
// (tests/corpus/field_clips.h): the comb metric tells woven fields of two
// moments from a progressive picture, the cadence tells telecined film from
// interlaced video, and the filters give progressive frames at the film
// rate (inverse telecine) or the field rate (bwdif), none of them combed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "common/media/field_analysis.h"
#include "common/media/field_filter.h"
#include "common/media/source_reader.h"
#include "common/media/video_decoder.h"
#include "tests/corpus/field_clips.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;

FramePtr Picture(int width, int height) {
  FramePtr frame = MakeFrame();
  frame->format = AV_PIX_FMT_YUV420P;
  frame->width = width;
  frame->height = height;
  EXPECT_GE(av_frame_get_buffer(frame.get(), 0), 0);
  return frame;
}

// Mean absolute luma difference between a decoded frame and moment `t`.
double LumaDistance(const AVFrame& frame, int t, int step) {
  FramePtr expected = Picture(frame.width, frame.height);
  DrawMoment(t, step, *expected);
  double sum = 0;
  for (int y = 0; y < frame.height; ++y) {
    for (int x = 0; x < frame.width; ++x) {
      sum += std::abs(int(frame.data[0][y * frame.linesize[0] + x]) -
                      int(expected->data[0][y * expected->linesize[0] + x]));
    }
  }
  return sum / (double(frame.width) * frame.height);
}

std::vector<FramePtr> DecodeAll(const std::string& path, MediaInfo* info) {
  std::vector<FramePtr> frames;
  auto reader = SourceReader::Open(path);
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return frames;
  *info = (*reader)->info();
  auto decoder = VideoDecoder::Create(info->video);
  EXPECT_TRUE(decoder.ok()) << decoder.status();
  while (true) {
    auto packet = (*reader)->NextVideoPacket();
    EXPECT_TRUE(packet.ok());
    if (!packet.ok() || !*packet) break;
    EXPECT_TRUE((*decoder)->Decode(**packet, &frames).ok());
  }
  EXPECT_TRUE((*decoder)->Flush(&frames).ok());
  return frames;
}

class FieldClipTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const LossyClipSpec& spec) {
    const std::string path = (dir_ / name).string();
    const absl::Status written = WriteLossyClip(path, spec);
    EXPECT_TRUE(written.ok()) << written;
    return path;
  }
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("anifarm_fields_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST(CombFractionTest, WovenMomentsCombAndProgressivePicturesDoNot) {
  FramePtr progressive = Picture(352, 240);
  DrawMoment(5, 6, *progressive);
  EXPECT_LT(CombFraction(*progressive), 1e-4);
  FramePtr woven = Picture(352, 240);
  FramePtr other = Picture(352, 240);
  DrawMoment(5, 6, *woven);
  DrawMoment(6, 6, *other);
  for (int y = 1; y < 240; y += 2) {
    std::copy_n(other->data[0] + y * other->linesize[0], 352, woven->data[0] + y * woven->linesize[0]);
  }
  const double comb = CombFraction(*woven);
  EXPECT_GT(comb, 20 * kCombedFrameFraction) << comb;
}

TEST(CombFractionTest, OnePixelLinesAndHorizontalEdgesAreNotCombing) {
  FramePtr frame = Picture(64, 64);
  for (int y = 0; y < 64; ++y) {
    // A 1-pixel line every 8 rows on a flat grey, and a hard edge at 40.
    const uint8_t v = y % 8 == 3 ? 250 : (y < 40 ? 60 : 190);
    std::fill_n(frame->data[0] + y * frame->linesize[0], 64, v);
  }
  EXPECT_EQ(CombFraction(*frame), 0.0);
}

TEST(CombFractionTest, GrainIsNotCombing) {
  // Heavy grain (uniform noise of +-40 on the still stripes and bars, about
  // what a 16 mm cel scan has) on a progressive picture: many single
  // pixels differ from both rows around them, no run of them does.
  FramePtr frame = Picture(352, 240);
  DrawMoment(3, 6, *frame);
  uint32_t seed = 12345;
  int isolated = 0;
  for (int y = 0; y < 240; ++y) {
    for (int x = 0; x < 352; ++x) {
      seed = seed * 1664525u + 1013904223u;
      uint8_t& p = frame->data[0][y * frame->linesize[0] + x];
      p = static_cast<uint8_t>(std::clamp(int(p) + int(seed >> 24) * 80 / 255 - 40, 0, 255));
    }
  }
  for (int y = 2; y + 2 < 240; ++y) {
    for (int x = 0; x < 352; ++x) {
      auto at = [&](int r) { return int(frame->data[0][r * frame->linesize[0] + x]); };
      const int up = at(y) - at(y - 1), down = at(y) - at(y + 1);
      isolated += (up > kCombPixelThreshold && down > kCombPixelThreshold) ||
                  (up < -kCombPixelThreshold && down < -kCombPixelThreshold);
    }
  }
  EXPECT_GT(isolated, 352 * 236 / 100);  // the premise: over 1 % would comb alone
  const double comb = CombFraction(*frame);
  EXPECT_LT(comb, kCombedFrameFraction) << comb;
  std::cout << "grain: " << isolated << " single pixels comb, fraction counted " << comb << "\n";
}

std::vector<FieldSample> Samples(int frames, bool (*combed)(int)) {
  std::vector<FieldSample> samples;
  for (int i = 0; i < frames; ++i) {
    FieldSample s;
    s.comb = combed(i) ? 0.05 : 0.0;
    s.interlaced_flag = true;
    s.top_field_first = true;
    s.position = i;
    samples.push_back(s);
  }
  return samples;
}

TEST(ClassifyFieldsTest, TheCadenceDecides) {
  // 3:2 pulldown: frames 2 and 3 of every 5 are combed.
  FieldAnalysis telecined = ClassifyFields(Samples(100, [](int i) { return i % 5 == 2 || i % 5 == 3; }), 0);
  EXPECT_EQ(telecined.structure, FieldStructure::kTelecined);
  EXPECT_EQ(telecined.combed, 40);
  EXPECT_EQ(telecined.combed_in_cadence, 40);
  // A held drawing combs only one of the pair sometimes: still the cadence.
  EXPECT_EQ(ClassifyFields(Samples(100, [](int i) { return i % 5 == 3 && i % 10 != 3; }), 0).structure,
            FieldStructure::kTelecined);
  EXPECT_EQ(ClassifyFields(Samples(100, [](int i) { return i % 7 != 0; }), 0).structure,
            FieldStructure::kInterlaced);
  EXPECT_EQ(ClassifyFields(Samples(100, [](int i) { return i == 50; }), 0).structure,
            FieldStructure::kProgressive);
  // Soft telecine: progressive pictures, repeat-field flags on 2 of 4.
  std::vector<FieldSample> soft = Samples(100, [](int) { return false; });
  for (int i = 0; i < 100; i += 2) soft[i].repeat_pict = 1;
  FieldAnalysis a = ClassifyFields(soft, 0);
  EXPECT_EQ(a.structure, FieldStructure::kProgressive);
  EXPECT_TRUE(a.soft_telecine);
  // The field order: the frames' flags, else the headers'.
  std::vector<FieldSample> unflagged = Samples(10, [](int) { return false; });
  for (FieldSample& s : unflagged) s.interlaced_flag = false;
  EXPECT_FALSE(ClassifyFields(unflagged, AV_FIELD_BB).top_field_first);
  EXPECT_TRUE(ClassifyFields(unflagged, AV_FIELD_TT).top_field_first);
}

TEST_F(FieldClipTest, ClipsAreDetectedForWhatTheyAre) {
  const std::string telecined = Write("telecined.ts", TelecinedClip(352, 240, 60));
  const std::string interlaced = Write("interlaced.ts", InterlacedVideoClip(352, 240, 60));
  const std::string progressive = Write("progressive.ts", ProgressiveClip(352, 240, 60));
  auto t = AnalyzeFields(telecined);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->structure, FieldStructure::kTelecined) << t->Describe();
  EXPECT_EQ(t->frames, 75);
  EXPECT_TRUE(t->top_field_first);
  EXPECT_GT(t->flagged_interlaced, 70);
  std::cout << "telecined: " << t->Describe() << ", max comb " << t->max_comb << "\n";
  auto i = AnalyzeFields(interlaced);
  ASSERT_TRUE(i.ok()) << i.status();
  EXPECT_EQ(i->structure, FieldStructure::kInterlaced) << i->Describe();
  std::cout << "interlaced: " << i->Describe() << ", max comb " << i->max_comb << "\n";
  auto p = AnalyzeFields(progressive);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->structure, FieldStructure::kProgressive) << p->Describe();
  EXPECT_EQ(p->combed, 0);
  std::cout << "progressive: " << p->Describe() << ", max comb " << p->max_comb << "\n";
}

TEST_F(FieldClipTest, InverseTelecineGivesEachFilmFrameOnceAtTheFilmRate) {
  if (!FieldFiltersAvailable()) GTEST_SKIP() << "built without libavfilter";
  const std::string path = Write("telecined.ts", TelecinedClip(352, 240, 60));
  MediaInfo info;
  std::vector<FramePtr> decoded = DecodeAll(path, &info);
  ASSERT_EQ(decoded.size(), 75u);
  int combed_in = 0;
  for (const FramePtr& f : decoded) combed_in += CombFraction(*f) > kCombedFrameFraction;
  EXPECT_EQ(combed_in, 30);  // 2 of every 5: the test's premise
  FieldFilterConfig config;
  config.mode = FieldFilterMode::kInverseTelecine;
  config.width = 352;
  config.height = 240;
  config.pixel_format = decoded[0]->format;
  config.time_base = info.video.time_base;
  config.frame_rate = info.frame_rate;
  auto filter = FieldFilter::Create(config);
  ASSERT_TRUE(filter.ok()) << filter.status();
  std::vector<FramePtr> out;
  for (const FramePtr& f : decoded) ASSERT_TRUE((*filter)->Push(*f, &out).ok());
  ASSERT_TRUE((*filter)->Finish(&out).ok());
  EXPECT_EQ(av_cmp_q((*filter)->frame_rate(), AVRational{24000, 1001}), 0);
  ASSERT_EQ(out.size(), 60u);
  const AVRational tb = (*filter)->time_base();
  const double frame_s = 1001.0 / 24000.0;
  double max_comb = 0, max_distance = 0;
  for (size_t k = 0; k < out.size(); ++k) {
    max_comb = std::max(max_comb, CombFraction(*out[k]));
    // Film frame k, rebuilt from its own two fields (not a blend).
    max_distance = std::max(max_distance, LumaDistance(*out[k], static_cast<int>(k), 6));
    if (k > 0) {
      EXPECT_NEAR((out[k]->pts - out[k - 1]->pts) * av_q2d(tb), frame_s, 2 * av_q2d(tb)) << k;
    }
  }
  EXPECT_NEAR(out[0]->pts * av_q2d(tb), decoded[0]->pts * av_q2d(info.video.time_base), 1e-6);
  EXPECT_LT(max_comb, kCombedFrameFraction);
  EXPECT_LT(max_distance, 3.0);
  std::cout << "ivtc: 75 frames (" << combed_in << " combed) -> " << out.size()
            << ", max comb " << max_comb << ", max luma distance to the film frame "
            << max_distance << "\n";
}

TEST_F(FieldClipTest, BwdifGivesOneFrameperFieldWithoutCombing) {
  if (!FieldFiltersAvailable()) GTEST_SKIP() << "built without libavfilter";
  const std::string path = Write("interlaced.ts", InterlacedVideoClip(352, 240, 40));
  MediaInfo info;
  std::vector<FramePtr> decoded = DecodeAll(path, &info);
  ASSERT_EQ(decoded.size(), 40u);
  FieldFilterConfig config;
  config.mode = FieldFilterMode::kDeinterlaceFields;
  config.width = 352;
  config.height = 240;
  config.pixel_format = decoded[0]->format;
  config.time_base = info.video.time_base;
  config.frame_rate = info.frame_rate;
  auto filter = FieldFilter::Create(config);
  ASSERT_TRUE(filter.ok()) << filter.status();
  std::vector<FramePtr> out;
  for (const FramePtr& f : decoded) ASSERT_TRUE((*filter)->Push(*f, &out).ok());
  ASSERT_TRUE((*filter)->Finish(&out).ok());
  ASSERT_EQ(out.size(), 80u);
  EXPECT_EQ(av_cmp_q((*filter)->frame_rate(), AVRational{60000, 1001}), 0);
  const AVRational tb = (*filter)->time_base();
  double max_comb = 0, max_distance = 0;
  for (size_t k = 0; k < out.size(); ++k) {
    max_comb = std::max(max_comb, CombFraction(*out[k]));
    if (k > 0) {
      EXPECT_NEAR((out[k]->pts - out[k - 1]->pts) * av_q2d(tb), 1001.0 / 60000, 2 * av_q2d(tb));
    }
    // Frame k shows field k's moment (interpolated rows: a looser bound).
    if (k > 0 && k + 1 < out.size()) {
      max_distance = std::max(max_distance, LumaDistance(*out[k], static_cast<int>(k), 3));
    }
  }
  EXPECT_LT(max_comb, kCombedFrameFraction);
  EXPECT_LT(max_distance, 12.0);
  std::cout << "bwdif: 40 frames -> " << out.size() << ", max comb " << max_comb
            << ", max luma distance to the field's moment " << max_distance << "\n";
}

TEST(FieldFilterGraphTest, FieldOrderReachesTheFilters) {
  FieldFilterConfig config;
  config.top_field_first = false;
  EXPECT_EQ(FieldFilterGraph(config),
            "fieldmatch=order=bff,bwdif=mode=send_frame:parity=bff:deint=interlaced,"
            "decimate=cycle=5");
  config.mode = FieldFilterMode::kDeinterlaceFields;
  config.top_field_first = true;
  EXPECT_EQ(FieldFilterGraph(config), "bwdif=mode=send_field:parity=tff:deint=all");
}

}  // namespace
}  // namespace anifarm
