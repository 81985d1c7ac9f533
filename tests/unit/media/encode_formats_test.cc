// Every codec and profile of encode_settings.h, encoded by VideoWriter and
// read back with libavformat/libavcodec; and the combinations refused.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "common/media/encode_settings.h"
#include "common/media/frame_convert.h"
#include "common/media/media_info.h"
#include "common/media/video_writer.h"
#include "gtest/gtest.h"
#include "tests/unit/media/media_test_util.h"

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace anifarm {
namespace {

RgbImage Gradient(int width, int height, int k) {
  RgbImage image(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = image.row(y) + 3 * x;
      p[0] = static_cast<uint8_t>((x * 255) / width);
      p[1] = static_cast<uint8_t>((y * 255) / height);
      p[2] = static_cast<uint8_t>((k * 40 + x + y) & 0xff);
    }
  }
  return image;
}

struct FormatCase {
  const char* codec;
  const char* profile;
  const char* ext;
  int width;
  int height;
  int frames;
  AVCodecID codec_id;
  int av_profile;  // AVCodecParameters.profile read back (FF_PROFILE_UNKNOWN: not checked)
  AVPixelFormat pix_fmt;
  int dnxhd_frame_bytes;  // DNxHD: the CID's fixed frame size (0: not checked)
};

std::ostream& operator<<(std::ostream& os, const FormatCase& c) {
  return os << c.codec << "/" << (*c.profile ? c.profile : "default") << "." << c.ext;
}

// What a file holds, read with the FFmpeg libraries alone.
struct VideoReadBack {
  AVCodecID codec_id = AV_CODEC_ID_NONE;
  int profile = FF_PROFILE_UNKNOWN;
  int width = 0;
  int height = 0;
  AVRational time_base{0, 1};
  std::vector<int> packet_sizes;
};

VideoReadBack ReadVideo(const std::string& path) {
  VideoReadBack r;
  AVFormatContext* raw = nullptr;
  EXPECT_EQ(avformat_open_input(&raw, path.c_str(), nullptr, nullptr), 0) << path;
  if (!raw) return r;
  InputFormatPtr input(raw);
  EXPECT_GE(avformat_find_stream_info(input.get(), nullptr), 0);
  const int index = av_find_best_stream(input.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  EXPECT_GE(index, 0) << path;
  if (index < 0) return r;
  const AVStream* stream = input->streams[index];
  r.codec_id = stream->codecpar->codec_id;
  r.profile = stream->codecpar->profile;
  r.width = stream->codecpar->width;
  r.height = stream->codecpar->height;
  r.time_base = stream->time_base;
  PacketPtr packet = MakePacket();
  while (av_read_frame(input.get(), packet.get()) >= 0) {
    if (packet->stream_index == index) r.packet_sizes.push_back(packet->size);
    av_packet_unref(packet.get());
  }
  return r;
}

class EncodeFormatTest : public ::testing::TestWithParam<FormatCase> {};

TEST_P(EncodeFormatTest, EncodesAndReadsBack) {
  const FormatCase& c = GetParam();
  const std::string path = testing_util::MakeScratchDir() + "/out." + c.ext;
  VideoWriterOptions options;
  options.output_path = path;
  options.width = c.width;
  options.height = c.height;
  options.time_base = AVRational{1, 24};
  options.frame_rate = AVRational{24, 1};
  options.encode.codec = c.codec;
  options.encode.profile = c.profile;
  // x264 treats the profile as a ceiling and signals the lowest one the
  // tools fit: "ultrafast" (no CABAC, no B-frames) would always read back as
  // Constrained Baseline. "veryfast" keeps the tools that tell the profiles apart.
  options.encode.preset = "veryfast";
  ASSERT_TRUE(
      ValidateEncodeSettings(options.encode, path, c.width, c.height, options.frame_rate).ok());
  absl::StatusOr<std::unique_ptr<VideoWriter>> writer = VideoWriter::Create(options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (int i = 0; i < c.frames; ++i) {
    absl::Status status = (*writer)->WriteFrame(Gradient(c.width, c.height, i), i);
    ASSERT_TRUE(status.ok()) << status;
  }
  absl::Status finished = (*writer)->Finish();
  ASSERT_TRUE(finished.ok()) << finished;
  const std::string codec = c.codec;
  if (codec.find("nvenc") != std::string::npos && (*writer)->encoder_name() != codec) {
    // No NVIDIA encoder here: the fallback was used and said so.
    ASSERT_FALSE((*writer)->notices().empty());
    EXPECT_NE((*writer)->notices().front().find(codec), std::string::npos);
    EXPECT_EQ((*writer)->encoder_name(), codec == "h264_nvenc" ? "libx264" : "libx265");
  }
  writer->reset();

  const VideoReadBack r = ReadVideo(path);
  EXPECT_EQ(r.codec_id, c.codec_id) << avcodec_get_name(r.codec_id);
  if (c.av_profile != FF_PROFILE_UNKNOWN) EXPECT_EQ(r.profile, c.av_profile);
  EXPECT_EQ(r.width, c.width);
  EXPECT_EQ(r.height, c.height);
  EXPECT_EQ(static_cast<int>(r.packet_sizes.size()), c.frames);
  if (c.dnxhd_frame_bytes > 0) {
    for (int size : r.packet_sizes) EXPECT_EQ(size, c.dnxhd_frame_bytes);
  }

  absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(path);
  ASSERT_TRUE(frames.ok()) << frames.status();
  ASSERT_EQ(static_cast<int>(frames->size()), c.frames);
  for (int i = 0; i < c.frames; ++i) {
    const AVFrame& frame = *(*frames)[i];
    EXPECT_EQ(frame.format, c.pix_fmt)
        << av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame.format)) << " frame " << i;
    const int64_t pts =
        frame.best_effort_timestamp != AV_NOPTS_VALUE ? frame.best_effort_timestamp : frame.pts;
    EXPECT_NEAR(pts * av_q2d(r.time_base), i / 24.0, 1e-3) << "frame " << i;
  }
  // The picture survived (lossy codecs: close, not equal).
  absl::StatusOr<RgbImage> rgb = FrameToRgb(*frames->back());
  ASSERT_TRUE(rgb.ok()) << rgb.status();
  const RgbImage expected = Gradient(c.width, c.height, c.frames - 1);
  const int x = c.width / 2, y = c.height / 2;
  for (int ch = 0; ch < 3; ++ch) {
    EXPECT_NEAR(rgb->row(y)[3 * x + ch], expected.row(y)[3 * x + ch], 24) << "channel " << ch;
  }
}

constexpr int kUnknown = FF_PROFILE_UNKNOWN;

INSTANTIATE_TEST_SUITE_P(
    Codecs, EncodeFormatTest,
    ::testing::Values(FormatCase{"h264", "", "mp4", 64, 48, 8, AV_CODEC_ID_H264,
                                 FF_PROFILE_H264_HIGH, AV_PIX_FMT_YUV420P, 0},
                      FormatCase{"h264", "baseline", "mp4", 64, 48, 8, AV_CODEC_ID_H264,
                                 FF_PROFILE_H264_CONSTRAINED_BASELINE, AV_PIX_FMT_YUV420P, 0},
                      FormatCase{"h264", "main", "mkv", 64, 48, 8, AV_CODEC_ID_H264,
                                 FF_PROFILE_H264_MAIN, AV_PIX_FMT_YUV420P, 0},
                      FormatCase{"h264", "high", "mov", 64, 48, 8, AV_CODEC_ID_H264,
                                 FF_PROFILE_H264_HIGH, AV_PIX_FMT_YUV420P, 0},
                      FormatCase{"h265", "main", "mp4", 64, 48, 8, AV_CODEC_ID_HEVC,
                                 FF_PROFILE_HEVC_MAIN, AV_PIX_FMT_YUV420P, 0},
                      FormatCase{"h265", "main10", "mkv", 64, 48, 8, AV_CODEC_ID_HEVC,
                                 FF_PROFILE_HEVC_MAIN_10, AV_PIX_FMT_YUV420P10LE, 0},
                      FormatCase{"h265", "main10", "mov", 64, 48, 8, AV_CODEC_ID_HEVC,
                                 FF_PROFILE_HEVC_MAIN_10, AV_PIX_FMT_YUV420P10LE, 0},
                      FormatCase{"prores", "proxy", "mov", 64, 48, 8, AV_CODEC_ID_PRORES,
                                 FF_PROFILE_PRORES_PROXY, AV_PIX_FMT_YUV422P10LE, 0},
                      FormatCase{"prores", "lt", "mov", 64, 48, 8, AV_CODEC_ID_PRORES,
                                 FF_PROFILE_PRORES_LT, AV_PIX_FMT_YUV422P10LE, 0},
                      FormatCase{"prores", "standard", "mov", 64, 48, 8, AV_CODEC_ID_PRORES,
                                 FF_PROFILE_PRORES_STANDARD, AV_PIX_FMT_YUV422P10LE, 0},
                      FormatCase{"prores", "422", "mkv", 64, 48, 8, AV_CODEC_ID_PRORES,
                                 FF_PROFILE_PRORES_STANDARD, AV_PIX_FMT_YUV422P10LE, 0},
                      FormatCase{"prores", "", "mov", 64, 48, 8, AV_CODEC_ID_PRORES,
                                 FF_PROFILE_PRORES_HQ, AV_PIX_FMT_YUV422P10LE, 0},
                      FormatCase{"prores", "hq", "mkv", 64, 48, 8, AV_CODEC_ID_PRORES,
                                 FF_PROFILE_PRORES_HQ, AV_PIX_FMT_YUV422P10LE, 0},
                      FormatCase{"prores", "4444", "mov", 64, 48, 8, AV_CODEC_ID_PRORES,
                                 FF_PROFILE_PRORES_4444, AV_PIX_FMT_YUV444P10LE, 0},
                      FormatCase{"prores", "4444xq", "mov", 64, 48, 8, AV_CODEC_ID_PRORES,
                                 FF_PROFILE_PRORES_XQ, AV_PIX_FMT_YUV444P10LE, 0},
                      // DNxHD: 1080p only; the CID (so the bitrate) shows in the fixed
                      // frame size: 1253 (36) 188416, 1237 (115) 606208, 1238 (175) and
                      // 1235 (175x, 10-bit) 917504 bytes.
                      FormatCase{"dnxhd", "36", "mov", 1920, 1080, 2, AV_CODEC_ID_DNXHD,
                                 FF_PROFILE_DNXHD, AV_PIX_FMT_YUV422P, 188416},
                      FormatCase{"dnxhd", "dnxhd_115", "mov", 1920, 1080, 2, AV_CODEC_ID_DNXHD,
                                 FF_PROFILE_DNXHD, AV_PIX_FMT_YUV422P, 606208},
                      FormatCase{"dnxhd", "175", "mov", 1920, 1080, 2, AV_CODEC_ID_DNXHD,
                                 FF_PROFILE_DNXHD, AV_PIX_FMT_YUV422P, 917504},
                      FormatCase{"dnxhd", "175x", "mov", 1920, 1080, 2, AV_CODEC_ID_DNXHD,
                                 FF_PROFILE_DNXHD, AV_PIX_FMT_YUV422P10LE, 917504},
                      FormatCase{"dnxhr", "lb", "mov", 320, 180, 8, AV_CODEC_ID_DNXHD,
                                 FF_PROFILE_DNXHR_LB, AV_PIX_FMT_YUV422P, 0},
                      FormatCase{"dnxhr", "sq", "mov", 320, 180, 8, AV_CODEC_ID_DNXHD,
                                 FF_PROFILE_DNXHR_SQ, AV_PIX_FMT_YUV422P, 0},
                      FormatCase{"dnxhr", "", "mov", 320, 180, 8, AV_CODEC_ID_DNXHD,
                                 FF_PROFILE_DNXHR_HQ, AV_PIX_FMT_YUV422P, 0},
                      FormatCase{"dnxhr", "dnxhr_hqx", "mov", 320, 180, 8, AV_CODEC_ID_DNXHD,
                                 FF_PROFILE_DNXHR_HQX, AV_PIX_FMT_YUV422P10LE, 0},
                      FormatCase{"dnxhr", "444", "mov", 320, 180, 8, AV_CODEC_ID_DNXHD,
                                 FF_PROFILE_DNXHR_444, AV_PIX_FMT_YUV444P10LE, 0},
                      FormatCase{"ffv1", "", "mkv", 64, 48, 8, AV_CODEC_ID_FFV1, kUnknown,
                                 AV_PIX_FMT_BGR0, 0},
                      // Without an NVIDIA GPU these fall back to libx264/libx265.
                      FormatCase{"h264_nvenc", "main", "mp4", 256, 144, 8, AV_CODEC_ID_H264,
                                 FF_PROFILE_H264_MAIN, AV_PIX_FMT_YUV420P, 0},
                      FormatCase{"hevc_nvenc", "main10", "mkv", 256, 144, 8, AV_CODEC_ID_HEVC,
                                 FF_PROFILE_HEVC_MAIN_10, AV_PIX_FMT_YUV420P10LE, 0}),
    [](const ::testing::TestParamInfo<FormatCase>& info) {
      std::string name = std::string(info.param.codec) + "_" +
                         (*info.param.profile ? info.param.profile : "default") + "_" +
                         info.param.ext;
      for (char& ch : name) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return name;
    });

struct RefusalCase {
  const char* codec;
  const char* profile;
  const char* path;
  int width;
  int height;
  AVRational frame_rate;
  int crf;
  const char* message;  // the exact message, or a part of it
};

std::ostream& operator<<(std::ostream& os, const RefusalCase& c) {
  return os << c.codec << "/" << c.profile << " " << c.path << " " << c.width << "x" << c.height;
}

class RefusalTest : public ::testing::TestWithParam<RefusalCase> {};

TEST_P(RefusalTest, RefusedBeforeAnyWork) {
  const RefusalCase& c = GetParam();
  EncodeSettings settings;
  settings.codec = c.codec;
  settings.profile = c.profile;
  settings.crf = c.crf;
  const absl::Status status =
      ValidateEncodeSettings(settings, c.path, c.width, c.height, c.frame_rate);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find(c.message), std::string::npos) << status.message();

  // VideoWriter refuses the same, without creating the file.
  const std::string path = testing_util::MakeScratchDir() + "/" + c.path;
  VideoWriterOptions options;
  options.output_path = path;
  options.encode = settings;
  options.width = c.width;
  options.height = c.height;
  options.frame_rate = c.frame_rate.num > 0 ? c.frame_rate : AVRational{24, 1};
  absl::StatusOr<std::unique_ptr<VideoWriter>> writer = VideoWriter::Create(options);
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(path));
}

