#include "common/media/video_writer.h"

#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

extern "C" {
#include <libavutil/dict.h>
}

namespace anifarm {
namespace {

// AVDictionary is built through AVDictionary** calls; this owner frees
// whatever the calls (and the open functions consuming it) left in it.
class Dict {
 public:
  Dict() = default;
  Dict(const Dict&) = delete;
  Dict& operator=(const Dict&) = delete;
  ~Dict() { av_dict_free(&raw_); }

  AVDictionary** out() { return &raw_; }
  void Set(const char* key, const std::string& value) { av_dict_set(&raw_, key, value.c_str(), 0); }

 private:
  AVDictionary* raw_ = nullptr;
};

struct EncoderChoice {
  const char* encoder;       // libavcodec encoder name
  AVPixelFormat pix_fmt;
  int default_crf;           // -1: no CRF (lossless codec)
};

absl::StatusOr<EncoderChoice> ChooseEncoder(const std::string& codec) {
  if (codec == "h264") return EncoderChoice{"libx264", AV_PIX_FMT_YUV420P, 18};
  if (codec == "h265") return EncoderChoice{"libx265", AV_PIX_FMT_YUV420P, 20};
  // FFV1 is the archival choice: keep it truly lossless by staying in RGB.
  if (codec == "ffv1") return EncoderChoice{"ffv1", AV_PIX_FMT_0RGB32, -1};
  return absl::InvalidArgumentError(
      absl::StrCat("unknown codec '", codec, "' (expected h264, h265 or ffv1)"));
}

absl::Status OpenError(const std::string& what, const std::string& path, int err) {
  const std::string message = absl::StrCat("cannot ", what, " ", path, ": ", AvErrorString(err));
  if (err == AVERROR(ENOENT)) return absl::NotFoundError(message);
  if (err == AVERROR(EACCES) || err == AVERROR(EPERM)) return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

double PacketSeconds(const AVPacket& packet, AVRational time_base) {
  const int64_t ts = packet.dts != AV_NOPTS_VALUE ? packet.dts : packet.pts;
  if (ts == AV_NOPTS_VALUE) return -std::numeric_limits<double>::infinity();
  return static_cast<double>(ts) * av_q2d(time_base);
}

}  // namespace

struct VideoWriter::State {
  VideoWriterOptions options;
  OutputFormatPtr output;
  CodecContextPtr encoder;
  AVStream* video_stream = nullptr;  // owned by `output`
  SwsPtr sws;
  FramePtr frame;    // the encoder's input picture, reused
  PacketPtr packet;  // the encoder's output, reused

  // Audio copied from the source: its demuxer, the output stream of each
  // input stream (-1 for streams not copied), and the packet read but not
  // yet written because it lies after the video written so far.
  InputFormatPtr audio_input;
  std::vector<int> audio_stream_map;
  PacketPtr audio_pending;
  bool audio_done = true;

  int64_t last_pts = AV_NOPTS_VALUE;
  bool finished = false;
  absl::Status finish_status;

  // Writes source audio packets up to and including `seconds`.
  absl::Status WriteAudioUntil(double seconds) {
    while (!audio_done) {
      if (!audio_pending) {
        PacketPtr next = MakePacket();
        if (!next) return absl::ResourceExhaustedError("cannot allocate a packet");
        const int err = av_read_frame(audio_input.get(), next.get());
        if (err == AVERROR_EOF) {
          audio_done = true;
          break;
        }
        if (err < 0) {
          return absl::DataLossError(absl::StrCat("cannot read audio from ",
                                                  options.audio_source_path, ": ",
                                                  AvErrorString(err)));
        }
        if (next->stream_index < 0 ||
            next->stream_index >= static_cast<int>(audio_stream_map.size()) ||
            audio_stream_map[next->stream_index] < 0) {
          continue;
        }
        audio_pending = std::move(next);
      }
      const AVStream* in = audio_input->streams[audio_pending->stream_index];
      if (PacketSeconds(*audio_pending, in->time_base) > seconds) break;
      const int out_index = audio_stream_map[audio_pending->stream_index];
      audio_pending->stream_index = out_index;
      audio_pending->pos = -1;
      av_packet_rescale_ts(audio_pending.get(), in->time_base,
                           output->streams[out_index]->time_base);
      const int err = av_interleaved_write_frame(output.get(), audio_pending.get());
      audio_pending.reset();
      if (err < 0) {
        return absl::InternalError(absl::StrCat("cannot write audio to ", options.output_path,
                                                ": ", AvErrorString(err)));
      }
    }
    return absl::OkStatus();
  }

