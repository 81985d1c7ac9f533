// End-to-end tests of the real binaries: a coordinator and two nodes on
// loopback gRPC, real model weights, real FFmpeg encodes, a real SQLite file.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

extern "C" {
#include <libavformat/avformat.h>
}

#include "common/media/frame_convert.h"
#include "common/media/image_writer.h"
#include "common/media/media_info.h"
#include "common/media/png_codec.h"
#include "common/media/source_reader.h"
#include "common/media/test_clip.h"
#include "common/media/video_writer.h"
#include "protos/anifarm.pb.h"
#include "tests/unit/media/media_test_util.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/subprocess.h"
#include "tests/scoped_variable.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;
using testing::FreeLoopbackPort;
using testing::Subprocess;

const std::string kBin = ANIFARM_BIN_DIR;
const std::string kModels = ANIFARM_TEST_MODEL_DIR;

class FarmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("e2e");
    ASSERT_TRUE(fs::exists(kModels + "/2x-AniScale.pth"))
        << "models missing in " << kModels << ": run `anifarm models fetch --models-dir "
        << kModels << "` (scripts/test.sh does)";
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // A clip whose frames repeat: held on twos, and the opening pictures come
  // back at the end (duplicates across chunk boundaries).
  std::string MakeClip(int frames, std::vector<int>* content) {
    TestClipSpec spec;
    spec.width = 96;
    spec.height = 64;
    spec.gop = 12;
    spec.content = DefaultTestPattern(frames);
    *content = spec.content;
    const std::string path = (dir_ / "input.mp4").string();
    EXPECT_TRUE(WriteTestClip(path, spec).ok());
    return path;
  }

  std::string Log(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

// Reads a job's counters back through the CLI's --json output.
v1::JobStatus ParseJob(const std::string& json) {
  v1::JobStatus job;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &job).ok()) << json;
  return job;
}

// The first decoded video frame of a file, in RGB (empty on failure).
RgbImage FirstFrame(const std::string& path) {
  absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(path);
  EXPECT_TRUE(frames.ok() && !frames->empty()) << path;
  if (!frames.ok() || frames->empty()) return RgbImage();
  return *FrameToRgb(*frames->front());
}

// PSNR of the first output frame against a plain bilinear 2x of the source:
// a working network stays close to it, a mis-wired one produces noise.
double FirstFramePsnrAgainstBilinear(const std::string& source, const std::string& output) {
  RgbImage src = FirstFrame(source);
  RgbImage out = FirstFrame(output);
  EXPECT_EQ(out.width, src.width * 2);
  EXPECT_EQ(out.height, src.height * 2);
  double squared = 0;
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      const double sx = std::clamp((x + 0.5) / 2 - 0.5, 0.0, src.width - 1.0);
      const double sy = std::clamp((y + 0.5) / 2 - 0.5, 0.0, src.height - 1.0);
      const int x0 = int(sx), y0 = int(sy);
      const int x1 = std::min(x0 + 1, src.width - 1), y1 = std::min(y0 + 1, src.height - 1);
      const double fx = sx - x0, fy = sy - y0;
      for (int c = 0; c < 3; ++c) {
        auto at = [&](int xx, int yy) { return double(src.row(yy)[xx * 3 + c]); };
        const double expected = (at(x0, y0) * (1 - fx) + at(x1, y0) * fx) * (1 - fy) +
                                (at(x0, y1) * (1 - fx) + at(x1, y1) * fx) * fy;
        const double diff = expected - out.row(y)[x * 3 + c];
        squared += diff * diff;
      }
    }
  }
  const double mse = squared / (double(out.width) * out.height * 3);
  return 10 * std::log10(255.0 * 255.0 / std::max(mse, 1e-10));
}

// Whether each video frame of a file (in presentation order) is a keyframe.
std::vector<bool> KeyframesInPresentationOrder(const std::string& path) {
  std::vector<std::pair<int64_t, bool>> packets;
  absl::StatusOr<std::unique_ptr<SourceReader>> reader = SourceReader::Open(path);
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return {};
  while (true) {
    absl::StatusOr<PacketPtr> packet = (*reader)->NextVideoPacket();
    EXPECT_TRUE(packet.ok()) << packet.status();
    if (!packet.ok() || !*packet) break;
    packets.emplace_back((*packet)->pts, ((*packet)->flags & AV_PKT_FLAG_KEY) != 0);
  }
  std::sort(packets.begin(), packets.end());
  std::vector<bool> keys;
  for (const auto& [pts, key] : packets) keys.push_back(key);
  return keys;
}

void ExpectUpscaledCopy(const std::string& input, const std::string& output, int frames) {
  auto source = ProbeMedia(input);
  auto result = ProbeMedia(output);
  ASSERT_TRUE(source.ok());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->video.width, 2 * source->video.width);
  EXPECT_EQ(result->video.height, 2 * source->video.height);
  EXPECT_EQ(*CountVideoFrames(output), frames);
  ASSERT_EQ(result->audio_stream_count, 1);
  const double frame_seconds = 1.0 / av_q2d(source->frame_rate);
  EXPECT_NEAR(result->audio_duration_seconds, source->audio_duration_seconds, frame_seconds);
  EXPECT_GT(FirstFramePsnrAgainstBilinear(input, output), 22.0);
}

