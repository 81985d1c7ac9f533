// VideoWriter: the muxing end of the pipeline. RGB frames in (with their
// source timestamps, encoded by a VideoEncoder), or video packets already
// encoded (segments encoded by nodes, joined without re-encoding), and an
// output file out, with the rest of the source kept as PlanStreams
// (stream_plan.h) decides, the same decision the coordinator checks at submit:
//   - every audio stream, copied packet for packet where the container takes
//     its codec, else transcoded to AAC (a notice says so);
//   - subtitle streams: copied where the container takes them, text ones
//     otherwise converted (mov_text in MP4/MOV), bitmap ones dropped (notice);
//   - attachments (fonts): MKV only, dropped elsewhere (notice);
//   - chapters, global metadata and per-stream metadata (language, title;
//     in MP4/MOV the title is also the track's handler name, which players read).
// A writer that fails, or is destroyed before Finish() succeeds, removes the
// file it created. Codecs, profiles and containers: see encode_settings.h.
#ifndef ANIFARM_COMMON_MEDIA_VIDEO_WRITER_H_
#define ANIFARM_COMMON_MEDIA_VIDEO_WRITER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/image.h"
#include "common/media/encode_settings.h"
#include "common/media/ffmpeg_ptr.h"
#include "common/media/video_encoder.h"

namespace anifarm {

struct VideoWriterOptions {
  std::string output_path;  // container chosen from the extension
  // How notices and errors name the output (empty: output_path): the
  // assembler writes a hidden partial file and passes the user's path here.
  std::string display_name;
  EncodeSettings encode;
  int width = 0;
  int height = 0;
  // The sample aspect ratio of the frames (VideoEncoderOptions); the
  // stream's too. Encoded video takes its parameters' instead.
  AVRational sample_aspect_ratio{1, 1};
  // Timestamps passed to WriteFrame are in this time base (the source's).
  AVRational time_base{1, 25};
  AVRational frame_rate{25, 1};
  // The source file whose other streams are kept (see above); empty: none
  // (the video alone, as for --no-audio).
  std::string audio_source_path;
  bool copy_audio = true;
  bool copy_subtitles = true;
  bool copy_attachments = true;
  bool copy_chapters = true;
  bool copy_metadata = true;  // global and per-stream tags

  // Colour description of the output (AVColorSpace, AVColorRange,
  // AVColorPrimaries, AVColorTransferCharacteristic). -1 or "unspecified":
  // BT.709 from 720 lines up, BT.601 (SMPTE 170M) below, limited range. The
  // RGB -> YUV conversion uses the matrix and range written here. Set them
  // from the source's DecoderParams to keep its colour. Ignored for FFV1,
  // which stays RGB.
  int color_space = -1;
  int color_range = -1;
  int color_primaries = -1;
  int color_trc = -1;
  // The frames carry alpha planes (see VideoEncoderOptions::alpha).
  bool alpha = false;
};

class VideoWriter {
 public:
  // A writer that encodes frames (WriteFrame) as `options.encode` says.
  static absl::StatusOr<std::unique_ptr<VideoWriter>> Create(const VideoWriterOptions& options);
  // A writer for video that arrives encoded (WritePacket): `video` describes
  // the stream (codec, extradata, size...), whose packets have timestamps in
  // `time_base`. options.encode, width, height and colour are not used.
  static absl::StatusOr<std::unique_ptr<VideoWriter>> CreateForEncodedVideo(
      const VideoWriterOptions& options, const AVCodecParameters& video, AVRational time_base);
  ~VideoWriter();

  // Frames must come in presentation order.
  absl::Status WriteFrame(const RgbImage& image, int64_t pts);
  // Packets must come in decode order. Where joined runs of packets overlap
  // in decode time (each encoder starts its decode times a little before
  // its first picture), a decode time is moved just after the previous one.
  // The packet's data is consumed.
  absl::Status WritePacket(AVPacket& packet);
  // Flushes the encoder, writes the remaining audio and the trailer.
  absl::Status Finish();

  // The libavcodec encoder in use ("libx264" after an nvenc fallback).
  const std::string& encoder_name() const;
  // Notices (also printed to stderr, one line each) about what was changed
  // or left out: nvenc fallback, audio transcoded to AAC, subtitles converted
  // or dropped, attachments dropped.
  const std::vector<std::string>& notices() const;

 private:
  struct State;
  explicit VideoWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace anifarm

#endif  // ANIFARM_COMMON_MEDIA_VIDEO_WRITER_H_
