// Segments encoded separately (as nodes do) and joined without re-encoding
// (as the coordinator does): for every codec the farm encodes at the nodes,
// the joined file decodes in full, with every frame at its timestamp and in
// its place; and the checks that refuse a damaged or foreign segment.
#include "common/encoded_segment.h"

#include <cctype>
#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "common/media/frame_convert.h"
#include "gtest/gtest.h"
#include "tests/unit/media/media_test_util.h"

namespace anifarm {
namespace {

// Frame i: a gradient with a white block whose place says i.
RgbImage NumberedFrame(int width, int height, int i) {
  RgbImage image(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = image.row(y) + 3 * x;
      p[0] = static_cast<uint8_t>((x * 200) / width);
      p[1] = static_cast<uint8_t>((y * 200) / height);
      p[2] = 60;
    }
  }
  const int block = 16;
  const int bx = (i * block) % (width - block);
  const int by = ((i * block) / (width - block)) * block % (height - block);
  for (int y = by; y < by + block; ++y) {
    for (int x = bx; x < bx + block; ++x) {
      uint8_t* p = image.row(y) + 3 * x;
      p[0] = p[1] = p[2] = 255;
    }
  }
  return image;
}

// A segment spec for `container` with timestamps in 1/`time_base_den`
// seconds and automatic colour.
v1::SegmentSpec Spec(const std::string& container, int time_base_den) {
  v1::SegmentSpec spec;
  spec.set_container(container);
  spec.set_time_base_num(1);
  spec.set_time_base_den(time_base_den);
  spec.set_color_space(-1);
  spec.set_color_range(-1);
  spec.set_color_primaries(-1);
  spec.set_color_trc(-1);
  return spec;
}

double Psnr(const RgbImage& a, const RgbImage& b) {
  double sum = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const double d = double(a.pixels[i]) - double(b.pixels[i]);
    sum += d * d;
  }
  const double mse = sum / double(a.pixels.size());
  return mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

struct JoinCase {
  const char* codec;
  const char* profile;
  const char* container;  // extension with the dot
  int width;
  int height;
  double min_psnr;
};

std::ostream& operator<<(std::ostream& os, const JoinCase& c) {
  return os << c.codec << "/" << (*c.profile ? c.profile : "default") << c.container;
}

class SegmentJoinTest : public ::testing::TestWithParam<JoinCase> {};

// 3 segments of 7, 9 and 8 frames at irregular timestamps (VFR, ms time
// base), encoded by three separate encoders, joined in one file.
TEST_P(SegmentJoinTest, JoinedSegmentsDecodeToEveryFrameAtItsTimestamp) {
  const JoinCase& c = GetParam();
  const std::vector<int> lengths = {7, 9, 8};
  v1::SegmentSpec spec = Spec(c.container, 1000);
  spec.set_frame_rate_num(24);
  spec.set_frame_rate_den(1);
  EncodeSettings encode;
  encode.codec = c.codec;
  encode.profile = c.profile;
  encode.preset = "medium";  // B-frames: decode times start before the first picture

  std::vector<RgbImage> sources;
  std::vector<int64_t> pts_ms;
  std::vector<v1::EncodedSegment> segments;
  int64_t t = 0;
  for (size_t s = 0; s < lengths.size(); ++s) {
    absl::StatusOr<std::unique_ptr<SegmentEncoder>> encoder =
        SegmentEncoder::Create(encode, spec, c.width, c.height);
    ASSERT_TRUE(encoder.ok()) << encoder.status();
    std::vector<int64_t> segment_pts;
    for (int k = 0; k < lengths[s]; ++k) {
      sources.push_back(NumberedFrame(c.width, c.height, static_cast<int>(sources.size())));
      pts_ms.push_back(t);
      segment_pts.push_back(t);
      ASSERT_TRUE((*encoder)->Add(sources.back(), t).ok());
      t += (sources.size() % 3 == 0) ? 83 : 42;  // held drawings: uneven steps
    }
    absl::StatusOr<v1::EncodedSegment> segment = (*encoder)->Finish();
    ASSERT_TRUE(segment.ok()) << segment.status();
    ASSERT_TRUE(CheckSegment(*segment, segment_pts).ok()) << CheckSegment(*segment, segment_pts);
    if (!segments.empty()) {
      ASSERT_TRUE(SameStream(segments[0].stream(), segment->stream()).ok())
          << SameStream(segments[0].stream(), segment->stream());
    }
    segments.push_back(*std::move(segment));
  }

  if (std::string(c.codec) == "h264" || std::string(c.codec) == "h265") {
    bool reordered = false;
    for (const v1::EncodedPacket& packet : segments[1].packets()) {
      reordered |= packet.dts() != packet.pts();
    }
    EXPECT_TRUE(reordered) << "no B-frames: the join is not exercised";
  }
  const std::string path = testing_util::MakeScratchDir() + "/joined" + c.container;
  VideoWriterOptions options;
  options.output_path = path;
  options.frame_rate = AVRational{24, 1};
  CodecParametersPtr params(avcodec_parameters_alloc());
  ASSERT_TRUE(ToCodecParameters(segments[0].stream(), params.get()).ok());
  const AVRational time_base{1, 1000};
  absl::StatusOr<std::unique_ptr<VideoWriter>> writer =
      VideoWriter::CreateForEncodedVideo(options, *params, time_base);
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (const v1::EncodedSegment& segment : segments) {
    absl::Status appended = AppendSegment(segment, time_base, **writer);
    ASSERT_TRUE(appended.ok()) << appended;
  }
  ASSERT_TRUE((*writer)->Finish().ok());

  absl::StatusOr<std::unique_ptr<SourceReader>> reader = SourceReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  const AVRational file_time_base = (*reader)->info().video.time_base;
  EXPECT_EQ((*reader)->info().video.codec_id, segments[0].stream().codec_id());
  reader->reset();
  absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(path);
  ASSERT_TRUE(frames.ok()) << frames.status();
  ASSERT_EQ(frames->size(), sources.size());
  for (size_t i = 0; i < frames->size(); ++i) {
    const AVFrame& frame = *(*frames)[i];
    const int64_t ts =
        frame.best_effort_timestamp != AV_NOPTS_VALUE ? frame.best_effort_timestamp : frame.pts;
    // MP4 may shift the whole stream by its edit list; differences must match.
    EXPECT_EQ(av_rescale_q(ts, file_time_base, time_base) -
                  av_rescale_q(
                      (*frames)[0]->best_effort_timestamp != AV_NOPTS_VALUE
                          ? (*frames)[0]->best_effort_timestamp
                          : (*frames)[0]->pts,
                      file_time_base, time_base),
              pts_ms[i] - pts_ms[0])
        << "frame " << i;
    absl::StatusOr<RgbImage> rgb = FrameToRgb(frame);
    ASSERT_TRUE(rgb.ok()) << rgb.status();
    EXPECT_GE(Psnr(*rgb, sources[i]), c.min_psnr) << "frame " << i;
    if (i + 1 < sources.size()) {
      EXPECT_LT(Psnr(*rgb, sources[i + 1]), Psnr(*rgb, sources[i])) << "frame " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Codecs, SegmentJoinTest,
    ::testing::Values(JoinCase{"h264", "high", ".mp4", 128, 96, 30},
                      JoinCase{"h264", "main", ".mkv", 128, 96, 30},
                      JoinCase{"h265", "main", ".mp4", 128, 96, 28},
                      JoinCase{"h265", "main10", ".mkv", 128, 96, 28},
                      JoinCase{"prores", "hq", ".mov", 128, 96, 35},
                      JoinCase{"dnxhr", "sq", ".mov", 256, 144, 30},
                      JoinCase{"ffv1", "", ".mkv", 128, 96, 99}),
    [](const ::testing::TestParamInfo<JoinCase>& info) {
      std::string name = std::string(info.param.codec) + "_" + info.param.profile + "_" +
                         (info.param.container + 1);
      for (char& ch : name) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return name;
    });

v1::EncodedSegment SmallSegment(int width, int frames, std::vector<int64_t>* pts) {
  const v1::SegmentSpec spec = Spec(".mkv", 25);
  EncodeSettings encode;
  encode.preset = "ultrafast";
  auto encoder = SegmentEncoder::Create(encode, spec, width, 64);
  EXPECT_TRUE(encoder.ok()) << encoder.status();
  for (int i = 0; i < frames; ++i) {
    pts->push_back(100 + i);
    EXPECT_TRUE((*encoder)->Add(NumberedFrame(width, 64, i), 100 + i).ok());
  }
  auto segment = (*encoder)->Finish();
  EXPECT_TRUE(segment.ok());
  return *std::move(segment);
}

TEST(SegmentCheckTest, RefusesMissingFramesWrongTimestampsAndNoKeyframeStart) {
  std::vector<int64_t> pts;
  v1::EncodedSegment segment = SmallSegment(96, 6, &pts);
  ASSERT_TRUE(CheckSegment(segment, pts).ok());

  v1::EncodedSegment truncated = segment;
  truncated.mutable_packets()->RemoveLast();
  EXPECT_EQ(CheckSegment(truncated, pts).code(), absl::StatusCode::kInvalidArgument);

  std::vector<int64_t> shifted = pts;
  shifted.back() += 1;
  absl::Status wrong = CheckSegment(segment, shifted);
  EXPECT_EQ(wrong.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(wrong.message().find("unexpected pts"), std::string::npos) << wrong;

  v1::EncodedSegment headless = segment;
  headless.mutable_packets(0)->set_keyframe(false);
  EXPECT_NE(CheckSegment(headless, pts).message().find("keyframe"), std::string::npos);
}

TEST(SegmentCheckTest, SegmentsOfDifferentStreamsAreNotJoined) {
  std::vector<int64_t> pts_a, pts_b;
  v1::EncodedSegment a = SmallSegment(96, 3, &pts_a);
  v1::EncodedSegment b = SmallSegment(128, 3, &pts_b);
  absl::Status same = SameStream(a.stream(), b.stream());
  EXPECT_EQ(same.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(same.message().find("size"), std::string::npos) << same;
  EXPECT_TRUE(SameStream(a.stream(), a.stream()).ok());
}

}  // namespace
}  // namespace anifarm
