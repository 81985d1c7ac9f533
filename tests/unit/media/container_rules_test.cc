// Container rules decided before any work: for every audio codec libavcodec
// encodes here x every container AniFarm writes, the stream plan's decision
// (the one the coordinator checks at submit) is the table of
// docs/formats.md, and VideoWriter then really muxes it: the file is
// written, its audio is the copied codec or AAC, lasts as long as the
// source's and keeps its title. A failed write leaves no file behind.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/media/frame_convert.h"
#include "common/media/media_info.h"
#include "common/media/stream_plan.h"
#include "common/media/test_clip.h"
#include "common/media/video_writer.h"
#include "gtest/gtest.h"
#include "tests/unit/media/media_test_util.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;

constexpr int kFrames = 12;
constexpr int kFps = 24;

struct AudioCodec {
  const char* encoder;  // libavcodec encoder that makes the source
  AVCodecID id;
};
constexpr AudioCodec kAudioCodecs[] = {
    {"aac", AV_CODEC_ID_AAC},        {"libmp3lame", AV_CODEC_ID_MP3},
    {"ac3", AV_CODEC_ID_AC3},        {"eac3", AV_CODEC_ID_EAC3},
    {"flac", AV_CODEC_ID_FLAC},      {"libopus", AV_CODEC_ID_OPUS},
    {"libvorbis", AV_CODEC_ID_VORBIS}, {"pcm_s16le", AV_CODEC_ID_PCM_S16LE},
    {"alac", AV_CODEC_ID_ALAC},      {"dca", AV_CODEC_ID_DTS},
    {"truehd", AV_CODEC_ID_TRUEHD},
};
constexpr const char* kContainers[] = {"mp4", "mov", "mkv"};

// docs/formats.md's table: the pairs transcoded to AAC; every other pair
// is copied.
bool TranscodedToAac(const std::string& container, AVCodecID id) {
  static const std::set<std::pair<std::string, AVCodecID>> kToAac = {
      {"mp4", AV_CODEC_ID_FLAC},   {"mp4", AV_CODEC_ID_VORBIS}, {"mp4", AV_CODEC_ID_PCM_S16LE},
      {"mp4", AV_CODEC_ID_TRUEHD}, {"mov", AV_CODEC_ID_FLAC},   {"mov", AV_CODEC_ID_OPUS},
      {"mov", AV_CODEC_ID_VORBIS}, {"mov", AV_CODEC_ID_TRUEHD},
  };
  return kToAac.count({container, id}) > 0;
}

struct AudioReadBack {
  int streams = 0;
  AVCodecID codec_id = AV_CODEC_ID_NONE;
  std::string title;
  std::string handler_name;
  double seconds = 0;  // first packet's start to last packet's end
};

std::string Tag(const AVDictionary* dict, const char* key) {
  const AVDictionaryEntry* e = av_dict_get(dict, key, nullptr, 0);
  return e ? e->value : "";
}

AudioReadBack ReadAudio(const std::string& path) {
  AudioReadBack r;
  AVFormatContext* raw = nullptr;
  EXPECT_EQ(avformat_open_input(&raw, path.c_str(), nullptr, nullptr), 0) << path;
  if (!raw) return r;
  InputFormatPtr input(raw);
  EXPECT_GE(avformat_find_stream_info(input.get(), nullptr), 0);
  int audio = -1;
  for (unsigned i = 0; i < input->nb_streams; ++i) {
    const AVStream* st = input->streams[i];
    if (st->codecpar->codec_type != AVMEDIA_TYPE_AUDIO) continue;
    ++r.streams;
    audio = static_cast<int>(i);
    r.codec_id = st->codecpar->codec_id;
    r.title = Tag(st->metadata, "title");
    r.handler_name = Tag(st->metadata, "handler_name");
  }
  if (audio < 0) return r;
  const AVRational tb = input->streams[audio]->time_base;
  bool first = true;
  double start = 0, end = 0;
  PacketPtr packet = MakePacket();
  while (av_read_frame(input.get(), packet.get()) >= 0) {
    if (packet->stream_index == audio) {
      const double at = packet->pts * av_q2d(tb);
      if (first) start = at;
      first = false;
      end = std::max(end, (packet->pts + packet->duration) * av_q2d(tb));
    }
    av_packet_unref(packet.get());
  }
  r.seconds = end - start;
  return r;
}

// Files whose name holds ".partial" (what the assembler writes first).
std::vector<std::string> PartialFiles(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().find(".partial") != std::string::npos) {
      found.push_back(entry.path().string());
    }
  }
  return found;
}

// One MKV source per codec (Matroska takes them all), made once.
class Sources {
 public:
  static Sources& Get() {
    static Sources* sources = new Sources;
    return *sources;
  }
  // Empty when libavcodec here cannot encode it.
  std::string For(const AudioCodec& codec) {
    auto it = paths_.find(codec.encoder);
    if (it != paths_.end()) return it->second;
    std::string path;
    if (avcodec_find_encoder_by_name(codec.encoder)) {
      path = dir_ + "/" + codec.encoder + ".mkv";
      TestClipSpec spec;
      spec.width = 64;
      spec.height = 48;
      spec.fps = kFps;
      spec.content = DefaultTestPattern(kFrames);
      spec.audio_encoder = codec.encoder;
      absl::Status written = WriteTestClip(path, spec);
      EXPECT_TRUE(written.ok()) << written;
      if (!written.ok()) path.clear();
    }
    paths_[codec.encoder] = path;
    return path;
  }

