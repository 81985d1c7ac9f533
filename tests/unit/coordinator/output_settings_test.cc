// The coordinator's side of geometry and tags (issue 28): the output size
// and SAR it plans at submit for anamorphic sources, segments encoded by
// nodes joined with the SAR, rotation and HDR10 metadata kept, and the one
// notice a 10-bit source gets into an 8-bit output.
#include <memory>
#include <string>
#include <vector>

#include <fstream>

#include "common/encoded_segment.h"
#include "common/media/png_codec.h"
#include "coordinator/assembler.h"
#include "common/media/media_info.h"
#include "common/media/test_clip.h"
#include "common/media/video_writer.h"
#include "coordinator/settings.h"
#include "gtest/gtest.h"
#include "tests/unit/media/media_test_util.h"

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace anifarm {
namespace {

using testing_util::MakeScratchDir;
using testing_util::ReadVideoStreamFacts;

// A 720x480 DVD-like source with this SAR.
std::string DvdClip(const std::string& dir, int sar_num, int sar_den) {
  TestClipSpec spec;
  spec.width = 720;
  spec.height = 480;
  spec.content = {0, 1};
  spec.audio = false;
  spec.sample_aspect_num = sar_num;
  spec.sample_aspect_den = sar_den;
  const std::string path = dir + "/dvd" + std::to_string(sar_num) + ".mkv";
  EXPECT_TRUE(WriteTestClip(path, spec).ok());
  return path;
}

TEST(OutputSettingsTest, SubmitPlansTheDisplayAspect) {
  const std::string dir = MakeScratchDir();
  absl::StatusOr<MediaInfo> wide = ProbeMedia(DvdClip(dir, 32, 27));
  absl::StatusOr<MediaInfo> narrow = ProbeMedia(DvdClip(dir, 8, 9));
  ASSERT_TRUE(wide.ok() && narrow.ok());
  v1::ProcessingSettings settings;
  settings.set_scale(2);
  EXPECT_EQ(OutputSizeOf(settings, *wide), std::make_pair(1706, 960));
  EXPECT_EQ(OutputSizeOf(settings, *narrow), std::make_pair(1280, 960));
  EXPECT_EQ(av_cmp_q(OutputSampleAspectOf(settings, *wide), AVRational{1, 1}), 0);
  settings.set_keep_sar(true);
  EXPECT_EQ(OutputSizeOf(settings, *wide), std::make_pair(1440, 960));
  EXPECT_EQ(av_cmp_q(OutputSampleAspectOf(settings, *wide), AVRational{32, 27}), 0);
  settings.set_keep_sar(false);
  settings.set_target_width(1920);
  settings.set_target_height(1080);
  EXPECT_EQ(OutputSizeOf(settings, *wide), std::make_pair(1920, 1080));
  EXPECT_EQ(OutputSizeOf(settings, *narrow), std::make_pair(1440, 1080));
  // DNxHD takes 1920x1080 only: the 4:3 picture's real size is refused at
  // submit, not after the upscale.
  settings.set_codec("dnxhd");
  EXPECT_TRUE(CheckOutputSettings(settings, dir + "/out.mov", &*wide).ok());
  EXPECT_FALSE(CheckOutputSettings(settings, dir + "/out.mov", &*narrow).ok());
}

// Segments as nodes encode them (SegmentSpec's SAR), joined by a writer that
// keeps a rotated HDR10 source's streams: SAR, rotation and metadata arrive.
TEST(OutputSettingsTest, JoinedSegmentsKeepSarRotationAndHdr10) {
  const std::string dir = MakeScratchDir();
  TestClipSpec clip;
  clip.content = {0, 1};
  clip.audio = false;
  clip.rotation = 90;
  clip.hdr10 = true;
  const std::string source = dir + "/source.mp4";
  ASSERT_TRUE(WriteTestClip(source, clip).ok());
  absl::StatusOr<testing_util::VideoStreamFacts> in = ReadVideoStreamFacts(source);
  ASSERT_TRUE(in.ok()) << in.status();
  ASSERT_TRUE(in->has_rotation);
  ASSERT_FALSE(in->mastering_display.empty());

  v1::SegmentSpec spec;
  spec.set_container(".mp4");
  spec.set_time_base_num(1);
  spec.set_time_base_den(24);
  spec.set_color_space(AVCOL_SPC_BT2020_NCL);
  spec.set_color_range(AVCOL_RANGE_MPEG);
  spec.set_color_primaries(AVCOL_PRI_BT2020);
  spec.set_color_trc(AVCOL_TRC_SMPTE2084);
  spec.set_sample_aspect_num(32);
  spec.set_sample_aspect_den(27);
  EncodeSettings encode;
  encode.codec = "h265";
  encode.profile = "main10";
  encode.preset = "ultrafast";
  absl::StatusOr<std::unique_ptr<SegmentEncoder>> encoder =
      SegmentEncoder::Create(encode, spec, 320, 192);
  ASSERT_TRUE(encoder.ok()) << encoder.status();
  RgbImage frame = testing_util::Noise(320, 192);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*encoder)->Add(frame, i).ok());
  absl::StatusOr<v1::EncodedSegment> segment = (*encoder)->Finish();
  ASSERT_TRUE(segment.ok()) << segment.status();

  const std::string output = dir + "/joined.mp4";
  VideoWriterOptions options;
  options.output_path = output;
  options.frame_rate = AVRational{24, 1};
  options.audio_source_path = source;
  CodecParametersPtr params(avcodec_parameters_alloc());
  ASSERT_TRUE(ToCodecParameters(segment->stream(), params.get()).ok());
  const AVRational time_base{1, 24};
  absl::StatusOr<std::unique_ptr<VideoWriter>> writer =
      VideoWriter::CreateForEncodedVideo(options, *params, time_base);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE(AppendSegment(*segment, time_base, **writer).ok());
  ASSERT_TRUE((*writer)->Finish().ok());

  absl::StatusOr<testing_util::VideoStreamFacts> out = ReadVideoStreamFacts(output);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(av_cmp_q(out->sample_aspect_ratio, AVRational{32, 27}), 0)
      << out->sample_aspect_ratio.num << ":" << out->sample_aspect_ratio.den;
  EXPECT_TRUE(out->has_rotation);
  EXPECT_NEAR(out->rotation, in->rotation, 1e-6);
  EXPECT_EQ(out->mastering_display, in->mastering_display);
  EXPECT_EQ(out->content_light, in->content_light);
  EXPECT_EQ(out->color_trc, AVCOL_TRC_SMPTE2084);
  EXPECT_EQ(out->color_primaries, AVCOL_PRI_BT2020);
}