constexpr AVRational kAnyRate{0, 1};

INSTANTIATE_TEST_SUITE_P(
    Combinations, RefusalTest,
    ::testing::Values(
        RefusalCase{"prores", "", "out.mp4", 640, 360, kAnyRate, -1,
                    "codec prores cannot go in .mp4 (use .mov or .mkv)"},
        RefusalCase{"dnxhd", "36", "out.mov", 640, 360, kAnyRate, -1,
                    "DNxHD 36 needs 1920x1080, got 640x360 (use dnxhr)"},
        RefusalCase{"dnxhd", "115", "out.mov", 1920, 1080, AVRational{30, 1}, -1,
                    "DNxHD 115 has no bitrate at 30/1 fps"},
        RefusalCase{"dnxhr", "hq", "out.mp4", 1920, 1080, kAnyRate, -1,
                    "codec dnxhr cannot go in .mp4 (use .mov)"},
        RefusalCase{"dnxhd", "175", "out.mkv", 1920, 1080, kAnyRate, -1,
                    "codec dnxhd cannot go in .mkv (use .mov)"},
        RefusalCase{"dnxhr", "hq", "out.mov", 128, 96, kAnyRate, -1,
                    "DNxHR hq needs at least 256x120, got 128x96"},
        RefusalCase{"dnxhr", "hqxx", "out.mov", 1920, 1080, kAnyRate, -1,
                    "profile 'hqxx' is not valid for dnxhr (use lb, sq, hq, hqx, 444)"},
        RefusalCase{"ffv1", "", "out.mov", 640, 360, kAnyRate, -1,
                    "codec ffv1 cannot go in .mov (use .mkv)"},
        RefusalCase{"ffv1", "", "out.mp4", 640, 360, kAnyRate, -1,
                    "codec ffv1 cannot go in .mp4 (use .mkv)"},
        RefusalCase{"h264", "main10", "out.mp4", 640, 360, kAnyRate, -1,
                    "profile 'main10' is not valid for h264 (use baseline, main, high)"},
        RefusalCase{"h265", "high", "out.mkv", 640, 360, kAnyRate, -1,
                    "profile 'high' is not valid for h265 (use main, main10)"},
        RefusalCase{"prores", "ultra", "out.mov", 640, 360, kAnyRate, -1,
                    "profile 'ultra' is not valid for prores"},
        RefusalCase{"h264", "", "out.mp4", 63, 48, kAnyRate, -1,
                    "h264 (4:2:0) needs an even width and height, got 63x48"},
        RefusalCase{"h264", "", "out.mp4", 640, 360, kAnyRate, 60,
                    "crf 60 is out of range for h264 (0..51)"},
        RefusalCase{"h264", "", "out.avi", 640, 360, kAnyRate, -1,
                    "container '.avi' of out.avi is not supported (use .mp4, .mkv or .mov)"},
        RefusalCase{"vp9000", "", "out.mkv", 640, 360, kAnyRate, -1, "unknown codec 'vp9000'"},
        RefusalCase{"ffv1", "high", "out.mkv", 640, 360, kAnyRate, -1,
                    "profile 'high' is not valid for ffv1"}));

