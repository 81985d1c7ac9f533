// Planner on a real clip: keyframe-aligned chunks that prefer scene cuts,
// MD5 dedup across the whole video, and payloads that list only first
// occurrences.
#include "coordinator/planner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "common/chunk_payload.h"
#include "common/media/ffmpeg_ptr.h"
#include "common/media/source_reader.h"
#include "common/media/test_clip.h"
#include "common/media/video_writer.h"
#include "common/media/video_decoder.h"
#include "common/status_macros.h"
#include "coordinator/scene_cut.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;

TEST(PlannerTest, DedupsAcrossTheWholeVideoAndCutsOnKeyframes) {
  const fs::path dir = fs::temp_directory_path() / ("anifarm-plan-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "chunks");
  TestClipSpec spec;
  spec.width = 64;
  spec.height = 48;
  spec.gop = 12;
  spec.content = DefaultTestPattern(48);
  ASSERT_TRUE(WriteTestClip((dir / "in.mp4").string(), spec).ok());

  PlanOptions options;
  options.chunk_frames = 12;
  auto plan = PlanJob("job-x", (dir / "in.mp4").string(), (dir / "chunks").string(), options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->frames.size(), 48u);
  ASSERT_EQ(plan->chunks.size(), 4u);

  // Expected map from the content ids alone.
  std::map<int, int64_t> first_of_content;
  for (size_t i = 0; i < spec.content.size(); ++i) first_of_content.emplace(spec.content[i], i);
  int64_t upscale_total = 0;
  for (const FrameRecord& frame : plan->frames) {
    EXPECT_EQ(frame.source_index, first_of_content[spec.content[frame.index]]) << frame.index;
    EXPECT_EQ(frame.chunk_index, frame.index / 12) << frame.index;
  }
  for (const ChunkRecord& chunk : plan->chunks) {
    EXPECT_EQ(chunk.frame_count, 12);
    auto payload = ReadChunkPayload(ChunkPayloadPath((dir / "chunks").string(), chunk.index));
    ASSERT_TRUE(payload.ok());
    EXPECT_TRUE(payload->packets(0).keyframe());
    EXPECT_EQ(payload->frames_size(), chunk.unique_count);
    upscale_total += payload->frames_size();
  }
  EXPECT_EQ(upscale_total, static_cast<int64_t>(first_of_content.size()));
  fs::remove_all(dir);
}

TEST(PlannerTest, RefusesFilesThatAreNotVideoNamingThem) {
  const fs::path text = fs::temp_directory_path() / "anifarm-not-video.txt";
  { std::ofstream(text) << "hello"; }
  auto plan = PlanJob("job-y", text.string(), fs::temp_directory_path().string(), PlanOptions());
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find(text.string()), std::string::npos);
  fs::remove(text);
}

// Held frames of anime that differ only by compression noise: two pictures,
// each shown four times with 0/+1 noise (about 51 dB apart) (lossless FFV1, so the noise stays).
std::string WriteNoisyHeldClip(const fs::path& dir) {
  const std::string path = (dir / "held.mkv").string();
  VideoWriterOptions options;
  options.output_path = path;
  options.encode.codec = "ffv1";
  options.width = 64;
  options.height = 48;
  options.time_base = {1, 24};
  options.frame_rate = {24, 1};
  auto writer = VideoWriter::Create(options);
  EXPECT_TRUE(writer.ok()) << writer.status();
  uint32_t seed = 7;
  for (int i = 0; i < 8; ++i) {
    RgbImage image;
    image.width = 64;
    image.height = 48;
    image.pixels.resize(64 * 48 * 3);
    const int picture = i / 4;
    for (size_t p = 0; p < image.pixels.size(); ++p) {
      seed = seed * 1664525u + 1013904223u;
      const int base = picture == 0 ? 60 + int(p % 97) : 200 - int(p % 89);
      image.pixels[p] = static_cast<uint8_t>(base + int(seed >> 31));  // base or base+1
    }
    EXPECT_TRUE((*writer)->WriteFrame(image, i).ok());
  }
  EXPECT_TRUE((*writer)->Finish().ok());
  return path;
}

