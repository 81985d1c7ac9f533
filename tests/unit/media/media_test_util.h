// Helpers shared by the media tests: a scratch folder and decoding a whole
// file into frames.
#ifndef ANIFARM_TESTS_UNIT_MEDIA_MEDIA_TEST_UTIL_H_
#define ANIFARM_TESTS_UNIT_MEDIA_MEDIA_TEST_UTIL_H_

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/image.h"
#include "common/media/ffmpeg_ptr.h"
#include "common/media/source_reader.h"
#include "common/media/video_decoder.h"
#include "common/status_macros.h"
#include "gtest/gtest.h"

extern "C" {
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/log.h>
}

namespace anifarm {
namespace testing_util {

// Encoder chatter (x264 statistics) would drown gtest's output.
inline const bool kQuietFfmpeg = (av_log_set_level(AV_LOG_ERROR), true);

// Folders made by MakeScratchDir, removed when the test program exits.
inline std::vector<std::string>& ScratchDirs() {
  struct Registry {
    std::vector<std::string> dirs;
    ~Registry() {
      std::error_code ec;
      for (const std::string& dir : dirs) std::filesystem::remove_all(dir, ec);
    }
  };
  static Registry registry;
  return registry.dirs;
}

// A fresh folder under the test temp dir (unique per call).
inline std::string MakeScratchDir() {
  std::string pattern = ::testing::TempDir() + "anifarm-media-XXXXXX";
  char* made = mkdtemp(pattern.data());
  EXPECT_NE(made, nullptr) << "mkdtemp failed for " << pattern;
  ScratchDirs().push_back(pattern);
  return pattern;
}

// Frames of the video stream of `path` in presentation order.
inline absl::StatusOr<std::vector<FramePtr>> DecodeAll(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<SourceReader> reader, SourceReader::Open(path));
  ASSIGN_OR_RETURN(std::unique_ptr<VideoDecoder> decoder,
                   VideoDecoder::Create(reader->info().video));
  std::vector<FramePtr> frames;
  while (true) {
    ASSIGN_OR_RETURN(PacketPtr packet, reader->NextVideoPacket());
    if (!packet) break;
    RETURN_IF_ERROR(decoder->Decode(*packet, &frames));
  }
  RETURN_IF_ERROR(decoder->Flush(&frames));
  return frames;
}

// Deterministic pseudo-random pixels: nothing for a codec to compress.
inline RgbImage Noise(int width, int height) {
  RgbImage image(width, height);
  uint32_t x = 12345;
  for (uint8_t& v : image.pixels) {
    x = x * 1103515245u + 12345u;
    v = static_cast<uint8_t>(x >> 16);
  }
  return image;
}

// What a file's video stream says about how to show it: size, sample aspect
// ratio, colour tags, rotation and HDR10 side data (empty: none).
struct VideoStreamFacts {
  int width = 0, height = 0;
  AVRational sample_aspect_ratio{0, 1};  // av_guess_sample_aspect_ratio
  int color_space = 0, color_primaries = 0, color_trc = 0, color_range = 0;
  int pixel_format = -1;
  bool has_rotation = false;
  double rotation = 0;  // av_display_rotation_get, degrees
  std::string mastering_display;  // AVMasteringDisplayMetadata bytes
  std::string content_light;      // AVContentLightMetadata bytes
};

inline absl::StatusOr<VideoStreamFacts> ReadVideoStreamFacts(const std::string& path) {
  AVFormatContext* raw = nullptr;
  if (OpenLocalInput(&raw, path) < 0) return absl::NotFoundError("cannot open " + path);
  InputFormatPtr format(raw);
  if (avformat_find_stream_info(format.get(), nullptr) < 0) {
    return absl::InvalidArgumentError("no stream info in " + path);
  }
  const int index = av_find_best_stream(format.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (index < 0) return absl::InvalidArgumentError("no video in " + path);
  AVStream* stream = format->streams[index];
  const AVCodecParameters& par = *stream->codecpar;
  VideoStreamFacts facts;
  facts.width = par.width;
  facts.height = par.height;
  facts.sample_aspect_ratio = av_guess_sample_aspect_ratio(format.get(), stream, nullptr);
  facts.color_space = par.color_space;
  facts.color_primaries = par.color_primaries;
  facts.color_trc = par.color_trc;
  facts.color_range = par.color_range;
  facts.pixel_format = par.format;
  size_t size = 0;
  if (const uint8_t* m = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size);
      m && size >= 9 * sizeof(int32_t)) {
    facts.has_rotation = true;
    facts.rotation = av_display_rotation_get(reinterpret_cast<const int32_t*>(m));
  }
  if (const uint8_t* m =
          av_stream_get_side_data(stream, AV_PKT_DATA_MASTERING_DISPLAY_METADATA, &size)) {
    facts.mastering_display.assign(reinterpret_cast<const char*>(m), size);
  }
  if (const uint8_t* m = av_stream_get_side_data(stream, AV_PKT_DATA_CONTENT_LIGHT_LEVEL, &size)) {
    facts.content_light.assign(reinterpret_cast<const char*>(m), size);
  }
  return facts;
}

}  // namespace testing_util
}  // namespace anifarm

#endif  // ANIFARM_TESTS_UNIT_MEDIA_MEDIA_TEST_UTIL_H_
