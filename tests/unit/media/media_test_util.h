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

}  // namespace testing_util
}  // namespace anifarm

#endif  // ANIFARM_TESTS_UNIT_MEDIA_MEDIA_TEST_UTIL_H_