TEST_F(FarmTest, CoordinatorAndTwoNodesUpscaleEachDuplicateOnce) {
  std::vector<int> content;
  const std::string input = MakeClip(48, &content);
  const std::string output = (dir_ / "output.mp4").string();
  const std::set<int> distinct(content.begin(), content.end());

  const std::string address = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
  Subprocess coordinator({kBin + "/anifarm-coordinator", "--listen", address, "--state-dir",
                          (dir_ / "state").string(), "--models-dir", kModels, "--chunk-frames",
                          "12"},
                         Log("coordinator"));
  Subprocess node_a({kBin + "/anifarm-node", "--coordinator", address, "--cache-dir",
                     (dir_ / "cache-a").string(), "--device", "cpu"},
                    Log("node-a"));
  Subprocess node_b({kBin + "/anifarm-node", "--coordinator", address, "--cache-dir",
                     (dir_ / "cache-b").string()},
                    Log("node-b"));

  Subprocess submit({kBin + "/anifarm", "submit", input, "-o", output, "--wait",
                     "--coordinator", address, "--tile", "48", "--tile-overlap", "8"},
                    Log("submit"));
  ASSERT_EQ(submit.Wait(), 0) << submit.Stderr() << coordinator.Stderr() << node_a.Stderr()
                              << node_b.Stderr();
  const std::string job_id = submit.Stdout().substr(0, submit.Stdout().find('\n'));
  ASSERT_FALSE(job_id.empty());

  ExpectUpscaledCopy(input, output, 48);

  Subprocess status({kBin + "/anifarm", "status", job_id, "--json", "--coordinator", address},
                    Log("status"));
  ASSERT_EQ(status.Wait(), 0) << status.Stderr();
  v1::JobStatus job = ParseJob(status.Stdout());
  EXPECT_EQ(job.state(), v1::JOB_DONE);
  EXPECT_EQ(job.total_frames(), 48);
  EXPECT_EQ(job.unique_frames(), static_cast<int64_t>(distinct.size()));
  // Each distinct picture was upscaled exactly once, however the chunks fell.
  EXPECT_EQ(job.frames_upscaled(), static_cast<int64_t>(distinct.size()));
  EXPECT_EQ(job.frames_reused(), 48 - static_cast<int64_t>(distinct.size()));
  EXPECT_EQ(job.chunks_total(), 4);
  EXPECT_EQ(job.output_width(), 192);
  // Learned from the nodes: later chunks go only to nodes that run it.
  EXPECT_EQ(job.model_architecture(), "SRVGGNetCompact");
  // Each node encoded its chunks (the default, --encode-at nodes) and the
  // coordinator joined the segments as they were: every chunk starts on a
  // keyframe of its own encoder.
  const std::vector<bool> keys = KeyframesInPresentationOrder(output);
  ASSERT_EQ(keys.size(), 48u);
  for (int chunk_start : {0, 12, 24, 36}) EXPECT_TRUE(keys[chunk_start]) << chunk_start;

  Subprocess nodes({kBin + "/anifarm", "nodes", "--json", "--coordinator", address},
                   Log("nodes"));
  ASSERT_EQ(nodes.Wait(), 0);
  v1::ListNodesResponse node_list;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(nodes.Stdout(), &node_list).ok());
  ASSERT_EQ(node_list.nodes_size(), 2);
  int64_t node_frames = 0;
  for (const v1::NodeInfo& node : node_list.nodes()) {
    node_frames += node.frames_upscaled();
    // A CPU node computes fp32, and bf16 only where the CPU has it.
    ASSERT_GE(node.precisions_size(), 1);
    EXPECT_EQ(node.precisions(node.precisions_size() - 1), "fp32");
    EXPECT_LE(node.precisions_size(), 2);
  }
  EXPECT_EQ(node_frames, job.frames_upscaled());
  // The text view says the same.
  Subprocess nodes_text({kBin + "/anifarm", "nodes", "--coordinator", address}, Log("nodes-text"));
  ASSERT_EQ(nodes_text.Wait(), 0);
  EXPECT_NE(nodes_text.Stdout().find("  precisions "), std::string::npos) << nodes_text.Stdout();
  EXPECT_NE(nodes_text.Stdout().find("fp32  memory "), std::string::npos) << nodes_text.Stdout();

  // The state is a real SQLite file, and everything stops cleanly.
  EXPECT_TRUE(fs::exists(dir_ / "state" / "anifarm.db"));
  node_a.Terminate();
  node_b.Terminate();
  coordinator.Terminate();
  EXPECT_EQ(node_a.Wait(std::chrono::seconds(20)), 0) << node_a.Stderr();
  EXPECT_EQ(node_b.Wait(std::chrono::seconds(20)), 0) << node_b.Stderr();
  EXPECT_EQ(coordinator.Wait(std::chrono::seconds(20)), 0) << coordinator.Stderr();
}