  // Moves every packet the encoder has ready into the file, audio first up
  // to each video packet's decode time so the two stay interleaved.
  absl::Status DrainEncoder() {
    while (true) {
      const int err = avcodec_receive_packet(encoder.get(), packet.get());
      if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return absl::OkStatus();
      if (err < 0) {
        return absl::InternalError(absl::StrCat("encoding ", options.output_path,
                                                " failed: ", AvErrorString(err)));
      }
      RETURN_IF_ERROR(WriteAudioUntil(PacketSeconds(*packet, encoder->time_base)));
      packet->stream_index = video_stream->index;
      av_packet_rescale_ts(packet.get(), encoder->time_base, video_stream->time_base);
      const int write_err = av_interleaved_write_frame(output.get(), packet.get());
      if (write_err < 0) {
        return absl::InternalError(absl::StrCat("cannot write video to ", options.output_path,
                                                ": ", AvErrorString(write_err)));
      }
    }
  }

  absl::Status OpenAudioSource() {
    const std::string& path = options.audio_source_path;
    AVFormatContext* raw = nullptr;
    int err = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
    if (err < 0) return OpenError("open the audio source", path, err);
    audio_input.reset(raw);
    err = avformat_find_stream_info(audio_input.get(), nullptr);
    if (err < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " is not a media file (", AvErrorString(err), ")"));
    }
    audio_stream_map.assign(audio_input->nb_streams, -1);
    for (unsigned i = 0; i < audio_input->nb_streams; ++i) {
      AVStream* in = audio_input->streams[i];
      if (in->codecpar->codec_type != AVMEDIA_TYPE_AUDIO) {
        in->discard = AVDISCARD_ALL;
        continue;
      }
      if (avformat_query_codec(output->oformat, in->codecpar->codec_id,
                               FF_COMPLIANCE_NORMAL) == 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the ", avcodec_get_name(in->codecpar->codec_id), " audio of ", path,
            " cannot be stored in ", options.output_path, "; choose another container"));
      }
      AVStream* out = avformat_new_stream(output.get(), nullptr);
      if (!out) return absl::ResourceExhaustedError("cannot add an audio stream");
      err = avcodec_parameters_copy(out->codecpar, in->codecpar);
      if (err < 0) {
        return absl::InternalError(
            absl::StrCat("cannot copy audio parameters: ", AvErrorString(err)));
      }
      // The source container's tag may mean nothing in the output one.
      out->codecpar->codec_tag = 0;
      out->time_base = in->time_base;
      av_dict_copy(&out->metadata, in->metadata, 0);
      out->disposition = in->disposition;
      audio_stream_map[i] = out->index;
    }
    audio_done = false;
    return absl::OkStatus();
  }
};

VideoWriter::VideoWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}

// Everything is held by RAII members: without Finish() the file is simply
// left incomplete (the assembler writes to a partial path for that reason).
VideoWriter::~VideoWriter() = default;