 private:
  Sources() : dir_(testing_util::MakeScratchDir()) {}
  std::string dir_;
  std::map<std::string, std::string> paths_;
};

// Re-encodes the source's pictures to `output` as the assembler does
// (through a partial file named `output`, notices naming `display_name`).
absl::Status WriteThrough(const std::string& source, const std::string& output,
                          const std::string& display_name, std::vector<std::string>* notices) {
  ASSIGN_OR_RETURN(MediaInfo info, ProbeMedia(source));
  ASSIGN_OR_RETURN(std::vector<FramePtr> frames, testing_util::DecodeAll(source));
  VideoWriterOptions options;
  options.output_path = output;
  options.display_name = display_name;
  options.width = info.video.width;
  options.height = info.video.height;
  options.time_base = info.video.time_base;
  options.frame_rate = info.frame_rate;
  options.audio_source_path = source;
  options.encode.preset = "ultrafast";
  ASSIGN_OR_RETURN(std::unique_ptr<VideoWriter> writer, VideoWriter::Create(options));
  for (const FramePtr& frame : frames) {
    ASSIGN_OR_RETURN(RgbImage rgb, FrameToRgb(*frame));
    RETURN_IF_ERROR(writer->WriteFrame(rgb, frame->best_effort_timestamp));
  }
  RETURN_IF_ERROR(writer->Finish());
  *notices = writer->notices();
  return absl::OkStatus();
}

using Pair = std::tuple<int, int>;  // index into kAudioCodecs, kContainers

class ContainerRulesTest : public ::testing::TestWithParam<Pair> {};

TEST_P(ContainerRulesTest, PlannedAtSubmitAndMuxedAsPlanned) {
  const AudioCodec& codec = kAudioCodecs[std::get<0>(GetParam())];
  const std::string container = kContainers[std::get<1>(GetParam())];
  if (!avcodec_find_encoder_by_name(codec.encoder)) {
    GTEST_SKIP() << "libavcodec here has no " << codec.encoder << " encoder";
  }
  const std::string source = Sources::Get().For(codec);
  ASSERT_FALSE(source.empty());
  const std::string dir = testing_util::MakeScratchDir();
  const std::string output = dir + "/out." + container;
  const std::string partial = dir + "/.out.partial." + container;
  const bool to_aac = TranscodedToAac(container, codec.id);
  const AVCodecID expected = to_aac ? AV_CODEC_ID_AAC : codec.id;

  // The decision, from the headers alone (what submit checks).
  absl::StatusOr<StreamPlan> plan = PlanStreams(source, output, StreamPlanOptions{});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->streams.size(), 1u);
  const StreamDecision& audio = plan->streams[0];
  EXPECT_EQ(audio.type, AVMEDIA_TYPE_AUDIO);
  EXPECT_EQ(audio.codec_id, codec.id);
  EXPECT_EQ(audio.action, to_aac ? StreamAction::kTranscodeToAac : StreamAction::kCopy);
  EXPECT_EQ(audio.target_codec, expected);
  EXPECT_EQ(ContainerTakesAudio(*av_guess_format(nullptr, output.c_str(), nullptr), codec.id),
            !to_aac);
  if (to_aac) {
    ASSERT_EQ(plan->notices.size(), 1u);
    EXPECT_NE(plan->notices[0].find("transcoded to AAC"), std::string::npos) << plan->notices[0];
    EXPECT_NE(plan->notices[0].find(output), std::string::npos) << plan->notices[0];
  } else {
    EXPECT_TRUE(plan->notices.empty()) << plan->notices[0];
  }

  // The writer muxes exactly that.
  std::vector<std::string> notices;
  absl::Status written = WriteThrough(source, partial, output, &notices);
  ASSERT_TRUE(written.ok()) << written;
  EXPECT_EQ(notices, plan->notices);
  for (const std::string& notice : notices) {
    EXPECT_EQ(notice.find(".partial"), std::string::npos) << notice;
  }
  const AudioReadBack src = ReadAudio(source);
  const AudioReadBack out = ReadAudio(partial);
  ASSERT_EQ(out.streams, 1);
  EXPECT_EQ(out.codec_id, expected) << avcodec_get_name(out.codec_id);
  EXPECT_NEAR(out.seconds, src.seconds, 1.0 / kFps);
  // The stream's title: Matroska's track name; in MP4/MOV the handler
  // name, which libavformat and players read back.
  EXPECT_EQ(container == "mkv" ? out.title : out.handler_name, "English");
  absl::StatusOr<int64_t> frames = CountVideoFrames(partial);
  ASSERT_TRUE(frames.ok()) << frames.status();
  EXPECT_EQ(*frames, kFrames);
}

