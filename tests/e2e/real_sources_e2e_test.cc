// The farm on sources shaped like the episodes users have:
// - lossy x264 at its defaults (B-frames, CRF 20), drawings held on twos and
//   threes, so the default dedup (near) maps held frames onto pictures whose
//   own frame was reused by MD5 or by the detector: every frame must still
//   come out, at its timestamp, in both encode modes (`anifarm run`);
// - open GOPs (x264 open-gop, x265's default, MPEG-2) cut into several
//   chunks: every frame once, in order, at its timestamp (a coordinator and
//   a node on loopback, small chunks);
// - a telecined NTSC DVD (720x480 29.97 MPEG-2, top field first, 3:2
//   pulldown, AAC): out at 23.976 progressive, no frame combed, the audio
//   within one frame of the video (`anifarm run`; --deinterlace off, the
//   control, keeps the combed frames).
#include <gtest/gtest.h>

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/media/media_info.h"
#include "common/media/test_clip.h"
#include "protos/anifarm.pb.h"
#include "common/media/field_analysis.h"
#include "common/media/field_filter.h"
#include "tests/corpus/field_clips.h"
#include "tests/corpus/lossy_clip.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/subprocess.h"
#include "tests/unit/media/media_test_util.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;

const std::string kBin = ANIFARM_BIN_DIR;
const std::string kModels = ANIFARM_TEST_MODEL_DIR;

// Drawing of frame i: a box that moves to a new place every 2 or 3 frames
// over a banded background, so most frames hold the drawing before them.
int DrawingOf(int i) { return (i / 5) * 2 + (i % 5 >= 2 ? 1 : 0); }

void DrawHeld(int index, AVFrame& frame) {
  const int drawing = DrawingOf(index);
  for (int y = 0; y < frame.height; ++y) {
    for (int x = 0; x < frame.width; ++x) {
      int value = 70 + 30 * ((x / 8) % 3);
      if (x >= 8 + (drawing * 5) % 70 && x < 20 + (drawing * 5) % 70 && y >= 20 && y < 34) {
        value = 220;
      }
      frame.data[0][y * frame.linesize[0] + x] = static_cast<uint8_t>(value);
    }
  }
  for (int p = 1; p < 3; ++p) {
    for (int y = 0; y < frame.height / 2; ++y) {
      std::memset(frame.data[p] + y * frame.linesize[p], p == 1 ? 110 : 150, frame.width / 2);
    }
  }
}

class RealSourcesTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::FreshTestDir("real"); }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  std::string Log(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(RealSourcesTest, HeldDrawingsOfALossyEpisodeInBothEncodeModes) {
  constexpr int kFrames = 1440;  // one minute at 24 fps
  LossyClipSpec spec;
  spec.width = 96;
  spec.height = 64;
  spec.frames = kFrames;
  spec.crf = 20;
  spec.draw = DrawHeld;
  const std::string input = (dir_ / "episode.mkv").string();
  ASSERT_TRUE(WriteLossyClip(input, spec).ok());
  absl::StatusOr<std::vector<FramePtr>> source = testing_util::DecodeAll(input);
  ASSERT_TRUE(source.ok()) << source.status();
  ASSERT_EQ(source->size(), static_cast<size_t>(kFrames));
  auto source_info = ProbeMedia(input);
  ASSERT_TRUE(source_info.ok());
  const double source_tb = av_q2d(source_info->video.time_base);

  for (const char* encode_at : {"nodes", "coordinator"}) {
    const std::string output = (dir_ / (std::string(encode_at) + ".mkv")).string();
    const std::string state = (dir_ / (std::string("state-") + encode_at)).string();
    testing::CommandResult run = testing::RunToEnd(
        {kBin + "/anifarm", "run", input, "-o", output, "--state-dir", state, "--models-dir",
         kModels, "--codec", "ffv1", "--encode-at", encode_at, "--cleanup", "none"},
        Log(std::string("run-") + encode_at));
    ASSERT_EQ(run.code, 0) << run.err;
    absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(output);
    ASSERT_TRUE(frames.ok()) << frames.status();
    ASSERT_EQ(frames->size(), static_cast<size_t>(kFrames)) << encode_at;
    auto info = ProbeMedia(output);
    ASSERT_TRUE(info.ok());
    const double tb = av_q2d(info->video.time_base);
    for (int i = 0; i < kFrames; ++i) {
      const double want = double((*source)[i]->best_effort_timestamp) * source_tb;
      const double got = double((*frames)[i]->best_effort_timestamp) * tb;
      EXPECT_NEAR(got, want, 0.5 / spec.fps) << encode_at << " frame " << i;
    }

    // The summary line: most frames were held, so most were reused.
    const size_t at = run.err.find(" upscaled, ");
    ASSERT_NE(at, std::string::npos) << run.err;
    const size_t open = run.err.rfind('(', at);
    const long upscaled = std::strtol(run.err.c_str() + open + 1, nullptr, 10);
    EXPECT_GT(upscaled, 0) << run.err;
    EXPECT_LT(upscaled, kFrames / 2) << run.err;
  }
}

// An MP4 cut after its index (an interrupted download): refused at submit
// with exit 3 and one line naming the file, nothing planned or upscaled.
TEST_F(RealSourcesTest, AnEpisodeCutShortIsRefusedBeforeAnyWork) {
  LossyClipSpec spec;
  spec.width = 96;
  spec.height = 64;
  spec.frames = 24;
  spec.index_first = true;
  const std::string input = (dir_ / "cut.mp4").string();
  ASSERT_TRUE(WriteLossyClip(input, spec).ok());
  fs::resize_file(input, fs::file_size(input) / 2);
  testing::CommandResult run = testing::RunToEnd(
      {kBin + "/anifarm", "run", input, "-o", (dir_ / "out.mkv").string(), "--state-dir",
       (dir_ / "state").string(), "--models-dir", kModels},
      Log("run-cut"));
  EXPECT_EQ(run.code, 3) << run.err;
  EXPECT_NE(run.err.find(input), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("damaged"), std::string::npos) << run.err;
  EXPECT_FALSE(fs::exists(dir_ / "out.mkv"));
}

// First and last time (pts, pts + duration) of the first audio stream.
std::pair<double, double> AudioSpan(const std::string& path) {
  double start = 1e30, end = -1e30;
  AVFormatContext* raw = nullptr;
  if (OpenLocalInput(&raw, path) < 0) return {start, end};
  InputFormatPtr format(raw);
  avformat_find_stream_info(format.get(), nullptr);
  const int audio = av_find_best_stream(format.get(), AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
  if (audio < 0) return {start, end};
  const AVRational tb = format->streams[audio]->time_base;
  PacketPtr packet = MakePacket();
  while (av_read_frame(format.get(), packet.get()) >= 0) {
    if (packet->stream_index == audio && packet->pts != AV_NOPTS_VALUE) {
      start = std::min(start, packet->pts * av_q2d(tb));
      end = std::max(end, (packet->pts + packet->duration) * av_q2d(tb));
    }
    av_packet_unref(packet.get());
  }
  return {start, end};
}

// Issue 28, item 2: combed frames must not come out as upscaled comb
// stripes. --scale 1 keeps the output at the source's size, so a comb left
// in is still one row high for the metric.
TEST_F(RealSourcesTest, TelecinedDvdComesOutProgressiveAtTheFilmRateInSync) {
  if (!FieldFiltersAvailable()) GTEST_SKIP() << "built without libavfilter";
  const std::string input = (dir_ / "dvd.ts").string();
  ASSERT_TRUE(WriteLossyClip(input, TelecinedClip(176, 120, 96)).ok());  // 120 frames
  for (const char* mode : {"auto", "off"}) {
    const std::string output = (dir_ / (std::string("dvd-") + mode + ".mkv")).string();
    testing::CommandResult run = testing::RunToEnd(
        {kBin + "/anifarm", "run", input, "-o", output, "--state-dir",
         (dir_ / (std::string("state-") + mode)).string(), "--models-dir", kModels, "--scale",
         "1", "--codec", "ffv1", "--dedup", "off", "--deinterlace", mode},
        Log(std::string("run-dvd-") + mode));
    ASSERT_EQ(run.code, 0) << run.err;
    absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(output);
    ASSERT_TRUE(frames.ok()) << frames.status();
    int combed = 0;
    for (const FramePtr& frame : *frames) combed += CombFraction(*frame) > kCombedFrameFraction;
    if (std::string(mode) == "off") {
      // The control: nothing removed, and the metric does see the
      // pulldown's combed frames in the source (the model's pass smooths
      // the combs of so small a picture out of the output).
      EXPECT_EQ(frames->size(), 120u);
      absl::StatusOr<std::vector<FramePtr>> source = testing_util::DecodeAll(input);
      ASSERT_TRUE(source.ok());
      int source_combed = 0;
      for (const FramePtr& frame : *source) {
        source_combed += CombFraction(*frame) > kCombedFrameFraction;
      }
      EXPECT_GT(source_combed, 40) << "the control: the pulldown's combed frames";
      continue;
    }
    EXPECT_NE(run.err.find("telecined (3:2 pulldown"), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("inverse telecine to 23.976 frames/s"), std::string::npos) << run.err;
    ASSERT_EQ(frames->size(), 96u);
    EXPECT_EQ(combed, 0);
    auto info = ProbeMedia(output);
    ASSERT_TRUE(info.ok());
    EXPECT_NEAR(av_q2d(info->frame_rate), 24000.0 / 1001, 1e-3);
    const double frame_s = 1001.0 / 24000;
    const double tb = av_q2d(info->video.time_base);
    const double video_start = double(frames->front()->best_effort_timestamp) * tb;
    const double video_end = double(frames->back()->best_effort_timestamp) * tb + frame_s;
    const auto [audio_start, audio_end] = AudioSpan(output);
    EXPECT_NEAR(video_start, audio_start, frame_s);
    EXPECT_NEAR(video_end, audio_end, frame_s);
  }
}

// The same DVD at a coordinator alone (no node, no engine): planned from
// its progressive intermediate, 96 frames, with the one notice in the log.
TEST_F(RealSourcesTest, TelecinedDvdIsPlannedFromItsProgressiveIntermediate) {
  if (!FieldFiltersAvailable()) GTEST_SKIP() << "built without libavfilter";
  const std::string input = (dir_ / "dvd.ts").string();
  ASSERT_TRUE(WriteLossyClip(input, TelecinedClip(720, 480, 96)).ok());  // 120 frames
  const std::string address = "127.0.0.1:" + std::to_string(testing::FreeLoopbackPort());
  const fs::path state = dir_ / "state";
  testing::Subprocess coordinator({kBin + "/anifarm-coordinator", "--listen", address,
                                   "--state-dir", state.string(), "--models-dir", kModels},
                                  Log("coordinator"));
  testing::CommandResult submit = testing::RunToEnd(
      {kBin + "/anifarm", "submit", input, "-o", (dir_ / "out.mkv").string(), "--coordinator",
       address, "--job-preset", "old-compressed"},
      Log("submit"));
  ASSERT_EQ(submit.code, 0) << submit.err;
  const std::string job_id = submit.out.substr(0, submit.out.find('\n'));
  v1::JobStatus job;
  for (int i = 0; i < 600 && job.total_frames() != 96; ++i) {
    testing::CommandResult status = testing::RunToEnd(
        {kBin + "/anifarm", "status", job_id, "--json", "--coordinator", address},
        Log("status"));
    if (status.code == 0) {
      job.Clear();
      (void)google::protobuf::util::JsonStringToMessage(status.out, &job);
    }
    if (job.state() == v1::JOB_FAILED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(job.total_frames(), 96) << job.error();  // 120 telecined → 96 film frames
  EXPECT_TRUE(fs::is_regular_file(state / "jobs" / job_id / "progressive.mkv"));
  const std::string log = coordinator.Stderr() + coordinator.Stdout();
  EXPECT_NE(log.find("notice: " + job_id + ": " + input + ": telecined (3:2 pulldown"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("inverse telecine to 23.976 frames/s (120 frames → 96)"),
            std::string::npos);
  coordinator.Terminate();
  coordinator.Wait();
}

// Two episodes of a series share their opening, coded separately (the
// second starts with a cold open, so the opening's frames are coded
// differently): the second job takes the opening's pictures from the series
// cache the first job filled, and upscales none of them.
struct Part {
  int id;
  int frames;
};

void DrawPart(const std::vector<Part>& parts, int index, AVFrame& frame) {
  int part = 0, start = 0;
  while (index >= start + parts[part].frames) start += parts[part++].frames;
  const int local = index - start;
  const int drawing = local / 2;  // on twos
  const int id = parts[part].id;
  for (int y = 0; y < frame.height; ++y) {
    for (int x = 0; x < frame.width; ++x) {
      int value = 50 + 25 * id + 30 * ((x / 8) % 3);
      if (x >= 6 + drawing * 5 && x < 18 + drawing * 5 && y >= 18 && y < 32) value = 230;
      frame.data[0][y * frame.linesize[0] + x] = static_cast<uint8_t>(value);
    }
  }
  for (int p = 1; p < 3; ++p) {
    for (int y = 0; y < frame.height / 2; ++y) {
      std::memset(frame.data[p] + y * frame.linesize[p], p == 1 ? 100 + 10 * id : 150,
                  frame.width / 2);
    }
  }
}

TEST_F(RealSourcesTest, SecondEpisodeTakesTheSharedOpeningFromTheSeriesCache) {
  const std::vector<Part> episode1 = {{0, 24}, {1, 24}};            // opening, then part A
  const std::vector<Part> episode2 = {{2, 12}, {0, 24}, {3, 12}};   // cold open, opening, B
  const std::string state = (dir_ / "state").string();
  auto run = [&](const std::vector<Part>& parts, const std::string& name) {
    LossyClipSpec spec;
    spec.width = 96;
    spec.height = 64;
    spec.crf = 20;
    spec.frames = 0;
    for (const Part& part : parts) spec.frames += part.frames;
    spec.draw = [&parts](int index, AVFrame& frame) { DrawPart(parts, index, frame); };
    const std::string input = (dir_ / (name + ".mkv")).string();
    EXPECT_TRUE(WriteLossyClip(input, spec).ok());
    return testing::RunToEnd(
        {kBin + "/anifarm", "run", input, "-o", (dir_ / (name + "-2x.mkv")).string(),
         "--state-dir", state, "--models-dir", kModels, "--frame-map",
         (dir_ / (name + "-map.json")).string()},
        Log("run-" + name));
  };
  auto upscaled_of = [](const std::string& err) {
    const size_t at = err.find(" upscaled, ");
    return at == std::string::npos ? -1L
                                   : std::strtol(err.c_str() + err.rfind('(', at) + 1, nullptr, 10);
  };
  testing::CommandResult first = run(episode1, "ep1");
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_GE(upscaled_of(first.err), 24) << first.err;  // 12 drawings of the opening + 12 of A

  testing::CommandResult second = run(episode2, "ep2");
  ASSERT_EQ(second.code, 0) << second.err;
  // Only the cold open's and part B's 12 drawings.
  const long upscaled = upscaled_of(second.err);
  EXPECT_GE(upscaled, 12) << second.err;
  EXPECT_LE(upscaled, 13) << "the opening was upscaled again: " << second.err;
  std::ifstream map_file(dir_ / "ep2-map.json");
  const std::string map((std::istreambuf_iterator<char>(map_file)),
                        std::istreambuf_iterator<char>());
  const size_t cache_at = map.find("\"series_cache\"");
  ASSERT_NE(cache_at, std::string::npos) << map;
  // Every opening frame (12..35) shows a picture from the cache: its own
  // entry, or the held frame before it that has one.
  const std::string cached = map.substr(cache_at);
  int from_cache = 0;
  for (size_t at = cached.find("\"job\""); at != std::string::npos;
       at = cached.find("\"job\"", at + 1)) {
    ++from_cache;
  }
  std::printf("episode 1: %ld upscaled; episode 2: %ld upscaled, %d pictures from the cache\n",
              upscaled_of(first.err), upscaled, from_cache);
  EXPECT_GE(from_cache, 11) << cached;
  EXPECT_LE(from_cache, 12) << cached;

  // `anifarm cache` shows what the two jobs kept, and clears it.
  testing::CommandResult shown = testing::RunToEnd(
      {kBin + "/anifarm", "cache", "--json", "--state-dir", state}, Log("cache"));
  ASSERT_EQ(shown.code, 0) << shown.err;
  EXPECT_EQ(shown.out.find("\"entries\":\"0\""), std::string::npos) << shown.out;
  EXPECT_EQ(shown.out.find("\"entries\":0,"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("\"entries\""), std::string::npos) << shown.out;
  testing::CommandResult cleared = testing::RunToEnd(
      {kBin + "/anifarm", "cache", "clear", "--state-dir", state}, Log("cache-clear"));
  ASSERT_EQ(cleared.code, 0) << cleared.err;
  EXPECT_NE(cleared.out.find("cleared: 0 pictures"), std::string::npos) << cleared.out;

  // And they are the right pictures: episode 2's opening looks like
  // episode 1's, frame for frame (both outputs lossy, so within a few levels).
  auto out1 = testing_util::DecodeAll((dir_ / "ep1-2x.mkv").string());
  auto out2 = testing_util::DecodeAll((dir_ / "ep2-2x.mkv").string());
  ASSERT_TRUE(out1.ok() && out2.ok());
  ASSERT_EQ(out1->size(), 48u);
  ASSERT_EQ(out2->size(), 48u);
  for (int i = 0; i < 24; ++i) {
    const AVFrame& a = *(*out1)[i];
    const AVFrame& b = *(*out2)[12 + i];
    ASSERT_EQ(a.width, b.width);
    double diff = 0;
    for (int y = 0; y < a.height; ++y) {
      for (int x = 0; x < a.width; ++x) {
        diff += std::abs(int(a.data[0][y * a.linesize[0] + x]) - int(b.data[0][y * b.linesize[0] + x]));
      }
    }
    EXPECT_LT(diff / (a.width * a.height), 3.0) << "opening frame " << i;
  }
}

// DVD-shaped geometry and HDR tags through `anifarm run`, both encode
// modes: an anamorphic 16:9 source comes out with square pixels at its
// display aspect (or its own SAR with --keep-sar), a rotated one keeps its
// rotation, an HDR10 one its mastering and light-level metadata.
TEST_F(RealSourcesTest, AnamorphicRotatedAndHdrSourcesKeepHowTheyAreShown) {
  TestClipSpec anamorphic;
  anamorphic.width = 88;
  anamorphic.height = 60;
  anamorphic.content = DefaultTestPattern(12);
  anamorphic.sample_aspect_num = 32;
  anamorphic.sample_aspect_den = 27;
  const std::string dvd = (dir_ / "dvd.mkv").string();
  ASSERT_TRUE(WriteTestClip(dvd, anamorphic).ok());
  for (const char* encode_at : {"nodes", "coordinator"}) {
    for (bool keep_sar : {false, true}) {
      const std::string output = (dir_ / (std::string("dvd-") + encode_at +
                                          (keep_sar ? "-sar" : "") + ".mkv")).string();
      std::vector<std::string> argv = {kBin + "/anifarm", "run", dvd, "-o", output,
                                       "--state-dir", (dir_ / "state").string(), "--models-dir",
                                       kModels, "--encode-at", encode_at};
      if (keep_sar) argv.push_back("--keep-sar");
      testing::CommandResult run = testing::RunToEnd(argv, Log("run-dvd"));
      ASSERT_EQ(run.code, 0) << run.err;
      auto facts = testing_util::ReadVideoStreamFacts(output);
      ASSERT_TRUE(facts.ok()) << facts.status();
      EXPECT_EQ(facts->height, 120) << output;
      if (keep_sar) {
        EXPECT_EQ(facts->width, 176) << output;
        EXPECT_EQ(av_cmp_q(facts->sample_aspect_ratio, AVRational{32, 27}), 0) << output;
      } else {
        // 88 x 32/27 = 104.3 display pixels, x2, to the nearest even width.
        EXPECT_EQ(facts->width, 208) << output;
        EXPECT_TRUE(facts->sample_aspect_ratio.num == 0 ||
                    av_cmp_q(facts->sample_aspect_ratio, AVRational{1, 1}) == 0)
            << output;
      }
    }
  }

  TestClipSpec rotated;
  rotated.width = 64;
  rotated.height = 48;
  rotated.content = DefaultTestPattern(12);
  rotated.rotation = 90;
  const std::string phone = (dir_ / "rotated.mp4").string();
  ASSERT_TRUE(WriteTestClip(phone, rotated).ok());
  auto source_facts = testing_util::ReadVideoStreamFacts(phone);
  ASSERT_TRUE(source_facts.ok() && source_facts->has_rotation);
  testing::CommandResult turned = testing::RunToEnd(
      {kBin + "/anifarm", "run", phone, "-o", (dir_ / "rotated-2x.mp4").string(), "--state-dir",
       (dir_ / "state").string(), "--models-dir", kModels},
      Log("run-rotated"));
  ASSERT_EQ(turned.code, 0) << turned.err;
  auto turned_facts = testing_util::ReadVideoStreamFacts((dir_ / "rotated-2x.mp4").string());
  ASSERT_TRUE(turned_facts.ok());
  EXPECT_TRUE(turned_facts->has_rotation);
  EXPECT_DOUBLE_EQ(turned_facts->rotation, source_facts->rotation);

  TestClipSpec hdr;
  hdr.width = 64;
  hdr.height = 48;
  hdr.content = DefaultTestPattern(12);
  hdr.hdr10 = true;
  hdr.audio = false;
  const std::string hdr_in = (dir_ / "hdr.mkv").string();
  ASSERT_TRUE(WriteTestClip(hdr_in, hdr).ok());
  auto hdr_source = testing_util::ReadVideoStreamFacts(hdr_in);
  ASSERT_TRUE(hdr_source.ok() && !hdr_source->mastering_display.empty());
  testing::CommandResult graded = testing::RunToEnd(
      {kBin + "/anifarm", "run", hdr_in, "-o", (dir_ / "hdr-2x.mkv").string(), "--state-dir",
       (dir_ / "state").string(), "--models-dir", kModels, "--codec", "h265", "--profile",
       "main10"},
      Log("run-hdr"));
  ASSERT_EQ(graded.code, 0) << graded.err;
  auto hdr_out = testing_util::ReadVideoStreamFacts((dir_ / "hdr-2x.mkv").string());
  ASSERT_TRUE(hdr_out.ok());
  EXPECT_EQ(hdr_out->mastering_display, hdr_source->mastering_display);
  EXPECT_EQ(hdr_out->content_light, hdr_source->content_light);
  EXPECT_EQ(hdr_out->color_trc, hdr_source->color_trc);
  EXPECT_EQ(hdr_out->pixel_format, AV_PIX_FMT_YUV420P10LE);
}

// A source whose second half is garbage (a bad sector, a broken copy)
// fails while it is planned, before any node works: exit 3 and one line
// naming the file and the last time that decoded.
TEST_F(RealSourcesTest, AnEpisodeDamagedInTheMiddleFailsAtPlanningNamingFileAndTime) {
  LossyClipSpec spec;
  spec.width = 96;
  spec.height = 64;
  spec.frames = 192;
  const std::string input = (dir_ / "damaged.mkv").string();
  ASSERT_TRUE(WriteLossyClip(input, spec).ok());
  {
    std::fstream file(input, std::ios::in | std::ios::out | std::ios::binary);
    const auto size = static_cast<std::streamoff>(fs::file_size(input));
    std::mt19937 noise(5);
    file.seekp(size / 2);
    for (std::streamoff i = size / 2; i < size; ++i) file.put(static_cast<char>(noise()));
  }
  testing::CommandResult run = testing::RunToEnd(
      {kBin + "/anifarm", "run", input, "-o", (dir_ / "out.mkv").string(), "--state-dir",
       (dir_ / "state").string(), "--models-dir", kModels},
      Log("run-damaged"));
  EXPECT_EQ(run.code, 3) << run.err;
  EXPECT_NE(run.err.find(input), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("damaged"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find(" s"), std::string::npos) << run.err;
  EXPECT_FALSE(fs::exists(dir_ / "out.mkv"));
}

struct OpenGopSource {
  const char* encoder;
  const char* file;
  int keyint;
};

TEST_F(RealSourcesTest, OpenGopSourcesAcrossChunksKeepEveryFrame) {
  const OpenGopSource sources[] = {
      {"libx264", "x264-open.mp4", 25}, {"libx265", "x265-default.mkv", 24},
      {"mpeg2video", "mpeg2-open.ts", 15}};
  const std::string address = "127.0.0.1:" + std::to_string(testing::FreeLoopbackPort());
  testing::Subprocess coordinator(
      {kBin + "/anifarm-coordinator", "--listen", address, "--state-dir",
       (dir_ / "state").string(), "--models-dir", kModels, "--chunk-frames", "12"},
      Log("coordinator"));
  testing::Subprocess node({kBin + "/anifarm-node", "--coordinator", address, "--cache-dir",
                            (dir_ / "cache").string(), "--device", "cpu"},
                           Log("node"));
  for (const OpenGopSource& source : sources) {
    LossyClipSpec spec;
    spec.encoder = source.encoder;
    spec.width = 64;
    spec.height = 48;
    spec.frames = 48;
    spec.keyint = source.keyint;
    spec.open_gop = true;
    const std::string input = (dir_ / source.file).string();
    ASSERT_TRUE(WriteLossyClip(input, spec).ok()) << input;
    absl::StatusOr<std::vector<FramePtr>> decoded = testing_util::DecodeAll(input);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    ASSERT_EQ(decoded->size(), 48u) << input;
    auto source_info = ProbeMedia(input);
    ASSERT_TRUE(source_info.ok());
    for (const char* encode_at : {"nodes", "coordinator"}) {
      const std::string output =
          (dir_ / (std::string(source.file) + "-" + encode_at + ".mkv")).string();
      testing::CommandResult submit = testing::RunToEnd(
          {kBin + "/anifarm", "submit", input, "-o", output, "--wait", "--coordinator", address,
           "--codec", "ffv1", "--dedup", "off", "--encode-at", encode_at},
          Log(std::string("submit-") + source.file + "-" + encode_at));
      ASSERT_EQ(submit.code, 0) << source.file << " " << encode_at << ": " << submit.err;
      absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(output);
      ASSERT_TRUE(frames.ok()) << frames.status();
      ASSERT_EQ(frames->size(), decoded->size()) << output;
      auto info = ProbeMedia(output);
      ASSERT_TRUE(info.ok());
      const double frame_seconds = 1.0 / spec.fps;
      const double start = double((*decoded)[0]->best_effort_timestamp) *
                           av_q2d(source_info->video.time_base);
      const double out_start =
          double((*frames)[0]->best_effort_timestamp) * av_q2d(info->video.time_base);
      for (size_t i = 0; i < frames->size(); ++i) {
        const double want = double((*decoded)[i]->best_effort_timestamp) *
                                av_q2d(source_info->video.time_base) - start;
        const double got = double((*frames)[i]->best_effort_timestamp) *
                               av_q2d(info->video.time_base) - out_start;
        EXPECT_NEAR(got, want, 0.5 * frame_seconds) << output << " frame " << i;
      }
    }
  }
}

}  // namespace
}  // namespace anifarm
