// "Nothing of the source lost": an episode-like source (two audio tracks in
// two languages, ASS subtitles, an embedded font, chapters, a title) goes
// through VideoWriter, and the output is read back with libavformat.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "common/media/frame_convert.h"
#include "common/media/media_info.h"
#include "common/media/test_clip.h"
#include "common/media/video_writer.h"
#include "gtest/gtest.h"
#include "tests/unit/media/media_test_util.h"

namespace anifarm {
namespace {

constexpr int kFrames = 24;
constexpr int kFps = 24;

struct StreamReadBack {
  AVMediaType type = AVMEDIA_TYPE_UNKNOWN;
  AVCodecID codec_id = AV_CODEC_ID_NONE;
  std::string language;
  std::string title;
  std::string handler_name;  // MP4/MOV's track name
  std::string filename;
  std::string mimetype;
  std::string extradata;
  int packets = 0;
  std::vector<int> packet_sizes;
  std::vector<std::string> payloads;  // subtitles only
  double first_seconds = 0;
  double end_seconds = 0;  // last packet's end
};

struct FileReadBack {
  std::string title;
  std::vector<StreamReadBack> streams;
  struct Chapter {
    double start, end;
    std::string title;
  };
  std::vector<Chapter> chapters;

  std::vector<const StreamReadBack*> OfType(AVMediaType type) const {
    std::vector<const StreamReadBack*> out;
    for (const StreamReadBack& s : streams) {
      if (s.type == type) out.push_back(&s);
    }
    return out;
  }
};

std::string Tag(const AVDictionary* dict, const char* key) {
  const AVDictionaryEntry* e = av_dict_get(dict, key, nullptr, 0);
  return e ? e->value : "";
}

FileReadBack ReadAll(const std::string& path) {
  FileReadBack r;
  AVFormatContext* raw = nullptr;
  EXPECT_EQ(avformat_open_input(&raw, path.c_str(), nullptr, nullptr), 0) << path;
  if (!raw) return r;
  InputFormatPtr input(raw);
  EXPECT_GE(avformat_find_stream_info(input.get(), nullptr), 0);
  r.title = Tag(input->metadata, "title");
  for (unsigned i = 0; i < input->nb_chapters; ++i) {
    const AVChapter* c = input->chapters[i];
    r.chapters.push_back({c->start * av_q2d(c->time_base), c->end * av_q2d(c->time_base),
                          Tag(c->metadata, "title")});
  }
  for (unsigned i = 0; i < input->nb_streams; ++i) {
    const AVStream* st = input->streams[i];
    StreamReadBack s;
    s.type = st->codecpar->codec_type;
    s.codec_id = st->codecpar->codec_id;
    s.language = Tag(st->metadata, "language");
    s.title = Tag(st->metadata, "title");
    s.handler_name = Tag(st->metadata, "handler_name");
    s.filename = Tag(st->metadata, "filename");
    s.mimetype = Tag(st->metadata, "mimetype");
    if (st->codecpar->extradata) {
      s.extradata.assign(reinterpret_cast<const char*>(st->codecpar->extradata),
                         st->codecpar->extradata_size);
    }
    r.streams.push_back(s);
  }
  PacketPtr packet = MakePacket();
  while (av_read_frame(input.get(), packet.get()) >= 0) {
    StreamReadBack& s = r.streams[packet->stream_index];
    const AVRational tb = input->streams[packet->stream_index]->time_base;
    const double start = packet->pts * av_q2d(tb);
    if (s.packets == 0) s.first_seconds = start;
    s.end_seconds = std::max(s.end_seconds, (packet->pts + packet->duration) * av_q2d(tb));
    ++s.packets;
    s.packet_sizes.push_back(packet->size);
    if (s.type == AVMEDIA_TYPE_SUBTITLE) {
      s.payloads.emplace_back(reinterpret_cast<const char*>(packet->data), packet->size);
    }
    av_packet_unref(packet.get());
  }
  return r;
}

class SourceStreamsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing_util::MakeScratchDir();
    source_ = dir_ + "/episode.mkv";
    TestClipSpec spec;
    spec.width = 64;
    spec.height = 48;
    spec.fps = kFps;
    spec.content = DefaultTestPattern(kFrames);
    spec.second_audio = true;
    spec.subtitle_events = 2;
    spec.font_attachment = true;
    spec.chapters = 2;
    spec.title = "Episode 1";
    absl::Status written = WriteTestClip(source_, spec);
    ASSERT_TRUE(written.ok()) << written;
  }