TEST(ValidateEncodeSettingsTest, AcceptsValidCombinations) {
  EncodeSettings s;
  EXPECT_TRUE(ValidateEncodeSettings(s, "a.MP4", 1920, 1080).ok());  // extension case
  s.codec = "hevc";
  s.profile = "main10";
  EXPECT_TRUE(ValidateEncodeSettings(s, "a.mov", 3840, 2160).ok());
  s.codec = "prores";
  s.profile = "4444xq";
  EXPECT_TRUE(ValidateEncodeSettings(s, "a.mkv", 1921, 1081).ok());  // 4:4:4: odd is fine
  s.codec = "dnxhd";
  s.profile = "175x";
  EXPECT_TRUE(ValidateEncodeSettings(s, "a.mov", 1920, 1080, AVRational{30000, 1001}).ok());
  EXPECT_TRUE(ValidateEncodeSettings(s, "a.mov", 1920, 1080, AVRational{25, 1}).ok());
  s.codec = "dnxhr";
  s.profile = "DNxHR_444";
  EXPECT_TRUE(ValidateEncodeSettings(s, "a.mov", 4096, 2160).ok());
  s.codec = "ffv1";
  s.profile = "";
  EXPECT_TRUE(ValidateEncodeSettings(s, "a.mkv", 63, 47).ok());
  s.codec = "hevc_nvenc";
  s.profile = "main10";
  EXPECT_TRUE(ValidateEncodeSettings(s, "a.mp4", 1920, 1080).ok());
}