absl::StatusOr<std::unique_ptr<VideoWriter>> VideoWriter::Create(
    const VideoWriterOptions& options) {
  ASSIGN_OR_RETURN(const EncoderChoice choice, ChooseEncoder(options.encode.codec));
  if (options.width <= 0 || options.height <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid output size ", options.width, "x",
                                                   options.height, " for ",
                                                   options.output_path));
  }
  if (options.time_base.num <= 0 || options.time_base.den <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid time base ", options.time_base.num,
                                                   "/", options.time_base.den, " for ",
                                                   options.output_path));
  }
  auto state = std::make_unique<State>();
  state->options = options;

  AVFormatContext* raw = nullptr;
  int err = avformat_alloc_output_context2(&raw, nullptr, nullptr, options.output_path.c_str());
  if (err < 0 || !raw) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot choose a container for ", options.output_path, " from its extension"));
  }
  state->output.reset(raw);
  AVFormatContext* output = state->output.get();

  const AVCodec* codec = avcodec_find_encoder_by_name(choice.encoder);
  if (!codec) {
    return absl::UnimplementedError(
        absl::StrCat("libavcodec was built without the ", choice.encoder, " encoder"));
  }
  if (avformat_query_codec(output->oformat, codec->id, FF_COMPLIANCE_NORMAL) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(options.encode.codec,
                                                   " video cannot be stored in ",
                                                   options.output_path));
  }
  state->encoder.reset(avcodec_alloc_context3(codec));
  AVCodecContext* encoder = state->encoder.get();
  if (!encoder) return absl::ResourceExhaustedError("cannot allocate an encoder");
  encoder->width = options.width;
  encoder->height = options.height;
  encoder->pix_fmt = choice.pix_fmt;
  encoder->sample_aspect_ratio = AVRational{1, 1};
  // The source's time base, so source timestamps (VFR included) pass through.
  encoder->time_base = options.time_base;
  if (options.frame_rate.num > 0 && options.frame_rate.den > 0) {
    encoder->framerate = options.frame_rate;
  }
  encoder->thread_count = 0;

  const bool rgb = choice.pix_fmt == AV_PIX_FMT_0RGB32;
  const bool hd = options.height >= 720;
  if (rgb) {
    encoder->colorspace = AVCOL_SPC_RGB;
    encoder->color_range = AVCOL_RANGE_JPEG;
    encoder->color_primaries = AVCOL_PRI_BT709;
    encoder->color_trc = AVCOL_TRC_IEC61966_2_1;
  } else {
    encoder->colorspace = hd ? AVCOL_SPC_BT709 : AVCOL_SPC_SMPTE170M;
    encoder->color_primaries = hd ? AVCOL_PRI_BT709 : AVCOL_PRI_SMPTE170M;
    encoder->color_trc = hd ? AVCOL_TRC_BT709 : AVCOL_TRC_SMPTE170M;
    encoder->color_range = AVCOL_RANGE_MPEG;
  }
  if (output->oformat->flags & AVFMT_GLOBALHEADER) {
    encoder->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  }

  Dict codec_options;
  if (choice.default_crf >= 0) {
    const int crf = options.encode.crf >= 0 ? options.encode.crf : choice.default_crf;
    codec_options.Set("crf", std::to_string(crf));
    codec_options.Set("preset", options.encode.preset.empty() ? "slow" : options.encode.preset);
  }
  if (codec->id == AV_CODEC_ID_HEVC) codec_options.Set("x265-params", "log-level=error");
  if (codec->id == AV_CODEC_ID_FFV1) {
    codec_options.Set("level", "3");     // version 3: sliced, so it encodes in parallel
    codec_options.Set("slicecrc", "1");  // and detects corruption on decode
  }
  err = avcodec_open2(encoder, codec, codec_options.out());
  if (err < 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot open the ", choice.encoder,
                                                   " encoder for ", options.width, "x",
                                                   options.height, " ", options.output_path,
                                                   ": ", AvErrorString(err)));
  }

  state->video_stream = avformat_new_stream(output, nullptr);
  if (!state->video_stream) return absl::ResourceExhaustedError("cannot add a video stream");
  err = avcodec_parameters_from_context(state->video_stream->codecpar, encoder);
  if (err < 0) {
    return absl::InternalError(absl::StrCat("cannot set video parameters: ", AvErrorString(err)));
  }
  const std::string muxer = output->oformat->name;
  // hvc1 (parameter sets in the sample description) is the HEVC tag Apple
  // players require; libavformat's default hev1 does not play there.
  if (codec->id == AV_CODEC_ID_HEVC && (muxer == "mp4" || muxer == "mov")) {
    state->video_stream->codecpar->codec_tag = MKTAG('h', 'v', 'c', '1');
  }
  state->video_stream->time_base = encoder->time_base;  // a hint; the muxer may change it
  state->video_stream->avg_frame_rate = encoder->framerate;

  if (!options.audio_source_path.empty()) RETURN_IF_ERROR(state->OpenAudioSource());

  if (!(output->oformat->flags & AVFMT_NOFILE)) {
    err = avio_open(&output->pb, options.output_path.c_str(), AVIO_FLAG_WRITE);
    if (err < 0) return OpenError("create", options.output_path, err);
  }
  Dict muxer_options;
  // Index up front, so players can start before the whole file is read.
  if (muxer == "mp4" || muxer == "mov") muxer_options.Set("movflags", "+faststart");
  err = avformat_write_header(output, muxer_options.out());
  if (err < 0) {
    return absl::InternalError(absl::StrCat("cannot write the header of ", options.output_path,
                                            ": ", AvErrorString(err)));
  }

  // RGB -> the encoder's format, with the matrix and range the stream is
  // tagged with (RGB input is full range by definition).
  state->sws.reset(sws_getContext(options.width, options.height, AV_PIX_FMT_RGB24,
                                  options.width, options.height, choice.pix_fmt,
                                  SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, nullptr,
                                  nullptr, nullptr));
  if (!state->sws) return absl::InternalError("cannot create the RGB converter");
  if (!rgb) {
    const int* coefficients = sws_getCoefficients(hd ? SWS_CS_ITU709 : SWS_CS_ITU601);
    sws_setColorspaceDetails(state->sws.get(), coefficients, /*srcRange=*/1, coefficients,
                             /*dstRange=*/0, /*brightness=*/0, /*contrast=*/1 << 16,
                             /*saturation=*/1 << 16);
  }
  state->frame = MakeFrame();
  state->packet = MakePacket();
  if (!state->frame || !state->packet) return absl::ResourceExhaustedError("out of memory");
  state->frame->format = choice.pix_fmt;
  state->frame->width = options.width;
  state->frame->height = options.height;
  state->frame->colorspace = encoder->colorspace;
  state->frame->color_range = encoder->color_range;
  state->frame->color_primaries = encoder->color_primaries;
  state->frame->color_trc = encoder->color_trc;
  if (av_frame_get_buffer(state->frame.get(), 0) < 0) {
    return absl::ResourceExhaustedError("cannot allocate the encoder's frame");
  }
  return std::unique_ptr<VideoWriter>(new VideoWriter(std::move(state)));
}