  // Re-encodes the source's pictures (as the assembler does with upscaled
  // ones) to `output`, keeping the rest of the source.
  void Encode(const std::string& output, std::vector<std::string>* notices,
              std::string source = "") {
    if (source.empty()) source = source_;
    absl::StatusOr<MediaInfo> info = ProbeMedia(source);
    ASSERT_TRUE(info.ok()) << info.status();
    absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(source);
    ASSERT_TRUE(frames.ok()) << frames.status();
    VideoWriterOptions options;
    options.output_path = output;
    options.width = info->video.width;
    options.height = info->video.height;
    options.time_base = info->video.time_base;
    options.frame_rate = info->frame_rate;
    options.audio_source_path = source;
    options.encode.preset = "ultrafast";
    absl::StatusOr<std::unique_ptr<VideoWriter>> writer = VideoWriter::Create(options);
    ASSERT_TRUE(writer.ok()) << writer.status();
    for (const FramePtr& frame : *frames) {
      absl::StatusOr<RgbImage> rgb = FrameToRgb(*frame);
      ASSERT_TRUE(rgb.ok()) << rgb.status();
      absl::Status status = (*writer)->WriteFrame(*rgb, frame->best_effort_timestamp);
      ASSERT_TRUE(status.ok()) << status;
    }
    absl::Status finished = (*writer)->Finish();
    ASSERT_TRUE(finished.ok()) << finished;
    *notices = (*writer)->notices();
  }

  static bool AnyNotice(const std::vector<std::string>& notices, const std::string& part) {
    return std::any_of(notices.begin(), notices.end(),
                       [&](const std::string& n) { return n.find(part) != std::string::npos; });
  }

  std::string dir_;
  std::string source_;
};

TEST_F(SourceStreamsTest, SourceHasEverything) {
  const FileReadBack src = ReadAll(source_);
  EXPECT_EQ(src.OfType(AVMEDIA_TYPE_AUDIO).size(), 2u);
  EXPECT_EQ(src.OfType(AVMEDIA_TYPE_SUBTITLE).size(), 1u);
  EXPECT_EQ(src.OfType(AVMEDIA_TYPE_ATTACHMENT).size(), 1u);
  EXPECT_EQ(src.chapters.size(), 2u);
  EXPECT_EQ(src.title, "Episode 1");
}