// DNxHD's bitrate follows the frame rate (Avid's table), which the encoder
// needs: 25 fps "115" is 120 Mb/s, same CID (1237) and frame size.
// The codec table is the one list of codecs: every row plans in each of its
// containers and is refused, naming them, in the others; every alias finds
// its row. A row without a working planner fails here, not in a job.
TEST(CodecTableTest, EveryRowPlansInItsContainersAndOnlyThere) {
  ASSERT_FALSE(Codecs().empty());
  for (const CodecInfo& codec : Codecs()) {
    ASSERT_NE(FindCodec(codec.name), nullptr) << codec.name;
    for (const std::string& alias : codec.aliases) {
      ASSERT_NE(FindCodec(alias), nullptr) << alias;
      EXPECT_EQ(FindCodec(alias)->name, codec.name) << alias;
    }
    EXPECT_FALSE(codec.help.empty()) << codec.name;
    ASSERT_FALSE(codec.containers.empty()) << codec.name;
    EncodeSettings settings;
    settings.codec = codec.name;
    for (const char* container : {".mp4", ".mkv", ".mov"}) {
      const bool listed = std::find(codec.containers.begin(), codec.containers.end(),
                                    container) != codec.containers.end();
      absl::StatusOr<EncoderPlan> plan = PlanEncoder(settings, std::string("out") + container,
                                                     1920, 1080, AVRational{24000, 1001});
      EXPECT_EQ(plan.ok(), listed) << codec.name << " in " << container << ": " << plan.status();
      if (plan.ok()) {
        EXPECT_EQ(plan->canonical_codec, codec.name);
        EXPECT_FALSE(plan->encoder.empty()) << codec.name;
        EXPECT_NE(plan->pix_fmt, AV_PIX_FMT_NONE) << codec.name;
      } else {
        EXPECT_NE(std::string(plan.status().message()).find(codec.containers.front()),
                  std::string::npos)
            << plan.status();
      }
    }
  }
  EXPECT_EQ(FindCodec("HEVC")->name, "h265");
  EXPECT_EQ(FindCodec("vp9"), nullptr);
}