// The coordinator's own encode (--encode-at coordinator): the assembler
// writes the job's SAR and keeps the rotation, HDR10 metadata and colour of
// a rotated anamorphic HDR10 source.
TEST(OutputSettingsTest, AssemblerKeepsSarRotationAndHdr10) {
  const std::string dir = MakeScratchDir();
  TestClipSpec clip;
  clip.width = 72;
  clip.height = 48;
  clip.content = {0, 1, 2};
  clip.audio = false;
  clip.rotation = -90;
  clip.hdr10 = true;
  clip.sample_aspect_num = 32;
  clip.sample_aspect_den = 27;
  const std::string source = dir + "/source.mp4";
  ASSERT_TRUE(WriteTestClip(source, clip).ok());
  absl::StatusOr<testing_util::VideoStreamFacts> in = ReadVideoStreamFacts(source);
  ASSERT_TRUE(in.ok()) << in.status();
  absl::StatusOr<MediaInfo> media = ProbeMedia(source);
  ASSERT_TRUE(media.ok()) << media.status();
  v1::ProcessingSettings settings;
  settings.set_keep_sar(true);
  const auto [width, height] = OutputSizeOf(settings, *media);
  ASSERT_EQ(width, 144);
  ASSERT_EQ(height, 96);

  AssemblyRequest request;
  request.source_path = source;
  request.output_path = dir + "/out.mp4";
  request.frames_dir = dir;
  request.media = *media;
  request.encode.codec = "h265";
  request.encode.profile = "main10";
  request.encode.preset = "ultrafast";
  request.sample_aspect_ratio = OutputSampleAspectOf(settings, *media);
  absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(source);
  ASSERT_TRUE(frames.ok()) << frames.status();
  for (size_t i = 0; i < frames->size(); ++i) {
    FrameRecord frame;
    frame.index = frame.source_index = static_cast<int64_t>(i);
    frame.pts = (*frames)[i]->pts;
    request.frames.push_back(frame);
    absl::StatusOr<std::string> png = EncodePng(testing_util::Noise(width, height));
    ASSERT_TRUE(png.ok());
    std::ofstream(UpscaledFramePath(dir, frame.index), std::ios::binary) << *png;
  }
  absl::StatusOr<AssemblyResult> result = AssembleOutput(request);
  ASSERT_TRUE(result.ok()) << result.status();

  absl::StatusOr<testing_util::VideoStreamFacts> out = ReadVideoStreamFacts(request.output_path);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->width, 144);
  EXPECT_EQ(av_cmp_q(out->sample_aspect_ratio, AVRational{32, 27}), 0)
      << out->sample_aspect_ratio.num << ":" << out->sample_aspect_ratio.den;
  EXPECT_TRUE(out->has_rotation);
  EXPECT_NEAR(out->rotation, in->rotation, 1e-6);
  EXPECT_EQ(out->mastering_display, in->mastering_display);
  EXPECT_EQ(out->content_light, in->content_light);
  EXPECT_EQ(out->color_primaries, AVCOL_PRI_BT2020);
  EXPECT_EQ(out->color_trc, AVCOL_TRC_SMPTE2084);
  EXPECT_EQ(out->color_space, AVCOL_SPC_BT2020_NCL);
}

