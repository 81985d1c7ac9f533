// Decoding a chunk payload (v1::ChunkPayload: decoder parameters plus the
// compressed source packets of a keyframe-aligned run of frames; with an
// open GOP also the next chunk's keyframe and the leading pictures after it,
// see coordinator/open_gop.h). Shared by
// the node, which upscales the frames it lists, and the coordinator, which
// decodes one source frame for the dashboard's before/after preview.
#ifndef ANIFARM_COMMON_CHUNK_PAYLOAD_H_
#define ANIFARM_COMMON_CHUNK_PAYLOAD_H_

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/image.h"
#include "common/media/ffmpeg_ptr.h"
#include "common/media/media_info.h"
#include "protos/anifarm.pb.h"

namespace anifarm {

DecoderParams ToDecoderParams(const v1::DecoderConfig& config);
v1::DecoderConfig ToDecoderConfig(const DecoderParams& params);

// Decodes every packet of the payload and calls `on_frame` for each decoded
// frame with its presentation timestamp, in decode output order. Stops at
// the first error `on_frame` returns. Frames the chunk does not own come
// out too (with an open GOP the next chunk's keyframe, and this chunk's own
// leading pictures from a decoder that outputs them without their
// references): callers keep the frames they want by pts.
absl::Status DecodeChunk(const v1::ChunkPayload& payload,
                         const std::function<absl::Status(const AVFrame&, int64_t pts)>& on_frame);

// The frame with presentation timestamp `pts`, as RGB. NotFound if absent.
absl::StatusOr<RgbImage> DecodeChunkFrame(const v1::ChunkPayload& payload, int64_t pts);

}  // namespace anifarm

#endif  // ANIFARM_COMMON_CHUNK_PAYLOAD_H_