std::string PairName(const ::testing::TestParamInfo<Pair>& info) {
  return std::string(kAudioCodecs[std::get<0>(info.param)].encoder) + "_into_" +
         kContainers[std::get<1>(info.param)];
}

INSTANTIATE_TEST_SUITE_P(EveryCodecAndContainer, ContainerRulesTest,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(
                                                                    std::size(kAudioCodecs))),
                                            ::testing::Range(0, static_cast<int>(
                                                                    std::size(kContainers)))),
                         PairName);

// A stream the container refuses and nothing can transcode is refused at
// planning, one line naming the source, the stream and the output.
TEST(ContainerRulesRefusalTest, UndecodableAudioIsRefusedNamingFileAndStream) {
  // No decoder in libavcodec 5.1, and no mapping in any container.
  const AVCodecID undecodable = AV_CODEC_ID_CELT;
  ASSERT_EQ(avcodec_find_decoder(undecodable), nullptr);
  AVFormatContext* raw = avformat_alloc_context();
  ASSERT_NE(raw, nullptr);
  std::unique_ptr<AVFormatContext, void (*)(AVFormatContext*)> source(
      raw, [](AVFormatContext* c) { avformat_free_context(c); });
  for (AVMediaType type : {AVMEDIA_TYPE_VIDEO, AVMEDIA_TYPE_AUDIO}) {
    AVStream* st = avformat_new_stream(source.get(), nullptr);
    ASSERT_NE(st, nullptr);
    st->codecpar->codec_type = type;
    st->codecpar->codec_id = type == AVMEDIA_TYPE_VIDEO ? AV_CODEC_ID_H264 : undecodable;
  }
  const AVOutputFormat* mov = av_guess_format(nullptr, "out.mov", nullptr);
  ASSERT_NE(mov, nullptr);
  if (ContainerTakesAudio(*mov, undecodable)) GTEST_SKIP() << "MOV takes CELT here";
  StreamPlanOptions options;
  options.source_name = "in.mkv";
  options.output_name = "out.mov";
  absl::StatusOr<StreamPlan> plan = PlanStreams(*source, *mov, options);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(plan.status().message());
  EXPECT_EQ(message.rfind("in.mkv: audio stream #1 (celt) cannot go in out.mov", 0), 0u) << message;
  EXPECT_NE(message.find("--no-audio"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  // --no-audio is the way out.
  options.copy_audio = false;
  plan = PlanStreams(*source, *mov, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->streams.empty());
}

// A failed write leaves no file: not when the folder cannot be written, not
// when a write fails midway, not when the writer is given up before Finish.
class FailedWriteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing_util::MakeScratchDir();
    source_ = Sources::Get().For(kAudioCodecs[0]);
    ASSERT_FALSE(source_.empty());
    partial_ = dir_ + "/.out.partial.mp4";
    options_.output_path = partial_;
    options_.display_name = dir_ + "/out.mp4";
    options_.width = 64;
    options_.height = 48;
    options_.time_base = AVRational{1, kFps};
    options_.frame_rate = AVRational{kFps, 1};
    options_.audio_source_path = source_;
    options_.encode.preset = "ultrafast";
  }

  std::string dir_, source_, partial_;
  VideoWriterOptions options_;
};

TEST_F(FailedWriteTest, UnwritableFolderLeavesNothing) {
  const std::string not_a_folder = dir_ + "/file";
  { std::ofstream(not_a_folder) << "x"; }
  options_.output_path = not_a_folder + "/.out.partial.mp4";
  EXPECT_FALSE(VideoWriter::Create(options_).ok());
  EXPECT_TRUE(PartialFiles(dir_).empty());
}

TEST_F(FailedWriteTest, WriteErrorRemovesThePartialFile) {
  {
    absl::StatusOr<std::unique_ptr<VideoWriter>> writer = VideoWriter::Create(options_);
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_EQ(PartialFiles(dir_).size(), 1u);  // being written
    const RgbImage picture = testing_util::Noise(64, 48);
    ASSERT_TRUE((*writer)->WriteFrame(picture, 5).ok());
    EXPECT_FALSE((*writer)->WriteFrame(picture, 5).ok());  // pts not increasing
    EXPECT_FALSE((*writer)->WriteFrame(RgbImage(32, 32), 6).ok());  // wrong size
  }
  EXPECT_TRUE(PartialFiles(dir_).empty());
}

TEST_F(FailedWriteTest, WriterGivenUpBeforeFinishRemovesThePartialFile) {
  {
    absl::StatusOr<std::unique_ptr<VideoWriter>> writer = VideoWriter::Create(options_);
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->WriteFrame(testing_util::Noise(64, 48), 0).ok());
  }
  EXPECT_TRUE(PartialFiles(dir_).empty());
}

TEST_F(FailedWriteTest, FinishedFileStays) {
  {
    absl::StatusOr<std::unique_ptr<VideoWriter>> writer = VideoWriter::Create(options_);
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->WriteFrame(testing_util::Noise(64, 48), 0).ok());
    ASSERT_TRUE((*writer)->Finish().ok());
  }
  EXPECT_TRUE(fs::exists(partial_));
}

}  // namespace
}  // namespace anifarm
