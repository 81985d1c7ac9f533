// StreamPlan: what becomes of each audio, subtitle and attachment stream of
// a source in an output container, decided from the headers alone (nothing
// is written). The coordinator asks at submit, so that a stream the output
// cannot hold is refused (or its transcode announced) before any frame is
// upscaled; VideoWriter follows the same plan, so planning and writing
// cannot disagree. docs/formats.md is the user's version of these rules.
//
// Audio: copied where the container takes the codec, else transcoded to AAC
// (one notice per stream), else refused (no decoder for it). "Takes" is
// avformat_query_codec, corrected by kContainerRules (stream_plan.cc) where
// FFmpeg 5.1's muxers say yes to a codec that avformat_write_header then
// refuses (FLAC and TrueHD in MP4: experimental; FLAC, Opus and TrueHD in
// MOV: "only supported in MP4") or that few players read (Vorbis in MP4).
// Subtitles: copied where the container takes them; text ones otherwise
// converted (mov_text in MP4/MOV, ASS in MKV; notice); bitmap ones dropped
// (notice). Attachments (fonts): MKV only, dropped elsewhere (one notice).
// Data streams: not kept (notice). tests/unit/media/container_rules_test.cc
// muxes every audio codec x container pair to keep the table true.
#ifndef ANIFARM_COMMON_MEDIA_STREAM_PLAN_H_
#define ANIFARM_COMMON_MEDIA_STREAM_PLAN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

extern "C" {
#include <libavformat/avformat.h>
}

namespace anifarm {

enum class StreamAction {
  kCopy,            // packet for packet
  kTranscodeToAac,  // audio the container refuses
  kConvertText,     // text subtitles to `target_codec`
  kDrop,            // left out, with a notice
};

struct StreamDecision {
  int index = -1;  // in the source
  AVMediaType type = AVMEDIA_TYPE_UNKNOWN;
  AVCodecID codec_id = AV_CODEC_ID_NONE;  // the source's
  StreamAction action = StreamAction::kDrop;
  // The codec written: codec_id when copied, AAC, mov_text or ASS when
  // converted, AV_CODEC_ID_NONE when dropped.
  AVCodecID target_codec = AV_CODEC_ID_NONE;
};

struct StreamPlanOptions {
  bool copy_audio = true;
  bool copy_subtitles = true;
  bool copy_attachments = true;
  // The names notices use: the source, and the output as the user knows it
  // (the assembler writes to a hidden partial file first).
  std::string source_name;
  std::string output_name;
};

struct StreamPlan {
  // One entry per audio, subtitle, attachment and data stream of the source
  // that the options ask to keep, in source order (video is not listed).
  std::vector<StreamDecision> streams;
  // One line each: transcodes, conversions, drops.
  std::vector<std::string> notices;
};

// Decides for an open source and the output container `muxer`.
// InvalidArgumentError, one line naming the source, the stream and the
// output, for a stream that can neither be copied nor transcoded, e.g.
// "in.mkv: audio stream 1 (foo) cannot go in out.mov, and there is no
// decoder to transcode it to AAC (use .mkv, or --no-audio)".
absl::StatusOr<StreamPlan> PlanStreams(const AVFormatContext& source, const AVOutputFormat& muxer,
                                       const StreamPlanOptions& options);

// As above, opening `source_path` and choosing the container from the
// extension of `output_path` (the names in notices default to these paths).
absl::StatusOr<StreamPlan> PlanStreams(const std::string& source_path,
                                       const std::string& output_path,
                                       StreamPlanOptions options);

// Whether the container really takes this audio codec as it is (the rule
// table over avformat_query_codec); false: it is transcoded to AAC.
bool ContainerTakesAudio(const AVOutputFormat& muxer, AVCodecID codec_id);

// "#1 (flac, jpn)": how notices and errors name a stream (index, codec,
// language, attachment file name).
std::string StreamLabel(const AVStream& stream);

}  // namespace anifarm

#endif  // ANIFARM_COMMON_MEDIA_STREAM_PLAN_H_