TEST_F(FarmTest, RunUpscalesInOneProcess) {
  std::vector<int> content;
  const std::string input = MakeClip(24, &content);
  const std::string output = (dir_ / "run.mp4").string();
  Subprocess run({kBin + "/anifarm", "run", input, "-o", output, "--state-dir",
                  (dir_ / "state").string(), "--models-dir", kModels, "--model", "2x-AniScale"},
                 Log("run"));
  ASSERT_EQ(run.Wait(), 0) << run.Stderr();
  EXPECT_NE(run.Stdout().find(output), std::string::npos);
  ExpectUpscaledCopy(input, output, 24);
}

// Segments encoded by the node and joined by the coordinator carry exactly
// the pictures and timestamps of one encode at the coordinator: with the
// lossless FFV1 codec the two outputs decode to identical frames.
TEST_F(FarmTest, SegmentsFromNodesEqualOneEncodeAtTheCoordinator) {
  std::vector<int> content;
  const std::string input = MakeClip(60, &content);
  std::vector<std::vector<FramePtr>> decoded;
  for (const char* encode_at : {"nodes", "coordinator"}) {
    const std::string output = (dir_ / (std::string(encode_at) + ".mkv")).string();
    Subprocess run({kBin + "/anifarm", "run", input, "-o", output, "--state-dir",
                    (dir_ / "state").string(), "--models-dir", kModels, "--codec", "ffv1",
                    "--encode-at", encode_at},
                   Log(std::string("run-") + encode_at));
    ASSERT_EQ(run.Wait(), 0) << run.Stderr();
    absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(output);
    ASSERT_TRUE(frames.ok()) << frames.status();
    ASSERT_EQ(frames->size(), 60u) << encode_at;
    decoded.push_back(*std::move(frames));
  }
  for (size_t i = 0; i < 60; ++i) {
    const AVFrame& a = *decoded[0][i];
    const AVFrame& b = *decoded[1][i];
    EXPECT_EQ(a.best_effort_timestamp, b.best_effort_timestamp) << "frame " << i;
    absl::StatusOr<RgbImage> rgb_a = FrameToRgb(a);
    absl::StatusOr<RgbImage> rgb_b = FrameToRgb(b);
    ASSERT_TRUE(rgb_a.ok() && rgb_b.ok());
    EXPECT_TRUE(rgb_a->pixels == rgb_b->pixels) << "frame " << i << " differs";
  }
}

// Frames in flight (ANIFARM_FRAMES_IN_FLIGHT, 2 by default on a big GPU):
// three frames upscaled at once on three threads give the very frames, in
// the same order, of one at a time, duplicates and pictures from the other
// chunk included (lossless FFV1 again). Both runs give each frame one CPU
// thread: the engine otherwise shares the CPUs among the frames in flight
// (2 threads for one frame here, 1 each for three), and LibTorch's CPU
// kernels on some processors (AVX-512 ones, seen on an AMD EPYC) round a
// value in a few frames differently with 2 threads than with 1, a
// difference this test is not about.
TEST_F(FarmTest, FramesInFlightGiveTheFramesOfOneAtATime) {
  std::vector<int> content;
  const std::string input = MakeClip(60, &content);
  std::vector<std::vector<RgbImage>> decoded;
  const testing_util::ScopedVariable one_thread_per_frame("OMP_NUM_THREADS", "1");
  for (const char* in_flight : {"1", "3"}) {
    setenv("ANIFARM_FRAMES_IN_FLIGHT", in_flight, 1);
    const std::string output = (dir_ / (std::string("in-flight-") + in_flight + ".mkv")).string();
    Subprocess run({kBin + "/anifarm", "run", input, "-o", output, "--state-dir",
                    (dir_ / (std::string("state-") + in_flight)).string(), "--models-dir", kModels,
                    "--codec", "ffv1"},
                   Log(std::string("run-") + in_flight));
    const int rc = run.Wait();
    unsetenv("ANIFARM_FRAMES_IN_FLIGHT");
    ASSERT_EQ(rc, 0) << run.Stderr();
    // The node says how many frames it kept in flight: the path was taken.
    EXPECT_NE(run.Stderr().find(std::string("upscaled, ") + in_flight + " at a time"), std::string::npos)
        << run.Stderr();
    absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(output);
    ASSERT_TRUE(frames.ok()) << frames.status();
    ASSERT_EQ(frames->size(), 60u) << in_flight;
    std::vector<RgbImage> pictures;
    for (const FramePtr& frame : *frames) pictures.push_back(*FrameToRgb(*frame));
    decoded.push_back(std::move(pictures));
  }
  for (size_t i = 0; i < 60; ++i) {
    int worst = 0, count = 0;
    for (size_t k = 0; k < decoded[0][i].pixels.size(); ++k) {
      const int d = std::abs(int(decoded[0][i].pixels[k]) - int(decoded[1][i].pixels[k]));
      worst = std::max(worst, d);
      count += d != 0;
    }
    EXPECT_TRUE(decoded[0][i].pixels == decoded[1][i].pixels)
        << "frame " << i << " differs: " << count << " values, by up to " << worst;
  }
  // Held pictures stay held: the source's duplicates are duplicates still.
  for (size_t i = 1; i < 60; ++i) {
    if (content[i] == content[i - 1]) {
      EXPECT_TRUE(decoded[1][i].pixels == decoded[1][i - 1].pixels) << "frame " << i;
    }
  }
}