// One notice for a 10-bit source into an 8-bit profile, naming the choices
// that write 10 bits; none where the output is 10-bit or the source 8-bit.
TEST(OutputSettingsTest, TenBitSourceIntoEightBitOutputIsNoticedOnce) {
  const std::string dir = MakeScratchDir();
  TestClipSpec clip;
  clip.content = {0, 1};
  clip.audio = false;
  clip.hdr10 = true;
  const std::string deep = dir + "/hdr.mkv";
  ASSERT_TRUE(WriteTestClip(deep, clip).ok());
  clip.hdr10 = false;
  const std::string shallow = dir + "/sdr.mkv";
  ASSERT_TRUE(WriteTestClip(shallow, clip).ok());
  absl::StatusOr<MediaInfo> deep_info = ProbeMedia(deep);
  absl::StatusOr<MediaInfo> shallow_info = ProbeMedia(shallow);
  ASSERT_TRUE(deep_info.ok() && shallow_info.ok());

  auto notices_for = [&](const MediaInfo& source, const std::string& codec,
                         const std::string& profile) {
    v1::ProcessingSettings settings;
    settings.set_codec(codec);
    settings.set_profile(profile);
    std::vector<std::string> notices;
    absl::Status checked =
        CheckOutputSettings(settings, dir + "/out.mkv", &source, &notices);
    EXPECT_TRUE(checked.ok()) << checked;
    return notices;
  };
  const std::vector<std::string> h264 = notices_for(*deep_info, "h264", "");
  ASSERT_EQ(h264.size(), 1u);
  RecordProperty("notice", h264[0]);
  EXPECT_NE(h264[0].find("10-bit"), std::string::npos) << h264[0];
  EXPECT_NE(h264[0].find("--codec h265 --profile main10"), std::string::npos) << h264[0];
  EXPECT_NE(h264[0].find("--codec prores"), std::string::npos) << h264[0];
  EXPECT_NE(h264[0].find("--codec dnxhr --profile hqx"), std::string::npos) << h264[0];
  EXPECT_EQ(notices_for(*deep_info, "h265", "").size(), 1u);  // main: 8-bit
  EXPECT_TRUE(notices_for(*deep_info, "h265", "main10").empty());
  EXPECT_TRUE(notices_for(*deep_info, "prores", "").empty());
  EXPECT_TRUE(notices_for(*shallow_info, "h264", "").empty());
}

// Every choice the notice names really writes 10 bits.
TEST(OutputSettingsTest, TenBitProfilesPlanTenBitPixels) {
  for (const auto& [codec, profile] : TenBitProfiles()) {
    EncodeSettings encode;
    encode.codec = codec;
    encode.profile = profile;
    const std::string container = codec == "dnxhd" || codec == "dnxhr" ? "x.mov" : "x.mkv";
    absl::StatusOr<EncoderPlan> plan = PlanEncoder(encode, container, 1920, 1080, {24, 1});
    ASSERT_TRUE(plan.ok()) << codec << " " << profile << ": " << plan.status();
    const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(plan->pix_fmt);
    ASSERT_NE(desc, nullptr);
    EXPECT_EQ(desc->comp[0].depth, 10) << codec << " " << profile;
  }
}

}  // namespace
}  // namespace anifarm
