// Geometry and tags kept (issue 28): anamorphic sources come out with square
// pixels at their display aspect (or keep their SAR with --keep-sar), the
// rotation and the HDR10 static metadata of the source's video stream reach
// the output's, whose colour tags stay the source's.
#include "common/media/output_geometry.h"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/media/media_info.h"
#include "common/media/test_clip.h"
#include "common/media/video_writer.h"
#include "gtest/gtest.h"
#include "tests/unit/media/media_test_util.h"

extern "C" {
#include <libavutil/mastering_display_metadata.h>
}

namespace anifarm {
namespace {

using testing_util::MakeScratchDir;
using testing_util::ReadVideoStreamFacts;
using testing_util::VideoStreamFacts;

constexpr AVRational kWide{32, 27};    // NTSC DVD 16:9
constexpr AVRational kNarrow{8, 9};    // NTSC DVD 4:3

void ExpectGeometry(const OutputGeometry& g, int width, int height, AVRational sar) {
  EXPECT_EQ(g.width, width);
  EXPECT_EQ(g.height, height);
  EXPECT_EQ(av_cmp_q(g.sample_aspect_ratio, sar), 0)
      << g.sample_aspect_ratio.num << ":" << g.sample_aspect_ratio.den;
}

TEST(OutputGeometryTest, AnamorphicBecomesSquarePixelsAtTheDisplayAspect) {
  // 720 x 32/27 = 853.3 display pixels wide; x2 = 1706.7, nearest even 1706.
  ExpectGeometry(PlanOutputGeometry(720, 480, kWide, 2, 0, 0, false), 1706, 960, {1, 1});
  ExpectGeometry(PlanOutputGeometry(720, 480, kNarrow, 2, 0, 0, false), 1280, 960, {1, 1});
  ExpectGeometry(PlanOutputGeometry(720, 480, kWide, 1, 0, 0, false), 854, 480, {1, 1});
  EXPECT_DOUBLE_EQ(PlanOutputGeometry(720, 480, kWide, 2, 0, 0, false).vertical_factor, 2.0);
}

TEST(OutputGeometryTest, KeepSarKeepsTheStoredAspectAndSignalsTheSar) {
  ExpectGeometry(PlanOutputGeometry(720, 480, kWide, 2, 0, 0, true), 1440, 960, kWide);
  ExpectGeometry(PlanOutputGeometry(720, 480, kNarrow, 2, 0, 0, true), 1440, 960, kNarrow);
  // Reduced: 64:54 is 32:27.
  ExpectGeometry(PlanOutputGeometry(720, 480, {64, 54}, 2, 0, 0, true), 1440, 960, kWide);
}

TEST(OutputGeometryTest, SizeFitsTheDisplayAspectInTheBox) {
  ExpectGeometry(PlanOutputGeometry(720, 480, kWide, 2, 1920, 1080, false), 1920, 1080, {1, 1});
  ExpectGeometry(PlanOutputGeometry(720, 480, kNarrow, 2, 1920, 1080, false), 1440, 1080, {1, 1});
  EXPECT_DOUBLE_EQ(PlanOutputGeometry(720, 480, kNarrow, 2, 1920, 1080, false).vertical_factor,
                   2.25);
  // --keep-sar: the stored frame fits the box; players stretch it to 1920.
  ExpectGeometry(PlanOutputGeometry(720, 480, kWide, 2, 1920, 1080, true), 1620, 1080, kWide);
}

TEST(OutputGeometryTest, SquareAndUnknownPixelsAreUnchanged) {
  ExpectGeometry(PlanOutputGeometry(640, 360, {1, 1}, 2, 0, 0, false), 1280, 720, {1, 1});
  ExpectGeometry(PlanOutputGeometry(640, 360, {0, 1}, 2, 0, 0, true), 1280, 720, {1, 1});
  ExpectGeometry(PlanOutputGeometry(641, 360, {0, 1}, 1, 0, 0, false), 641, 360, {1, 1});
  ExpectGeometry(PlanOutputGeometry(640, 360, {1, 1}, 2, 1920, 1200, false), 1920, 1080, {1, 1});
  EXPECT_FALSE(IsAnamorphic({1, 1}));
  EXPECT_FALSE(IsAnamorphic({0, 1}));
  EXPECT_TRUE(IsAnamorphic(kNarrow));
}

// Writes `frames` flat frames of the planned size through a VideoWriter that
// keeps `source`'s streams, as the assembler does (colour from the probe).
absl::StatusOr<std::vector<std::string>> WriteThrough(const std::string& source,
                                                      const std::string& output, int width,
                                                      int height, AVRational sar,
                                                      EncodeSettings encode = {}) {
  ASSIGN_OR_RETURN(MediaInfo info, ProbeMedia(source));
  VideoWriterOptions options;
  options.output_path = output;
  if (encode.preset.empty()) encode.preset = "ultrafast";
  options.encode = encode;
  options.width = width;
  options.height = height;
  options.sample_aspect_ratio = sar;
  options.time_base = info.video.time_base;
  options.frame_rate = info.frame_rate;
  options.audio_source_path = source;
  if (info.video.color_space != 2) options.color_space = info.video.color_space;
  if (info.video.color_range != 0) options.color_range = info.video.color_range;
  if (info.video.color_primaries != 2) options.color_primaries = info.video.color_primaries;
  if (info.video.color_trc != 2) options.color_trc = info.video.color_trc;
  ASSIGN_OR_RETURN(std::unique_ptr<VideoWriter> writer, VideoWriter::Create(options));
  RgbImage frame(width, height);
  for (size_t i = 0; i < frame.pixels.size(); ++i) frame.pixels[i] = uint8_t(i % 251);
  ASSIGN_OR_RETURN(std::vector<FramePtr> decoded, testing_util::DecodeAll(source));
  for (const FramePtr& f : decoded) RETURN_IF_ERROR(writer->WriteFrame(frame, f->pts));
  RETURN_IF_ERROR(writer->Finish());
  return writer->notices();
}

TestClipSpec Dvd(AVRational sar) {
  TestClipSpec spec;
  spec.width = 720;
  spec.height = 480;
  spec.content = {0, 1, 2, 3};
  spec.audio = false;
  spec.sample_aspect_num = sar.num;
  spec.sample_aspect_den = sar.den;
  return spec;
}

TEST(GeometryWriterTest, AnamorphicSourcesThroughTheWriter) {
  const std::string dir = MakeScratchDir();
  for (const AVRational sar : {kWide, kNarrow}) {
    for (const std::string ext : {".mkv", ".mp4"}) {
      SCOPED_TRACE(absl::StrCat(sar.num, ":", sar.den, " ", ext));
      const std::string source = dir + "/dvd" + std::to_string(sar.num) + ext;
      ASSERT_TRUE(WriteTestClip(source, Dvd(sar)).ok());
      absl::StatusOr<MediaInfo> info = ProbeMedia(source);
      ASSERT_TRUE(info.ok()) << info.status();
      ASSERT_EQ(av_cmp_q(info->video.sample_aspect_ratio, sar), 0);
      struct Case {
        const char* name;
        bool keep_sar;
        int box_width, box_height;
      } cases[] = {{"default", false, 0, 0}, {"keep", true, 0, 0}, {"box", false, 1920, 1080}};
      for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        const OutputGeometry g = PlanOutputGeometry(720, 480, info->video.sample_aspect_ratio, 2,
                                                    c.box_width, c.box_height, c.keep_sar);
        const std::string output = dir + "/out-" + c.name + std::to_string(sar.num) + ext;
        absl::StatusOr<std::vector<std::string>> notices =
            WriteThrough(source, output, g.width, g.height, g.sample_aspect_ratio);
        ASSERT_TRUE(notices.ok()) << notices.status();
        absl::StatusOr<VideoStreamFacts> facts = ReadVideoStreamFacts(output);
        ASSERT_TRUE(facts.ok()) << facts.status();
        const bool wide = sar.num == 32;
        const int want_width = c.keep_sar ? 1440 : c.box_width ? (wide ? 1920 : 1440)
                                                               : (wide ? 1706 : 1280);
        const int want_height = c.box_width ? 1080 : 960;
        EXPECT_EQ(facts->width, want_width);
        EXPECT_EQ(facts->height, want_height);
        const AVRational want_sar = c.keep_sar ? sar : AVRational{1, 1};
        EXPECT_EQ(av_cmp_q(facts->sample_aspect_ratio, want_sar), 0)
            << facts->sample_aspect_ratio.num << ":" << facts->sample_aspect_ratio.den;
      }
    }
  }
}

TEST(GeometryWriterTest, RotationIsKept) {
  const std::string dir = MakeScratchDir();
  for (const double degrees : {90.0, -90.0}) {
    TestClipSpec spec;
    spec.content = {0, 1, 2};
    spec.audio = false;
    spec.rotation = degrees;
    const std::string source = dir + "/rotated" + std::to_string(int(degrees)) + ".mp4";
    ASSERT_TRUE(WriteTestClip(source, spec).ok());
    absl::StatusOr<VideoStreamFacts> in = ReadVideoStreamFacts(source);
    ASSERT_TRUE(in.ok()) << in.status();
    ASSERT_TRUE(in->has_rotation);
    EXPECT_NEAR(std::abs(in->rotation), 90, 1e-6);
    for (const std::string ext : {".mp4", ".mov"}) {
      SCOPED_TRACE(ext);
      const std::string output = dir + "/out" + std::to_string(int(degrees)) + ext;
      absl::StatusOr<std::vector<std::string>> notices =
          WriteThrough(source, output, 320, 192, {1, 1});
      ASSERT_TRUE(notices.ok()) << notices.status();
      absl::StatusOr<VideoStreamFacts> out = ReadVideoStreamFacts(output);
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_TRUE(out->has_rotation);
      EXPECT_NEAR(out->rotation, in->rotation, 1e-6);
      EXPECT_TRUE(notices->empty());
    }
  }
}

TEST(GeometryWriterTest, RotationIntoMatroskaIsNoticed) {
  const std::string dir = MakeScratchDir();
  TestClipSpec spec;
  spec.content = {0, 1};
  spec.audio = false;
  spec.rotation = 90;
  const std::string source = dir + "/rotated.mp4";
  ASSERT_TRUE(WriteTestClip(source, spec).ok());
  absl::StatusOr<std::vector<std::string>> notices =
      WriteThrough(source, dir + "/out.mkv", 320, 192, {1, 1});
  ASSERT_TRUE(notices.ok()) << notices.status();
  ASSERT_EQ(notices->size(), 1u);
  EXPECT_NE((*notices)[0].find("rotation"), std::string::npos) << (*notices)[0];
}

TEST(GeometryWriterTest, Hdr10MetadataAndColourAreKept) {
  const std::string dir = MakeScratchDir();
  TestClipSpec spec;
  spec.content = {0, 1, 2};
  spec.audio = false;
  spec.hdr10 = true;
  for (const std::string in_ext : {".mkv", ".mp4"}) {
    const std::string source = dir + "/hdr" + in_ext;
    ASSERT_TRUE(WriteTestClip(source, spec).ok());
    absl::StatusOr<VideoStreamFacts> in = ReadVideoStreamFacts(source);
    ASSERT_TRUE(in.ok()) << in.status();
    ASSERT_EQ(in->pixel_format, AV_PIX_FMT_YUV420P10LE);
    ASSERT_EQ(in->mastering_display.size(), sizeof(AVMasteringDisplayMetadata)) << in_ext;
    ASSERT_EQ(in->content_light.size(), sizeof(AVContentLightMetadata)) << in_ext;
    const auto* mastering =
        reinterpret_cast<const AVMasteringDisplayMetadata*>(in->mastering_display.data());
    ASSERT_NEAR(av_q2d(mastering->max_luminance), kTestMaxLuminance, 1e-3);
    for (const std::string ext : {".mkv", ".mp4", ".mov"}) {
      SCOPED_TRACE(in_ext + " -> " + ext);
      const std::string output = dir + "/out" + in_ext + ext;
      EncodeSettings encode;
      encode.codec = "h265";
      encode.profile = "main10";
      absl::StatusOr<std::vector<std::string>> notices =
          WriteThrough(source, output, 320, 192, {1, 1}, encode);
      ASSERT_TRUE(notices.ok()) << notices.status();
      EXPECT_TRUE(notices->empty());
      absl::StatusOr<VideoStreamFacts> out = ReadVideoStreamFacts(output);
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_EQ(out->pixel_format, AV_PIX_FMT_YUV420P10LE);
      EXPECT_EQ(out->color_primaries, AVCOL_PRI_BT2020);
      EXPECT_EQ(out->color_trc, AVCOL_TRC_SMPTE2084);
      EXPECT_EQ(out->color_space, AVCOL_SPC_BT2020_NCL);
      ASSERT_EQ(out->mastering_display.size(), sizeof(AVMasteringDisplayMetadata));
      const auto* kept =
          reinterpret_cast<const AVMasteringDisplayMetadata*>(out->mastering_display.data());
      EXPECT_EQ(kept->has_primaries, 1);
      EXPECT_EQ(kept->has_luminance, 1);
      EXPECT_NEAR(av_q2d(kept->max_luminance), kTestMaxLuminance, 1e-3);
      EXPECT_NEAR(av_q2d(kept->min_luminance), kTestMinLuminanceMilli / 1000.0, 1e-4);
      for (int c = 0; c < 3; ++c) {
        for (int xy = 0; xy < 2; ++xy) {
          EXPECT_NEAR(av_q2d(kept->display_primaries[c][xy]),
                      av_q2d(mastering->display_primaries[c][xy]), 1e-4);
        }
      }
      EXPECT_NEAR(av_q2d(kept->white_point[0]), av_q2d(mastering->white_point[0]), 1e-4);
      ASSERT_EQ(out->content_light.size(), sizeof(AVContentLightMetadata));
      const auto* light = reinterpret_cast<const AVContentLightMetadata*>(out->content_light.data());
      EXPECT_EQ(light->MaxCLL, kTestMaxCll);
      EXPECT_EQ(light->MaxFALL, kTestMaxFall);
    }
  }
}

}  // namespace
}  // namespace anifarm