TEST_F(SourceStreamsTest, MkvKeepsEveryStreamChapterAndTag) {
  const std::string output = dir_ + "/out.mkv";
  std::vector<std::string> notices;
  ASSERT_NO_FATAL_FAILURE(Encode(output, &notices));
  EXPECT_TRUE(notices.empty()) << notices.front();
  const FileReadBack src = ReadAll(source_);
  const FileReadBack out = ReadAll(output);

  EXPECT_EQ(out.title, "Episode 1");
  ASSERT_EQ(out.OfType(AVMEDIA_TYPE_VIDEO).size(), 1u);
  EXPECT_EQ(out.OfType(AVMEDIA_TYPE_VIDEO)[0]->packets, kFrames);

  // Audio: both tracks, copied packet for packet, languages and titles kept.
  const auto src_audio = src.OfType(AVMEDIA_TYPE_AUDIO);
  const auto out_audio = out.OfType(AVMEDIA_TYPE_AUDIO);
  ASSERT_EQ(out_audio.size(), 2u);
  EXPECT_EQ(out_audio[0]->codec_id, AV_CODEC_ID_AAC);
  EXPECT_EQ(out_audio[0]->language, "eng");
  EXPECT_EQ(out_audio[0]->title, "English");
  EXPECT_EQ(out_audio[1]->codec_id, AV_CODEC_ID_PCM_S16LE);
  EXPECT_EQ(out_audio[1]->language, "jpn");
  EXPECT_EQ(out_audio[1]->title, "Japanese");
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(out_audio[i]->packet_sizes, src_audio[i]->packet_sizes) << "audio " << i;
  }

  // Subtitles: the ASS track as it was (header and events).
  const auto src_subs = src.OfType(AVMEDIA_TYPE_SUBTITLE);
  const auto out_subs = out.OfType(AVMEDIA_TYPE_SUBTITLE);
  ASSERT_EQ(out_subs.size(), 1u);
  EXPECT_EQ(out_subs[0]->codec_id, AV_CODEC_ID_ASS);
  EXPECT_EQ(out_subs[0]->language, "eng");
  EXPECT_EQ(out_subs[0]->title, "Signs & Songs");
  EXPECT_EQ(out_subs[0]->extradata, src_subs[0]->extradata);
  ASSERT_EQ(out_subs[0]->payloads.size(), 2u);
  EXPECT_EQ(out_subs[0]->payloads, src_subs[0]->payloads);
  EXPECT_NE(out_subs[0]->payloads[1].find("Line 2"), std::string::npos);
  EXPECT_NEAR(out_subs[0]->first_seconds, src_subs[0]->first_seconds, 1e-3);

  // The font.
  const auto out_fonts = out.OfType(AVMEDIA_TYPE_ATTACHMENT);
  ASSERT_EQ(out_fonts.size(), 1u);
  EXPECT_EQ(out_fonts[0]->codec_id, AV_CODEC_ID_TTF);
  EXPECT_EQ(out_fonts[0]->filename, "TestFont.ttf");
  EXPECT_EQ(out_fonts[0]->mimetype, "application/x-truetype-font");
  EXPECT_EQ(out_fonts[0]->extradata, TestFontBytes());

  // Chapters.
  ASSERT_EQ(out.chapters.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(out.chapters[i].title, src.chapters[i].title);
    EXPECT_NEAR(out.chapters[i].start, src.chapters[i].start, 1e-3);
    EXPECT_NEAR(out.chapters[i].end, src.chapters[i].end, 1e-3);
  }
  EXPECT_EQ(out.chapters[1].title, "Part 2");
}

TEST_F(SourceStreamsTest, Mp4KeepsWhatMp4CanHold) {
  const std::string output = dir_ + "/out.mp4";
  std::vector<std::string> notices;
  ASSERT_NO_FATAL_FAILURE(Encode(output, &notices));
  // PCM cannot go in MP4: transcoded; ASS becomes mov_text; the font is dropped.
  EXPECT_TRUE(AnyNotice(notices, "transcoded to AAC")) << notices.size();
  EXPECT_TRUE(AnyNotice(notices, "mov_text"));
  EXPECT_TRUE(AnyNotice(notices, "attachment"));
  const FileReadBack src = ReadAll(source_);
  const FileReadBack out = ReadAll(output);

  EXPECT_EQ(out.title, "Episode 1");
  const auto src_audio = src.OfType(AVMEDIA_TYPE_AUDIO);
  const auto out_audio = out.OfType(AVMEDIA_TYPE_AUDIO);
  ASSERT_EQ(out_audio.size(), 2u);
  EXPECT_EQ(out_audio[0]->codec_id, AV_CODEC_ID_AAC);
  EXPECT_EQ(out_audio[0]->language, "eng");
  EXPECT_EQ(out_audio[0]->packet_sizes, src_audio[0]->packet_sizes);  // copied
  EXPECT_EQ(out_audio[1]->codec_id, AV_CODEC_ID_AAC);                 // transcoded
  EXPECT_EQ(out_audio[1]->language, "jpn");
  // The transcoded track lasts as long as the source's (within a frame).
  EXPECT_NEAR(out_audio[1]->end_seconds - out_audio[1]->first_seconds,
              src_audio[1]->end_seconds - src_audio[1]->first_seconds, 1.0 / kFps);

  std::vector<const StreamReadBack*> mov_text;
  for (const StreamReadBack* s : out.OfType(AVMEDIA_TYPE_SUBTITLE)) {
    if (s->codec_id == AV_CODEC_ID_MOV_TEXT) mov_text.push_back(s);
  }
  ASSERT_EQ(mov_text.size(), 1u);
  EXPECT_EQ(mov_text[0]->language, "eng");
  // Titles: the track's handler name, which libavformat reads back.
  EXPECT_EQ(out_audio[0]->handler_name, "English");
  EXPECT_EQ(out_audio[1]->handler_name, "Japanese");
  EXPECT_EQ(mov_text[0]->handler_name, "Signs & Songs");
  ASSERT_GE(mov_text[0]->payloads.size(), 2u);
  std::string all_text;
  for (const std::string& p : mov_text[0]->payloads) all_text += p;
  EXPECT_NE(all_text.find("Line 1"), std::string::npos);
  EXPECT_NE(all_text.find("Line 2"), std::string::npos);
  EXPECT_EQ(out.OfType(AVMEDIA_TYPE_ATTACHMENT).size(), 0u);
  EXPECT_EQ(out.chapters.size(), 2u);

  absl::StatusOr<int64_t> count = CountVideoFrames(output);
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, kFrames);
}