// A picture with a transparent border (alpha 0 within 8 px of the edge) and
// an opaque centre.
RgbImage FramedWithAlpha(int width, int height, int shade) {
  RgbImage image(width, height);
  image.alpha.resize(static_cast<size_t>(width) * height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = image.row(y) + 3 * x;
      p[0] = static_cast<uint8_t>(x * 255 / width);
      p[1] = static_cast<uint8_t>(shade);
      p[2] = static_cast<uint8_t>(y * 255 / height);
      const int edge = std::min({x, y, width - 1 - x, height - 1 - y});
      image.alpha[static_cast<size_t>(y) * width + x] = edge < 8 ? 0 : 255;
    }
  }
  return image;
}

// An RGBA source keeps an upscaled alpha channel: an image to PNG, a ProRes
// 4444 video with alpha to ProRes 4444 (encoded at the nodes); JPEG gets
// the picture composited on white.
TEST_F(FarmTest, AlphaChannelIsUpscaledAndKept) {
  auto check_alpha = [](const RgbImage& out, int width, int height) {
    ASSERT_EQ(out.width, width);
    ASSERT_EQ(out.height, height);
    ASSERT_TRUE(out.has_alpha());
    auto at = [&](int x, int y) { return int(out.alpha[static_cast<size_t>(y) * width + x]); };
    EXPECT_LE(at(2, 2), 2);                             // the border stays transparent
    EXPECT_LE(at(width - 3, height / 2), 2);
    EXPECT_GE(at(width / 2, height / 2), 253);          // the centre opaque
    EXPECT_GE(at(24, height / 2), 253);                 // 2x of source x = 12
    EXPECT_LE(at(8, height / 2), 2);                    // 2x of source x = 4
  };
  const fs::path image_in = dir_ / "sprite.png";
  ASSERT_TRUE(WriteImageFile(FramedWithAlpha(96, 64, 100), image_in.string(),
                             ImageWriteOptions()).ok());
  for (const char* name : {"sprite-2x.png", "sprite-2x.jpg"}) {
    const std::string output = (dir_ / name).string();
    Subprocess run({kBin + "/anifarm", "run", image_in.string(), "-o", output, "--state-dir",
                    (dir_ / "state").string(), "--models-dir", kModels},
                   Log(name));
    ASSERT_EQ(run.Wait(), 0) << run.Stderr();
    const RgbImage out = FirstFrame(output);
    if (std::string(name).find(".png") != std::string::npos) {
      check_alpha(out, 192, 128);
    } else {
      EXPECT_FALSE(out.has_alpha());
      const uint8_t* corner = out.row(2) + 3 * 2;  // transparent: white
      EXPECT_GE(std::min({corner[0], corner[1], corner[2]}), 245);
    }
  }

  const std::string video_in = (dir_ / "alpha.mov").string();
  {
    VideoWriterOptions options;
    options.output_path = video_in;
    options.encode.codec = "prores";
    options.encode.profile = "4444";
    options.width = 96;
    options.height = 64;
    options.alpha = true;
    auto writer = VideoWriter::Create(options);
    ASSERT_TRUE(writer.ok()) << writer.status();
    for (int i = 0; i < 6; ++i) {
      ASSERT_TRUE((*writer)->WriteFrame(FramedWithAlpha(96, 64, 40 * (i / 2)), i).ok());
    }
    ASSERT_TRUE((*writer)->Finish().ok());
  }
  const std::string video_out = (dir_ / "alpha-2x.mov").string();
  Subprocess run({kBin + "/anifarm", "run", video_in, "-o", video_out, "--state-dir",
                  (dir_ / "state").string(), "--models-dir", kModels, "--codec", "prores",
                  "--profile", "4444"},
                 Log("alpha-video"));
  ASSERT_EQ(run.Wait(), 0) << run.Stderr();
  absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(video_out);
  ASSERT_TRUE(frames.ok()) << frames.status();
  ASSERT_EQ(frames->size(), 6u);
  for (const FramePtr& frame : *frames) {
    absl::StatusOr<RgbImage> rgb = FrameToRgb(*frame);
    ASSERT_TRUE(rgb.ok());
    check_alpha(*rgb, 192, 128);
  }
}

// Streams of each kind and chapters in a media file, read with libavformat.
struct StreamCounts {
  int video = 0, audio = 0, subtitle = 0, attachment = 0, chapters = 0;
};
StreamCounts CountStreams(const std::string& path) {
  StreamCounts counts;
  AVFormatContext* raw = nullptr;
  if (avformat_open_input(&raw, path.c_str(), nullptr, nullptr) < 0) return counts;
  std::unique_ptr<AVFormatContext, void (*)(AVFormatContext*)> format(
      raw, [](AVFormatContext* f) { avformat_close_input(&f); });
  avformat_find_stream_info(format.get(), nullptr);
  for (unsigned i = 0; i < format->nb_streams; ++i) {
    switch (format->streams[i]->codecpar->codec_type) {
      case AVMEDIA_TYPE_VIDEO: ++counts.video; break;
      case AVMEDIA_TYPE_AUDIO: ++counts.audio; break;
      case AVMEDIA_TYPE_SUBTITLE: ++counts.subtitle; break;
      case AVMEDIA_TYPE_ATTACHMENT: ++counts.attachment; break;
      default: break;
    }
  }
  counts.chapters = static_cast<int>(format->nb_chapters);
  return counts;
}