absl::Status VideoWriter::WriteFrame(const RgbImage& image, int64_t pts) {
  State& s = *state_;
  if (s.finished) {
    return absl::FailedPreconditionError(
        absl::StrCat("frame written to ", s.options.output_path, " after Finish()"));
  }
  if (image.width != s.options.width || image.height != s.options.height ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "frame of ", image.width, "x", image.height, " written to ", s.options.output_path,
        ", which is ", s.options.width, "x", s.options.height));
  }
  if (s.last_pts != AV_NOPTS_VALUE && pts <= s.last_pts) {
    return absl::InvalidArgumentError(absl::StrCat("frame pts ", pts, " is not after ",
                                                   s.last_pts, " in ", s.options.output_path));
  }
  // The encoder may still reference the previous picture's buffer.
  if (av_frame_make_writable(s.frame.get()) < 0) {
    return absl::ResourceExhaustedError("cannot allocate the encoder's frame");
  }
  const uint8_t* src[1] = {image.pixels.data()};
  const int src_stride[1] = {image.width * 3};
  sws_scale(s.sws.get(), src, src_stride, 0, image.height, s.frame->data, s.frame->linesize);
  s.frame->pts = pts;
  const int err = avcodec_send_frame(s.encoder.get(), s.frame.get());
  if (err < 0) {
    return absl::InternalError(absl::StrCat("encoding ", s.options.output_path,
                                            " failed at pts ", pts, ": ", AvErrorString(err)));
  }
  s.last_pts = pts;
  return s.DrainEncoder();
}

absl::Status VideoWriter::Finish() {
  State& s = *state_;
  if (s.finished) return s.finish_status;
  s.finished = true;
  s.finish_status = [&]() -> absl::Status {
    const int err = avcodec_send_frame(s.encoder.get(), nullptr);
    if (err < 0 && err != AVERROR_EOF) {
      return absl::InternalError(absl::StrCat("cannot flush the encoder of ",
                                              s.options.output_path, ": ", AvErrorString(err)));
    }
    RETURN_IF_ERROR(s.DrainEncoder());
    RETURN_IF_ERROR(s.WriteAudioUntil(std::numeric_limits<double>::infinity()));
    const int trailer_err = av_write_trailer(s.output.get());
    if (trailer_err < 0) {
      return absl::InternalError(absl::StrCat("cannot finish ", s.options.output_path, ": ",
                                              AvErrorString(trailer_err)));
    }
    // Closing here (not only in the destructor) so the file is complete on
    // disk when Finish returns.
    if (!(s.output->oformat->flags & AVFMT_NOFILE)) {
      const int close_err = avio_closep(&s.output->pb);
      if (close_err < 0) {
        return absl::InternalError(absl::StrCat("cannot close ", s.options.output_path, ": ",
                                                AvErrorString(close_err)));
      }
    }
    return absl::OkStatus();
  }();
  return s.finish_status;
}

}  // namespace anifarm
