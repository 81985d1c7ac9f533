#include "common/media/media_info.h"

#include <memory>
#include <utility>
#include <vector>

#include "common/media/source_reader.h"
#include "common/media/video_decoder.h"
#include "common/status_macros.h"

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace anifarm {

// Probing is opening a SourceReader: one place decides what counts as media.
absl::StatusOr<MediaInfo> ProbeMedia(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<SourceReader> reader, SourceReader::Open(path));
  return reader->info();
}

bool PixelFormatHasAlpha(int pixel_format) {
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(pixel_format));
  return desc && (desc->flags & AV_PIX_FMT_FLAG_ALPHA);
}

absl::StatusOr<int64_t> CountVideoFrames(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<SourceReader> reader, SourceReader::Open(path));
  ASSIGN_OR_RETURN(std::unique_ptr<VideoDecoder> decoder,
                   VideoDecoder::Create(reader->info().video));
  int64_t count = 0;
  std::vector<FramePtr> frames;
  while (true) {
    ASSIGN_OR_RETURN(PacketPtr packet, reader->NextVideoPacket());
    if (!packet) break;
    RETURN_IF_ERROR(decoder->Decode(*packet, &frames));
    count += static_cast<int64_t>(frames.size());
    frames.clear();
  }
  RETURN_IF_ERROR(decoder->Flush(&frames));
  count += static_cast<int64_t>(frames.size());
  return count;
}

}  // namespace anifarm