TEST(EncodeFormatTest, DnxhdAt25FpsUsesItsBitrate) {
  absl::StatusOr<EncoderPlan> plan =
      PlanEncoder(EncodeSettings{"dnxhd", -1, "", "115"}, "a.mov", 1920, 1080, AVRational{25, 1});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->bit_rate, 120000000);
  const std::string path = testing_util::MakeScratchDir() + "/out.mov";
  VideoWriterOptions options;
  options.output_path = path;
  options.width = 1920;
  options.height = 1080;
  options.time_base = AVRational{1, 25};
  options.frame_rate = AVRational{25, 1};
  options.encode.codec = "dnxhd";
  options.encode.profile = "115";
  absl::StatusOr<std::unique_ptr<VideoWriter>> writer = VideoWriter::Create(options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->WriteFrame(Gradient(1920, 1080, 0), 0).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  const VideoReadBack r = ReadVideo(path);
  ASSERT_EQ(r.packet_sizes.size(), 1u);
  EXPECT_EQ(r.packet_sizes[0], 606208);
}

// Colour given by the caller (the source's) is written and used: BT.709
// full range on an SD picture, where the default would be BT.601 limited.
TEST(EncodeFormatTest, ExplicitColourIsWrittenAndUsed) {
  const std::string path = testing_util::MakeScratchDir() + "/colour.mkv";
  VideoWriterOptions options;
  options.output_path = path;
  options.width = 64;
  options.height = 48;
  options.time_base = AVRational{1, 24};
  options.encode.preset = "ultrafast";
  options.color_space = AVCOL_SPC_BT709;
  options.color_range = AVCOL_RANGE_JPEG;
  options.color_primaries = AVCOL_PRI_BT709;
  options.color_trc = AVCOL_TRC_BT709;
  absl::StatusOr<std::unique_ptr<VideoWriter>> writer = VideoWriter::Create(options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  RgbImage flat(64, 48);
  for (size_t i = 0; i < flat.pixels.size(); i += 3) {
    flat.pixels[i] = 200;
    flat.pixels[i + 1] = 100;
    flat.pixels[i + 2] = 50;
  }
  ASSERT_TRUE((*writer)->WriteFrame(flat, 0).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  absl::StatusOr<MediaInfo> info = ProbeMedia(path);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->video.color_space, AVCOL_SPC_BT709);
  EXPECT_EQ(info->video.color_range, AVCOL_RANGE_JPEG);
  EXPECT_EQ(info->video.color_primaries, AVCOL_PRI_BT709);
  EXPECT_EQ(info->video.color_trc, AVCOL_TRC_BT709);
  absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(path);
  ASSERT_TRUE(frames.ok()) << frames.status();
  ASSERT_EQ(frames->size(), 1u);
  const AVFrame& frame = *frames->front();
  // Full range: Y of this colour under BT.709 is 0.2126*200 + 0.7152*100 +
  // 0.0722*50 = 118 (BT.601 limited would give 121).
  EXPECT_NEAR(frame.data[0][24 * frame.linesize[0] + 32], 118, 2);
  absl::StatusOr<RgbImage> rgb = FrameToRgb(frame);
  ASSERT_TRUE(rgb.ok()) << rgb.status();
  EXPECT_NEAR(rgb->row(24)[3 * 32], 200, 3);
  EXPECT_NEAR(rgb->row(24)[3 * 32 + 1], 100, 3);
  EXPECT_NEAR(rgb->row(24)[3 * 32 + 2], 50, 3);
}

}  // namespace
}  // namespace anifarm