// Back from MP4 to MKV: mov_text (which Matroska has no mapping for) becomes
// ASS, and the MP4's track names become titles again.
TEST_F(SourceStreamsTest, Mp4BackToMkvConvertsMovTextAndKeepsTitles) {
  const std::string mp4 = dir_ + "/out.mp4";
  const std::string mkv = dir_ + "/again.mkv";
  std::vector<std::string> notices;
  ASSERT_NO_FATAL_FAILURE(Encode(mp4, &notices));
  ASSERT_NO_FATAL_FAILURE(Encode(mkv, &notices, mp4));
  EXPECT_TRUE(AnyNotice(notices, "converted to ASS"));
  const FileReadBack out = ReadAll(mkv);
  const auto out_audio = out.OfType(AVMEDIA_TYPE_AUDIO);
  ASSERT_EQ(out_audio.size(), 2u);
  EXPECT_EQ(out_audio[0]->title, "English");
  EXPECT_EQ(out_audio[1]->title, "Japanese");
  const auto out_subs = out.OfType(AVMEDIA_TYPE_SUBTITLE);
  ASSERT_EQ(out_subs.size(), 1u);
  EXPECT_EQ(out_subs[0]->codec_id, AV_CODEC_ID_ASS);
  EXPECT_EQ(out_subs[0]->title, "Signs & Songs");
  std::string all_text;
  for (const std::string& p : out_subs[0]->payloads) all_text += p;
  EXPECT_NE(all_text.find("Line 1"), std::string::npos) << all_text;
  EXPECT_NE(all_text.find("Line 2"), std::string::npos) << all_text;
}

TEST_F(SourceStreamsTest, CopyFlagsDropWhatTheCallerDoesNotWant) {
  absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(source_);
  ASSERT_TRUE(frames.ok()) << frames.status();
  VideoWriterOptions options;
  options.output_path = dir_ + "/bare.mkv";
  options.width = 64;
  options.height = 48;
  options.time_base = AVRational{1, 1000};
  options.audio_source_path = source_;
  options.copy_audio = false;
  options.copy_attachments = false;
  options.copy_chapters = false;
  options.encode.preset = "ultrafast";
  absl::StatusOr<std::unique_ptr<VideoWriter>> writer = VideoWriter::Create(options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (size_t i = 0; i < frames->size(); ++i) {
    absl::StatusOr<RgbImage> rgb = FrameToRgb(*(*frames)[i]);
    ASSERT_TRUE(rgb.ok());
    ASSERT_TRUE((*writer)->WriteFrame(*rgb, static_cast<int64_t>(i) * 1000 / kFps).ok());
  }
  ASSERT_TRUE((*writer)->Finish().ok());
  const FileReadBack out = ReadAll(options.output_path);
  EXPECT_EQ(out.OfType(AVMEDIA_TYPE_AUDIO).size(), 0u);
  EXPECT_EQ(out.OfType(AVMEDIA_TYPE_SUBTITLE).size(), 1u);
  EXPECT_EQ(out.OfType(AVMEDIA_TYPE_ATTACHMENT).size(), 0u);
  EXPECT_EQ(out.chapters.size(), 0u);
}

}  // namespace
}  // namespace anifarm