TEST_F(FarmTest, NcnnModelRunsThroughTheWholePipeline) {
  std::vector<int> content;
  const std::string input = MakeClip(12, &content);
  const std::string output = (dir_ / "ncnn.mp4").string();
  Subprocess run({kBin + "/anifarm", "run", input, "-o", output, "--state-dir",
                  (dir_ / "state").string(), "--models-dir", kModels, "--model",
                  "realesr-animevideov3-x2"},
                 Log("run"));
  ASSERT_EQ(run.Wait(), 0) << run.Stderr();
  ExpectUpscaledCopy(input, output, 12);

  // Detection from the graph, not the name: the x3 graph is the x4 network
  // followed by a bicubic downscale.
  Subprocess inspect({kBin + "/anifarm", "models", "inspect", "realesr-animevideov3-x3",
                      "--models-dir", kModels, "--json"},
                     Log("inspect"));
  ASSERT_EQ(inspect.Wait(), 0) << inspect.Stderr();
  EXPECT_NE(inspect.Stdout().find("\"scale\":3"), std::string::npos) << inspect.Stdout();
  EXPECT_NE(inspect.Stdout().find("SRVGGNetCompact(num_feat=64, num_conv=16, scale=4)"),
            std::string::npos)
      << inspect.Stdout();
  // OmniSR, from its weights alone; an unreadable file still exits 3.
  Subprocess omnisr({kBin + "/anifarm", "models", "inspect", "4x_WTP_descreenton",
                     "--models-dir", kModels},
                    Log("omnisr"));
  EXPECT_EQ(omnisr.Wait(), 0) << omnisr.Stderr();
  EXPECT_NE(omnisr.Stdout().find("OmniSR(num_feat=64"), std::string::npos) << omnisr.Stdout();
  const std::string garbage = (dir_ / "garbage.pth").string();
  std::ofstream(garbage) << "not a checkpoint";
  Subprocess unreadable({kBin + "/anifarm", "models", "inspect", garbage}, Log("unreadable"));
  EXPECT_EQ(unreadable.Wait(), 3);
  EXPECT_NE(unreadable.Stderr().find(garbage), std::string::npos) << unreadable.Stderr();
}

TEST_F(FarmTest, EpisodeExtrasAreKeptInMkv) {
  TestClipSpec spec;
  spec.width = 64;
  spec.height = 48;
  spec.content = DefaultTestPattern(12);
  spec.second_audio = true;
  spec.subtitle_events = 2;
  spec.font_attachment = true;
  spec.chapters = 2;
  spec.title = "Episode 1";
  const std::string input = (dir_ / "episode.mkv").string();
  ASSERT_TRUE(WriteTestClip(input, spec).ok());
  const std::string output = (dir_ / "episode-2x.mkv").string();
  Subprocess run({kBin + "/anifarm", "run", input, "-o", output, "--state-dir",
                  (dir_ / "state").string(), "--models-dir", kModels, "--codec", "h265"},
                 Log("run"));
  ASSERT_EQ(run.Wait(), 0) << run.Stderr();
  const StreamCounts counts = CountStreams(output);
  EXPECT_EQ(counts.video, 1);
  EXPECT_EQ(counts.audio, 2);
  EXPECT_EQ(counts.subtitle, 1);
  EXPECT_EQ(counts.attachment, 1);
  EXPECT_EQ(counts.chapters, 2);
  auto media = ProbeMedia(output);
  ASSERT_TRUE(media.ok()) << media.status();
  EXPECT_EQ(media->video.codec_id, AV_CODEC_ID_HEVC);
  EXPECT_EQ(media->video.width, 128);
  EXPECT_EQ(*CountVideoFrames(output), 12);
}

TEST_F(FarmTest, ProResWithPostProcessing) {
  std::vector<int> content;
  const std::string input = MakeClip(6, &content);
  const std::string output = (dir_ / "graded.mov").string();
  // Saturation 0 is Pillow's Color(0): every output pixel must be grey.
  Subprocess run({kBin + "/anifarm", "run", input, "-o", output, "--state-dir",
                  (dir_ / "state").string(), "--models-dir", kModels, "--codec", "prores",
                  "--profile", "hq", "--sharpen", "0.5", "--saturation", "0"},
                 Log("run"));
  ASSERT_EQ(run.Wait(), 0) << run.Stderr();
  auto media = ProbeMedia(output);
  ASSERT_TRUE(media.ok()) << media.status();
  EXPECT_EQ(media->video.codec_id, AV_CODEC_ID_PRORES);
  EXPECT_EQ(media->video.width, 192);
  EXPECT_EQ(*CountVideoFrames(output), 6);
  const RgbImage first = FirstFrame(output);
  ASSERT_EQ(first.width, 192);
  int worst = 0;
  for (int y = 0; y < first.height; ++y) {
    for (int x = 0; x < first.width; ++x) {
      const uint8_t* p = first.row(y) + 3 * x;
      worst = std::max({worst, std::abs(p[0] - p[1]), std::abs(p[1] - p[2])});
    }
  }
  EXPECT_LE(worst, 3) << "colour left after --saturation 0";

  Subprocess wrong({kBin + "/anifarm", "run", input, "-o", (dir_ / "x.mp4").string(),
                    "--state-dir", (dir_ / "state").string(), "--models-dir", kModels,
                    "--codec", "prores"},
                   Log("wrong"));
  EXPECT_EQ(wrong.Wait(), 2);
  EXPECT_NE(wrong.Stderr().find("prores"), std::string::npos) << wrong.Stderr();
  EXPECT_FALSE(fs::exists(dir_ / "x.mp4"));
}

