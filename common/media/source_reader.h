// SourceReader: the compressed side of an input file. Yields the packets of
// its video stream in decode order; the coordinator stores them per chunk and
// nodes decode them (no raw frame crosses the network).
#ifndef ANIFARM_COMMON_MEDIA_SOURCE_READER_H_
#define ANIFARM_COMMON_MEDIA_SOURCE_READER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/media/ffmpeg_ptr.h"
#include "common/media/media_info.h"

namespace anifarm {

class SourceReader {
 public:
  static absl::StatusOr<std::unique_ptr<SourceReader>> Open(const std::string& path);

  const MediaInfo& info() const { return info_; }

  // Next packet of the video stream, or nullptr at end of file.
  absl::StatusOr<PacketPtr> NextVideoPacket();
  // Moves to the keyframe at or before `seconds` from the video's start
  // (field analysis samples a long source in windows). The caller flushes
  // its decoder.
  absl::Status SeekToSeconds(double seconds);

 private:
  SourceReader() = default;
  MediaInfo info_;
  InputFormatPtr format_;
};

}  // namespace anifarm

#endif  // ANIFARM_COMMON_MEDIA_SOURCE_READER_H_