TEST(PlannerTest, DedupModesOffExactAndNear) {
  const fs::path dir = fs::temp_directory_path() / ("anifarm-plan-near-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "chunks");
  const std::string clip = WriteNoisyHeldClip(dir);
  auto unique_sources = [](const Plan& plan) {
    std::set<int64_t> sources;
    for (const FrameRecord& frame : plan.frames) sources.insert(frame.source_index);
    return sources.size();
  };

  PlanOptions options;
  options.dedup = v1::DEDUP_EXACT;
  auto exact = PlanJob("job-e", clip, (dir / "chunks").string(), options);
  ASSERT_TRUE(exact.ok()) << exact.status();
  ASSERT_EQ(exact->frames.size(), 8u);
  EXPECT_EQ(unique_sources(*exact), 8u) << "noise makes every frame distinct to MD5";

  options.dedup = v1::DEDUP_NEAR;
  auto near = PlanJob("job-n", clip, (dir / "chunks").string(), options);
  ASSERT_TRUE(near.ok()) << near.status();
  ASSERT_EQ(near->frames.size(), 8u);
  EXPECT_EQ(unique_sources(*near), 2u);
  for (const FrameRecord& frame : near->frames) {
    EXPECT_EQ(frame.source_index, frame.index < 4 ? 0 : 4) << frame.index;
  }
  EXPECT_EQ(near->chunks[0].unique_count, 2);

  // A threshold above the noise's PSNR keeps every frame.
  options.near_dedup_psnr = 70;
  auto strict = PlanJob("job-s", clip, (dir / "chunks").string(), options);
  ASSERT_TRUE(strict.ok());
  EXPECT_EQ(unique_sources(*strict), 8u);

  options.dedup = v1::DEDUP_OFF;
  auto off = PlanJob("job-o", clip, (dir / "chunks").string(), options);
  ASSERT_TRUE(off.ok());
  for (const FrameRecord& frame : off->frames) EXPECT_EQ(frame.source_index, frame.index);
  fs::remove_all(dir);
}

TEST(PlannerTest, DedupOffUpscalesRepeatedPicturesToo) {
  const fs::path dir = fs::temp_directory_path() / ("anifarm-plan-off-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "chunks");
  TestClipSpec spec;
  spec.width = 64;
  spec.height = 48;
  spec.content = DefaultTestPattern(24);
  ASSERT_TRUE(WriteTestClip((dir / "in.mp4").string(), spec).ok());
  PlanOptions options;
  options.dedup = v1::DEDUP_OFF;
  auto plan = PlanJob("job-o", (dir / "in.mp4").string(), (dir / "chunks").string(), options);
  ASSERT_TRUE(plan.ok());
  int64_t listed = 0;
  for (const ChunkRecord& chunk : plan->chunks) listed += chunk.unique_count;
  EXPECT_EQ(listed, 24);
  fs::remove_all(dir);
}

// --- Scene cuts ------------------------------------------------------------

// A 4:2:0 frame (8- or 10-bit) whose luma at (x, y) is `luma(x, y)` on the
// 8-bit scale; neutral chroma.
template <typename Luma>
FramePtr MakeYuvFrame(AVPixelFormat format, int width, int height, Luma luma) {
  FramePtr frame = MakeFrame();
  frame->format = format;
  frame->width = width;
  frame->height = height;
  EXPECT_GE(av_frame_get_buffer(frame.get(), 0), 0);
  const bool ten_bit = format == AV_PIX_FMT_YUV420P10LE;
  for (int plane = 0; plane < 3; ++plane) {
    const int w = plane ? width / 2 : width;
    const int h = plane ? height / 2 : height;
    for (int y = 0; y < h; ++y) {
      uint8_t* row = frame->data[plane] + y * frame->linesize[plane];
      for (int x = 0; x < w; ++x) {
        const int v = plane ? 128 : luma(x, y);
        if (ten_bit) {
          reinterpret_cast<uint16_t*>(row)[x] = static_cast<uint16_t>(v << 2);
        } else {
          row[x] = static_cast<uint8_t>(v);
        }
      }
    }
  }
  return frame;
}

FramePtr FlatFrame(int luma, AVPixelFormat format = AV_PIX_FMT_YUV420P) {
  return MakeYuvFrame(format, 64, 48, [luma](int, int) { return luma; });
}

TEST(SceneCutTest, AJumpInBrightnessIsACutAHeldPictureIsNot) {
  SceneCutDetector detector(kDefaultSceneCutThreshold);
  EXPECT_FALSE(detector.IsCut(*FlatFrame(60))) << "the first frame starts no new scene";
  EXPECT_FALSE(detector.IsCut(*FlatFrame(60)));
  EXPECT_EQ(detector.last_score(), 0);
  EXPECT_TRUE(detector.IsCut(*FlatFrame(180)));
  EXPECT_NEAR(detector.last_score(), 100.0 * 120 / 255, 0.01);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(detector.IsCut(*FlatFrame(180)));
  // 20 levels (7.8%, a lighting change): under the default threshold, over
  // a lower one.
  EXPECT_FALSE(detector.IsCut(*FlatFrame(160)));
  EXPECT_NEAR(detector.last_score(), 100.0 * 20 / 255, 0.01);
  SceneCutDetector sensitive(5);
  sensitive.IsCut(*FlatFrame(180));
  EXPECT_TRUE(sensitive.IsCut(*FlatFrame(160)));
}

// Wide stripes, shifted by half a period: every change is as large as a cut
// between two scenes, but steady, as in a fast pan or a shaking camera.
FramePtr Stripes(int phase) {
  return MakeYuvFrame(AV_PIX_FMT_YUV420P, 64, 48,
                      [phase](int x, int) { return ((x / 16 + phase) % 2) ? 220 : 30; });
}

TEST(SceneCutTest, SteadyBusyMotionIsNotAStreamOfCuts) {
  SceneCutDetector detector(kDefaultSceneCutThreshold);
  detector.IsCut(*Stripes(0));
  detector.IsCut(*Stripes(0));
  EXPECT_TRUE(detector.IsCut(*Stripes(1))) << "motion out of a still scores whole";
  for (int i = 2; i < 10; ++i) {
    EXPECT_FALSE(detector.IsCut(*Stripes(i))) << i;
    EXPECT_LT(detector.last_score(), 1) << i;
  }
}

TEST(SceneCutTest, DrawingsHeldForSeveralFramesAreNotCuts) {
  // On twos, threes and fours a changed frame follows frames that did not
  // change: each new drawing must not score as if out of a still.
  for (int hold : {2, 3, 4}) {
    SceneCutDetector detector(kDefaultSceneCutThreshold);
    int cuts = 0;
    for (int i = 0; i < 8 * hold; ++i) cuts += detector.IsCut(*Stripes(i / hold));
    EXPECT_EQ(cuts, 1) << "on " << hold << "s: only the first drawing after the still";
  }
}

TEST(SceneCutTest, TenBitFramesScoreLikeEightBitOnes) {
  SceneCutDetector detector(kDefaultSceneCutThreshold);
  detector.IsCut(*FlatFrame(60, AV_PIX_FMT_YUV420P10LE));
  EXPECT_TRUE(detector.IsCut(*FlatFrame(180, AV_PIX_FMT_YUV420P10LE)));
  EXPECT_NEAR(detector.last_score(), 100.0 * 120 / 255, 0.01);
}

TEST(SceneCutTest, DisabledDetectorFindsNothing) {
  SceneCutDetector detector(0);
  detector.IsCut(*FlatFrame(0));
  EXPECT_FALSE(detector.IsCut(*FlatFrame(255)));
}

// An H.264 clip of `frames` 64x48 frames at 24 fps in which scene s starts
// at frame scene_starts[s]: a banded background of its own brightness and
// hue panning 4 pixels per drawing, with a box moving across it, drawn on
// twos (each drawing held for two frames), as anime is. Keyframes (IDR)
// exactly at `keyframes`; B-frames, so the decoder outputs a keyframe's
// picture packets after it.
absl::Status WriteScenesClip(const std::string& path, int frames,
                             const std::vector<int>& scene_starts, const std::set<int>& keyframes) {
  struct Yuv {
    int y, u, v;
  };
  static constexpr Yuv kScenes[] = {
      {50, 160, 110}, {200, 90, 140}, {110, 128, 200}, {210, 150, 90}, {60, 100, 100}};
  constexpr int kWidth = 64, kHeight = 48, kFps = 24;
  AVFormatContext* raw = nullptr;
  if (avformat_alloc_output_context2(&raw, nullptr, nullptr, path.c_str()) < 0 || !raw) {
    return absl::InternalError("no container for " + path);
  }
  OutputFormatPtr output(raw);
  const AVCodec* x264 = avcodec_find_encoder_by_name("libx264");
  if (!x264) return absl::UnimplementedError("no libx264");
  CodecContextPtr codec(avcodec_alloc_context3(x264));
  codec->width = kWidth;
  codec->height = kHeight;
  codec->pix_fmt = AV_PIX_FMT_YUV420P;
  codec->time_base = AVRational{1, kFps};
  codec->framerate = AVRational{kFps, 1};
  codec->gop_size = 1000;  // only the keyframes forced below
  if (output->oformat->flags & AVFMT_GLOBALHEADER) codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  AvDictionary options;
  options.Set("preset", "ultrafast");
  options.Set("qp", "4");  // near-lossless: lossless x264 (qp 0) drops B-frames
  options.Set("forced-idr", "1");
  options.Set("x264-params", "scenecut=0:open-gop=0:bframes=3:b-adapt=0");
  if (int err = avcodec_open2(codec.get(), x264, options.out()); err < 0) {
    return absl::InternalError("cannot open libx264: " + AvErrorString(err));
  }
  AVStream* stream = avformat_new_stream(output.get(), nullptr);
  if (!stream) return absl::InternalError("cannot add a stream");
  avcodec_parameters_from_context(stream->codecpar, codec.get());
  stream->time_base = codec->time_base;
  if (avio_open(&output->pb, path.c_str(), AVIO_FLAG_WRITE) < 0 ||
      avformat_write_header(output.get(), nullptr) < 0) {
    return absl::InternalError("cannot start " + path);
  }
  PacketPtr packet = MakePacket();
  auto drain = [&]() -> absl::Status {
    while (avcodec_receive_packet(codec.get(), packet.get()) == 0) {
      packet->stream_index = stream->index;
      av_packet_rescale_ts(packet.get(), codec->time_base, stream->time_base);
      if (av_interleaved_write_frame(output.get(), packet.get()) < 0) {
        return absl::InternalError("cannot write " + path);
      }
    }
    return absl::OkStatus();
  };
  for (int i = 0; i < frames; ++i) {
    const int scene = static_cast<int>(
        std::upper_bound(scene_starts.begin(), scene_starts.end(), i) - scene_starts.begin() - 1);
    const Yuv colour = kScenes[scene % 5];
    const int drawing = (i - scene_starts[scene]) / 2;
    const int pan = 4 * drawing;
    const int box_x = 4 + 3 * drawing;
    const int box_luma = colour.y < 128 ? 235 : 20;
    FramePtr frame = MakeYuvFrame(AV_PIX_FMT_YUV420P, kWidth, kHeight, [&](int x, int y) {
      if (x >= box_x && x < box_x + 10 && y >= 18 && y < 30) return box_luma;
      return colour.y + 20 * (((x + pan) / 8) % 3 - 1);  // bands 8 pixels wide
    });
    for (int plane = 1; plane < 3; ++plane) {
      for (int y = 0; y < kHeight / 2; ++y) {
        std::memset(frame->data[plane] + y * frame->linesize[plane],
                    plane == 1 ? colour.u : colour.v, kWidth / 2);
      }
    }
    frame->pts = i;
    frame->pict_type = keyframes.count(i) ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
    if (avcodec_send_frame(codec.get(), frame.get()) < 0) return absl::InternalError("encode");
    RETURN_IF_ERROR(drain());
  }
  avcodec_send_frame(codec.get(), nullptr);
  RETURN_IF_ERROR(drain());
  if (av_write_trailer(output.get()) < 0) return absl::InternalError("cannot finish " + path);
  return absl::OkStatus();
}

std::vector<int64_t> FirstFrames(const Plan& plan) {
  std::vector<int64_t> firsts;
  for (const ChunkRecord& chunk : plan.chunks) firsts.push_back(chunk.first_frame);
  return firsts;
}

std::vector<int> FrameCounts(const Plan& plan) {
  std::vector<int> counts;
  for (const ChunkRecord& chunk : plan.chunks) counts.push_back(chunk.frame_count);
  return counts;
}

// The default detector's score of every frame of `path`, in presentation order.
std::vector<double> SceneScores(const std::string& path) {
  auto reader = SourceReader::Open(path);
  EXPECT_TRUE(reader.ok());
  auto decoder = VideoDecoder::Create((*reader)->info().video);
  EXPECT_TRUE(decoder.ok());
  std::vector<FramePtr> frames;
  while (true) {
    auto packet = (*reader)->NextVideoPacket();
    EXPECT_TRUE(packet.ok());
    if (!packet.ok() || !*packet) break;
    EXPECT_TRUE((*decoder)->Decode(**packet, &frames).ok());
  }
  EXPECT_TRUE((*decoder)->Flush(&frames).ok());
  SceneCutDetector detector(kDefaultSceneCutThreshold);
  std::vector<double> scores;
  for (const FramePtr& frame : frames) {
    detector.IsCut(*frame);
    scores.push_back(detector.last_score());
  }
  return scores;
}

// Every payload starts on a keyframe and decodes, alone, to exactly the
// frames the plan puts in its chunk.
void ExpectChunksDecodeAlone(const Plan& plan, const std::string& chunk_dir) {
  for (const ChunkRecord& chunk : plan.chunks) {
    auto payload = ReadChunkPayload(ChunkPayloadPath(chunk_dir, chunk.index));
    ASSERT_TRUE(payload.ok()) << payload.status();
    ASSERT_GT(payload->packets_size(), 0);
    EXPECT_TRUE(payload->packets(0).keyframe()) << chunk.index;
    std::set<int64_t> decoded;
    ASSERT_TRUE(DecodeChunk(*payload, [&](const AVFrame&, int64_t pts) {
                  decoded.insert(pts);
                  return absl::OkStatus();
                }).ok());
    std::set<int64_t> planned;
    for (const FrameRecord& frame : plan.frames) {
      if (frame.chunk_index == chunk.index) planned.insert(frame.pts);
    }
    EXPECT_EQ(decoded, planned) << "chunk " << chunk.index;
    EXPECT_EQ(payload->packets_size(), chunk.frame_count) << chunk.index;
  }
}

TEST(PlannerTest, ChunksEndEarlyAtSceneCutKeyframes) {
  const fs::path dir = fs::temp_directory_path() / ("anifarm-plan-cuts-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "chunks");
  const std::string chunks = (dir / "chunks").string();
  const std::string clip = (dir / "scenes.mkv").string();
  // Scenes start at 0, 3, 9, 17 and 33. Keyframes: every scene start but
  // 33's, and 12, 24, 30, 36 (an encoder's regular interval, not in step).
  const std::vector<int> scene_starts = {0, 3, 9, 17, 33};
  const std::set<int> keyframes = {0, 3, 9, 12, 17, 24, 30, 36};
  ASSERT_TRUE(WriteScenesClip(clip, 40, scene_starts, keyframes).ok());

  PlanOptions options;
  options.chunk_frames = 12;
  auto plan = PlanJob("job-c", clip, chunks, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->frames.size(), 40u);

  // The clip is what the test means: keyframes where asked, B-frames.
  {
    auto reader = SourceReader::Open(clip);
    ASSERT_TRUE(reader.ok());
    std::map<int64_t, int64_t> index_by_pts;
    for (const FrameRecord& frame : plan->frames) index_by_pts[frame.pts] = frame.index;
    std::set<int> found_keyframes;
    bool reordered = false;  // some packet presented before one decoded earlier
    int64_t latest_pts = -1;
    while (true) {
      auto packet = (*reader)->NextVideoPacket();
      ASSERT_TRUE(packet.ok());
      if (!*packet) break;
      reordered |= (*packet)->pts < latest_pts;
      latest_pts = std::max(latest_pts, (*packet)->pts);
      if ((*packet)->flags & AV_PKT_FLAG_KEY) {
        found_keyframes.insert(static_cast<int>(index_by_pts.at((*packet)->pts)));
      }
    }
    ASSERT_EQ(found_keyframes, keyframes);
    ASSERT_TRUE(reordered) << "no B-frames: the decoder's delay goes untested";
  }

  // Every scene start is found, the one that is no keyframe (33) included,
  // with a margin on both sides of the threshold: the cuts score over twice
  // as much, the pan and the moving box (see the next test) under 0.6 of it.
  EXPECT_EQ(plan->scene_cuts, std::vector<int64_t>({3, 9, 17, 33}));
  const std::vector<double> scores = SceneScores(clip);
  ASSERT_EQ(scores.size(), 40u);
  for (int i = 0; i < 40; ++i) {
    const bool cut = i == 3 || i == 9 || i == 17 || i == 33;
    if (cut) {
      EXPECT_GT(scores[i], 2 * kDefaultSceneCutThreshold) << i;
    } else {
      EXPECT_LT(scores[i], 0.6 * kDefaultSceneCutThreshold) << i;
    }
  }
  // 3 is a cut too early (3 < 12 / 2 frames); 9 and 17 end chunks early;
  // 24 is no cut and the chunk has only 7 frames; 30 ends a full chunk; 33
  // is no keyframe; at 36 the chunk has 6 frames but no cut.
  EXPECT_EQ(FirstFrames(*plan), std::vector<int64_t>({0, 9, 17, 30}));
  EXPECT_EQ(FrameCounts(*plan), std::vector<int>({9, 8, 13, 10}));
  EXPECT_EQ(plan->chunks_ended_at_cuts, 2);
  for (const FrameRecord& frame : plan->frames) {
    const int expected = frame.index < 9 ? 0 : frame.index < 17 ? 1 : frame.index < 30 ? 2 : 3;
    EXPECT_EQ(frame.chunk_index, expected) << frame.index;
  }
  ExpectChunksDecodeAlone(*plan, chunks);

  // Without scene cuts: every 12 frames, at the first keyframe. The frames
  // and their dedup are the same either way; only chunk membership moves.
  options.scene_cut_threshold = 0;
  auto regular = PlanJob("job-r", clip, chunks, options);
  ASSERT_TRUE(regular.ok()) << regular.status();
  EXPECT_TRUE(regular->scene_cuts.empty());
  EXPECT_EQ(regular->chunks_ended_at_cuts, 0);
  EXPECT_EQ(FirstFrames(*regular), std::vector<int64_t>({0, 12, 24, 36}));
  ExpectChunksDecodeAlone(*regular, chunks);
  ASSERT_EQ(regular->frames.size(), plan->frames.size());
  int64_t unique_cut = 0, unique_regular = 0;
  for (size_t i = 0; i < plan->frames.size(); ++i) {
    EXPECT_EQ(plan->frames[i].pts, regular->frames[i].pts) << i;
    EXPECT_EQ(plan->frames[i].md5, regular->frames[i].md5) << i;
    EXPECT_EQ(plan->frames[i].source_index, regular->frames[i].source_index) << i;
  }
  for (const ChunkRecord& chunk : plan->chunks) unique_cut += chunk.unique_count;
  for (const ChunkRecord& chunk : regular->chunks) unique_regular += chunk.unique_count;
  EXPECT_EQ(unique_cut, unique_regular);
  fs::remove_all(dir);
}

// One scene drawn on twos (a panning background, a moving box) starts no
// new scene, so chunks stay as they were without detection: the keyframes at
// 6, 18, ... (half of 12 frames in) would end chunks if it found cuts.
TEST(PlannerTest, ClipWithoutCutsKeepsRegularChunks) {
  const fs::path dir = fs::temp_directory_path() / ("anifarm-plan-nocut-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "chunks");
  const std::string chunks = (dir / "chunks").string();
  const std::string clip = (dir / "one-scene.mkv").string();
  ASSERT_TRUE(WriteScenesClip(clip, 48, {0}, {0, 6, 12, 18, 24, 30, 36, 42}).ok());
  // The motion out of the opening still scores highest, about half the
  // threshold; every later drawing much less.
  for (double score : SceneScores(clip)) EXPECT_LT(score, 0.6 * kDefaultSceneCutThreshold);

  PlanOptions options;
  options.chunk_frames = 12;
  auto plan = PlanJob("job-n", clip, chunks, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->frames.size(), 48u);
  EXPECT_TRUE(plan->scene_cuts.empty()) << "first false cut at frame " << plan->scene_cuts[0];
  EXPECT_EQ(plan->chunks_ended_at_cuts, 0);
  EXPECT_EQ(FirstFrames(*plan), std::vector<int64_t>({0, 12, 24, 36}));
  EXPECT_EQ(FrameCounts(*plan), std::vector<int>({12, 12, 12, 12}));
  ExpectChunksDecodeAlone(*plan, chunks);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace anifarm