TEST_F(FarmTest, FixedFpsPresetAndCleanupKeepingUpscaledFrames) {
  std::vector<int> content;
  const std::string input = MakeClip(12, &content);
  const std::string output = (dir_ / "fixed.mp4").string();
  const fs::path state = dir_ / "state";
  Subprocess run({kBin + "/anifarm", "run", input, "-o", output, "--state-dir", state.string(),
                  "--models-dir", kModels, "--job-preset", "fastest", "--fps", "30",
                  "--cleanup", "input"},
                 Log("run"));
  ASSERT_EQ(run.Wait(), 0) << run.Stderr();
  EXPECT_NE(run.Stderr().find("audio may drift"), std::string::npos) << run.Stderr();
  auto media = ProbeMedia(output);
  ASSERT_TRUE(media.ok()) << media.status();
  EXPECT_NEAR(av_q2d(media->frame_rate), 30.0, 0.01);
  EXPECT_EQ(*CountVideoFrames(output), 12);
  EXPECT_EQ(media->video.width, 192);
  // --cleanup input: the source chunks are gone, the upscaled frames stay
  // (one PNG per distinct picture) for a later re-encode.
  size_t pngs = 0, chunk_dirs = 0;
  for (const auto& entry : fs::recursive_directory_iterator(state / "jobs")) {
    if (entry.path().extension() == ".png") ++pngs;
    if (entry.is_directory() && entry.path().filename() == "chunks") ++chunk_dirs;
  }
  EXPECT_EQ(pngs, std::set<int>(content.begin(), content.end()).size());
  EXPECT_EQ(chunk_dirs, 0u);

  Subprocess presets({kBin + "/anifarm", "presets"}, Log("presets"));
  ASSERT_EQ(presets.Wait(), 0);
  for (const char* name : {"modern-hd", "old-compressed", "cel-era", "fastest"}) {
    EXPECT_NE(presets.Stdout().find(name), std::string::npos) << name;
  }
  Subprocess unknown({kBin + "/anifarm", "run", input, "-o", output, "--job-preset", "vhs"},
                     Log("unknown"));
  EXPECT_EQ(unknown.Wait(), 2);
  EXPECT_NE(unknown.Stderr().find("vhs"), std::string::npos);
}

TEST_F(FarmTest, ImageJobsWritePngJpegAndWebp) {
  RgbImage picture(40, 30);
  for (int y = 0; y < 30; ++y) {
    for (int x = 0; x < 40; ++x) {
      uint8_t* p = picture.row(y) + 3 * x;
      const bool inside = (x - 20) * (x - 20) + (y - 15) * (y - 15) < 100;
      p[0] = inside ? 250 : 200;
      p[1] = inside ? 160 : 220;
      p[2] = inside ? 40 : 240;
    }
  }
  const fs::path folder = dir_ / "stills";
  fs::create_directories(folder);
  for (const char* name : {"a.png", "b.png"}) {
    std::ofstream(folder / name, std::ios::binary) << *EncodePng(picture);
  }
  const std::string state = (dir_ / "state").string();
  // One image to WebP, then a folder of images to JPEG (one job per file).
  Subprocess one({kBin + "/anifarm", "run", (folder / "a.png").string(), "-o",
                  (dir_ / "a-2x.webp").string(), "--state-dir", state, "--models-dir", kModels},
                 Log("one"));
  ASSERT_EQ(one.Wait(), 0) << one.Stderr();
  Subprocess batch({kBin + "/anifarm", "run", folder.string(), "-o", (dir_ / "out").string(),
                    "--state-dir", state, "--models-dir", kModels, "--format", "jpeg",
                    "--quality", "90"},
                   Log("batch"));
  ASSERT_EQ(batch.Wait(), 0) << batch.Stderr();
  for (const fs::path& image : {dir_ / "a-2x.webp", dir_ / "out" / "a.jpg", dir_ / "out" / "b.jpg"}) {
    auto media = ProbeMedia(image.string());
    ASSERT_TRUE(media.ok()) << image << ": " << media.status();
    EXPECT_EQ(media->video.width, 80) << image;
    EXPECT_EQ(media->video.height, 60) << image;
    EXPECT_EQ(media->video.codec_id,
              image.extension() == ".webp" ? AV_CODEC_ID_WEBP : AV_CODEC_ID_MJPEG);
  }
  Subprocess bad({kBin + "/anifarm", "run", (folder / "a.png").string(), "-o",
                  (dir_ / "x.jpg").string(), "--quality", "101"},
                 Log("bad"));
  EXPECT_EQ(bad.Wait(), 2);
  EXPECT_NE(bad.Stderr().find("101"), std::string::npos) << bad.Stderr();
}

TEST_F(FarmTest, CoordinatorRootsConfineInputsAndOutputs) {
  std::vector<int> content;
  const std::string outside = MakeClip(4, &content);  // dir_/input.mp4
  const fs::path media = dir_ / "media";
  fs::create_directories(media);
  fs::copy_file(outside, media / "ep1.mp4");
  fs::create_symlink(dir_, media / "escape");
  const std::string address = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
  Subprocess coordinator({kBin + "/anifarm-coordinator", "--listen", address, "--state-dir",
                          (dir_ / "state").string(), "--models-dir", kModels, "--roots",
                          media.string()},
                         Log("coordinator"));
  auto submit = [&](const std::string& input, const std::string& output, const std::string& log) {
    auto process = std::make_unique<Subprocess>(
        std::vector<std::string>{kBin + "/anifarm", "submit", input, "-o", output,
                                 "--coordinator", address},
        Log(log));
    process->Wait();
    return process;
  };
  auto input_outside = submit(outside, (media / "a.mp4").string(), "in-outside");
  EXPECT_EQ(input_outside->Wait(), 3);
  EXPECT_NE(input_outside->Stderr().find("outside the coordinator's roots"), std::string::npos)
      << input_outside->Stderr();
  auto output_escape = submit((media / "ep1.mp4").string(),
                              (media / "escape" / "stolen.mp4").string(), "out-escape");
  EXPECT_EQ(output_escape->Wait(), 3);
  auto dotdot = submit((media / ".." / "input.mp4").string(), (media / "b.mp4").string(),
                       "dotdot");
  EXPECT_EQ(dotdot->Wait(), 3);
  auto inside = submit((media / "ep1.mp4").string(), (media / "ep1-2x.mp4").string(), "inside");
  EXPECT_EQ(inside->Wait(), 0) << inside->Stderr();
  EXPECT_EQ(inside->Stdout().rfind("job-", 0), 0u) << inside->Stdout();
}

TEST_F(FarmTest, ConfigFileGivesDefaultsTheCommandLineOverrides) {
  std::vector<int> content;
  const std::string input = MakeClip(6, &content);
  const fs::path config = dir_ / "config.toml";
  std::ofstream(config) << "models_dir = \"" << kModels << "\"\n"
                        << "[defaults]\ncodec = \"h265\"\ncrf = 26\n";
  const fs::path bad = dir_ / "bad.toml";
  std::ofstream(bad) << "[defaults]\ncodek = \"h265\"\n";
  auto run = [&](const fs::path& config_file, std::vector<std::string> extra,
                 const std::string& name) {
    std::vector<std::string> argv = {kBin + "/anifarm", "run", input, "-o",
                                     (dir_ / (name + ".mkv")).string(), "--state-dir",
                                     (dir_ / "state").string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    setenv("ANIFARM_CONFIG", config_file.c_str(), 1);  // inherited at fork
    auto process = std::make_unique<Subprocess>(argv, Log(name));
    unsetenv("ANIFARM_CONFIG");
    process->Wait();
    return process;
  };
  auto from_config = run(config, {}, "from-config");  // models_dir comes from the file too
  ASSERT_EQ(from_config->Wait(), 0) << from_config->Stderr();
  EXPECT_EQ(ProbeMedia((dir_ / "from-config.mkv").string())->video.codec_id, AV_CODEC_ID_HEVC);
  auto overridden = run(config, {"--codec", "h264"}, "overridden");
  ASSERT_EQ(overridden->Wait(), 0) << overridden->Stderr();
  EXPECT_EQ(ProbeMedia((dir_ / "overridden.mkv").string())->video.codec_id, AV_CODEC_ID_H264);
  auto wrong = run(bad, {"--models-dir", kModels}, "wrong");
  EXPECT_EQ(wrong->Wait(), 2);
  EXPECT_NE(wrong->Stderr().find("codek"), std::string::npos) << wrong->Stderr();
  EXPECT_NE(wrong->Stderr().find(bad.string()), std::string::npos) << wrong->Stderr();
}

// Presentation times in seconds of every decoded video frame of a file.
std::vector<double> FrameTimes(const std::string& path) {
  std::vector<double> times;
  absl::StatusOr<MediaInfo> media = ProbeMedia(path);
  absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(path);
  if (!media.ok() || !frames.ok()) return times;
  for (const FramePtr& frame : *frames) {
    const int64_t pts =
        frame->best_effort_timestamp != AV_NOPTS_VALUE ? frame->best_effort_timestamp : frame->pts;
    times.push_back(pts * av_q2d(media->video.time_base));
  }
  return times;
}

// Variable frame rate through the whole farm: every source timestamp comes
// out unchanged (the guide's FPS 0), also for frames filled by dedup.
TEST_F(FarmTest, VariableFrameRateTimestampsSurviveTheFarm) {
  const std::vector<int64_t> pts_ms = {0, 40, 80, 200, 240, 250, 400, 1000, 1041, 1083};
  const std::string input = (dir_ / "vfr.mkv").string();
  VideoWriterOptions options;
  options.output_path = input;
  options.encode.codec = "ffv1";  // lossless, so repeated pictures stay identical
  options.width = 64;
  options.height = 48;
  options.time_base = AVRational{1, 1000};
  options.frame_rate = AVRational{24, 1};
  auto writer = VideoWriter::Create(options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (size_t i = 0; i < pts_ms.size(); ++i) {
    RgbImage picture(64, 48);
    const int shade = static_cast<int>((i / 2) * 40);  // held on twos
    for (size_t p = 0; p < picture.pixels.size(); ++p) {
      picture.pixels[p] = static_cast<uint8_t>((shade + (p % 3) * 60 + (p / 192) * 3) % 256);
    }
    ASSERT_TRUE((*writer)->WriteFrame(picture, pts_ms[i]).ok());
  }
  ASSERT_TRUE((*writer)->Finish().ok());

  const std::string output = (dir_ / "vfr-2x.mp4").string();
  Subprocess run({kBin + "/anifarm", "run", input, "-o", output, "--state-dir",
                  (dir_ / "state").string(), "--models-dir", kModels},
                 Log("run"));
  ASSERT_EQ(run.Wait(), 0) << run.Stderr();
  EXPECT_NE(run.Stderr().find("(5 upscaled, 5 reused)"), std::string::npos) << run.Stderr();
  const std::vector<double> source = FrameTimes(input);
  const std::vector<double> result = FrameTimes(output);
  ASSERT_EQ(source.size(), pts_ms.size());
  ASSERT_EQ(result.size(), pts_ms.size());
  for (size_t i = 0; i < pts_ms.size(); ++i) {
    EXPECT_NEAR(result[i] - result[0], pts_ms[i] / 1000.0, 1e-3) << "frame " << i;
  }
}

TEST_F(FarmTest, BadInputGetsOneClearLineAndExitCode) {
  std::vector<int> content;
  const std::string input = MakeClip(4, &content);
  const std::string state = (dir_ / "state").string();
  auto run = [&](std::vector<std::string> args, const std::string& name) {
    args.insert(args.begin(), kBin + "/anifarm");
    auto process = std::make_unique<Subprocess>(args, Log(name));
    process->Wait();
    return process;
  };
  const std::string missing = (dir_ / "missing.mp4").string();
  auto no_file = run({"run", missing, "-o", Log("o.mp4"), "--state-dir", state, "--models-dir",
                      kModels},
                     "missing");
  EXPECT_EQ(no_file->Wait(), 3);
  EXPECT_NE(no_file->Stderr().find(missing), std::string::npos) << no_file->Stderr();

  const std::string text = (dir_ / "notes.txt").string();
  std::ofstream(text) << "not a video";
  auto not_video = run({"run", text, "-o", Log("o.mp4"), "--state-dir", state, "--models-dir",
                        kModels},
                       "text");
  EXPECT_EQ(not_video->Wait(), 3);
  EXPECT_NE(not_video->Stderr().find(text), std::string::npos) << not_video->Stderr();

  auto unknown_model = run({"run", input, "-o", Log("o.mp4"), "--state-dir", state,
                            "--models-dir", kModels, "--model", "no-such-model"},
                           "model");
  EXPECT_EQ(unknown_model->Wait(), 3);
  EXPECT_NE(unknown_model->Stderr().find("no-such-model"), std::string::npos);

  auto bad_flag = run({"run", input, "-o", Log("o.mp4"), "--scale", "3"}, "scale");
  EXPECT_EQ(bad_flag->Wait(), 2);
  EXPECT_NE(bad_flag->Stderr().find("--scale 3"), std::string::npos);

  auto unknown_option = run({"run", input, "-o", Log("o.mp4"), "--bogus"}, "bogus");
  EXPECT_EQ(unknown_option->Wait(), 2);

  auto unreachable = run({"jobs", "--coordinator",
                          "127.0.0.1:" + std::to_string(FreeLoopbackPort())},
                         "unreachable");
  EXPECT_EQ(unreachable->Wait(), 5);
  EXPECT_NE(unreachable->Stderr().find("cannot reach the coordinator"), std::string::npos);
}

// `anifarm COMMAND --help`: every command explains itself with an example.
TEST(CliHelpTest, EveryCommandHasHelpWithExamples) {
  const std::string dir = testing::FreshTestDir("help").string();
  for (const std::string command :
       {"run", "submit", "status", "jobs", "cancel", "pause", "resume", "retry", "nodes",
        "models", "presets", "sample", "download"}) {
    Subprocess help({kBin + "/anifarm", command, "--help"}, dir + "/" + command);
    ASSERT_EQ(help.Wait(std::chrono::seconds(30)), 0) << command << help.Stderr();
    EXPECT_EQ(help.Stdout().rfind("usage: anifarm " + command, 0), 0u) << help.Stdout();
    EXPECT_NE(help.Stdout().find("Example"), std::string::npos) << command;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace anifarm
