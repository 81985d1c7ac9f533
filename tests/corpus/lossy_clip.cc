#include "tests/corpus/lossy_clip.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/media/ffmpeg_ptr.h"
#include "common/status_macros.h"

extern "C" {
#include <libavutil/channel_layout.h>
}

namespace anifarm {
namespace {

constexpr int kSampleRate = 48000;
constexpr int kChannels = 2;
constexpr double kToneHz = 440.0;

AVRational RateOf(const LossyClipSpec& spec) {
  return spec.rate.num > 0 ? spec.rate : AVRational{spec.fps, 1};
}

// Audio samples that last as long as the first `frames` frames.
int64_t SamplesFor(const LossyClipSpec& spec, int64_t frames) {
  const AVRational rate = RateOf(spec);
  return frames * kSampleRate * rate.den / rate.num;
}

// One encoder feeding one output stream.
struct Track {
  CodecContextPtr codec;
  AVStream* stream = nullptr;  // owned by the output context
};

absl::Status WritePackets(AVFormatContext* output, Track& track, const std::string& path) {
  PacketPtr packet = MakePacket();
  if (!packet) return absl::ResourceExhaustedError("cannot allocate a packet");
  while (true) {
    int err = avcodec_receive_packet(track.codec.get(), packet.get());
    if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return absl::OkStatus();
    if (err < 0) {
      return absl::InternalError(absl::StrCat("encoding ", path, " failed: ", AvErrorString(err)));
    }
    packet->stream_index = track.stream->index;
    av_packet_rescale_ts(packet.get(), track.codec->time_base, track.stream->time_base);
    err = av_interleaved_write_frame(output, packet.get());
    if (err < 0) {
      return absl::InternalError(absl::StrCat("cannot write ", path, ": ", AvErrorString(err)));
    }
  }
}

absl::Status Send(Track& track, const AVFrame* frame, const std::string& path) {
  const int err = avcodec_send_frame(track.codec.get(), frame);
  if (err < 0 && !(frame == nullptr && err == AVERROR_EOF)) {
    return absl::InternalError(absl::StrCat("encoding ", path, " failed: ", AvErrorString(err)));
  }
  return absl::OkStatus();
}

absl::StatusOr<Track> AddTrack(AVFormatContext* output, CodecContextPtr codec,
                               const AVCodec* encoder, AvDictionary& options) {
  if (output->oformat->flags & AVFMT_GLOBALHEADER) codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  int err = avcodec_open2(codec.get(), encoder, options.out());
  if (err < 0) {
    return absl::InternalError(
        absl::StrCat("cannot open the ", encoder->name, " encoder: ", AvErrorString(err)));
  }
  Track track;
  track.stream = avformat_new_stream(output, nullptr);
  if (!track.stream) return absl::ResourceExhaustedError("cannot add a stream");
  err = avcodec_parameters_from_context(track.stream->codecpar, codec.get());
  if (err < 0) {
    return absl::InternalError(absl::StrCat("cannot set stream parameters: ", AvErrorString(err)));
  }
  track.stream->time_base = codec->time_base;
  track.codec = std::move(codec);
  return track;
}

// "a:b" joined, skipping empty parts.
std::string JoinParams(const std::vector<std::string>& parts) {
  std::string joined;
  for (const std::string& part : parts) {
    if (part.empty()) continue;
    if (!joined.empty()) joined += ':';
    joined += part;
  }
  return joined;
}

// The video encoder as the spec asks, everything else at its defaults.
absl::StatusOr<Track> AddVideo(AVFormatContext* output, const LossyClipSpec& spec) {
  const bool x264 = spec.encoder == "libx264";
  const bool x265 = spec.encoder == "libx265";
  const bool mpeg2 = spec.encoder == "mpeg2video";
  if (!x264 && !x265 && !mpeg2) {
    return absl::InvalidArgumentError(
        absl::StrCat("lossy clip encoder ", spec.encoder, " is not libx264, libx265 or mpeg2video"));
  }
  const AVCodec* encoder = avcodec_find_encoder_by_name(spec.encoder.c_str());
  if (!encoder) {
    return absl::UnimplementedError(absl::StrCat("libavcodec was built without ", spec.encoder));
  }
  CodecContextPtr codec(avcodec_alloc_context3(encoder));
  if (!codec) return absl::ResourceExhaustedError("cannot allocate an encoder");
  codec->width = spec.width;
  codec->height = spec.height;
  codec->pix_fmt = AV_PIX_FMT_YUV420P;
  const AVRational rate = RateOf(spec);
  codec->time_base = av_inv_q(rate);
  codec->framerate = rate;
  codec->sample_aspect_ratio = spec.sample_aspect_ratio;
  codec->colorspace = AVCOL_SPC_BT709;
  codec->color_primaries = AVCOL_PRI_BT709;
  codec->color_trc = AVCOL_TRC_BT709;
  codec->color_range = AVCOL_RANGE_MPEG;
  // libx264/libx265 default gop_size to -1 (the library's own keyint);
  // mpeg2video's default is libavcodec's 12.
  if (spec.keyint > 0) codec->gop_size = spec.keyint;
  AvDictionary options;
  if (x264 || x265) {
    options.Set("preset", "medium");
    options.Set("crf", std::to_string(spec.crf));
    // x264's default is closed GOPs, x265's open ones: both said explicitly.
    // Errors only from the libraries themselves (not their statistics).
    const std::string gop = spec.open_gop ? "open-gop=1" : "open-gop=0";
    if (x264) {
      options.Set("x264-params", JoinParams({"log=0", gop, spec.interlaced ? "tff=1" : "",
                                             spec.codec_params}));
    } else {
      options.Set("x265-params", JoinParams({"log-level=error", gop, spec.codec_params}));
    }
  } else {
    // MPEG-2 has no CRF: a fixed quantiser, CRF 23 giving qscale 5 (about
    // a DVD's quality at this size), coarser as the CRF grows.
    const int qscale = std::clamp(spec.crf / 4, 2, 31);
    codec->flags |= AV_CODEC_FLAG_QSCALE;
    codec->global_quality = FF_QP2LAMBDA * qscale;
    codec->max_b_frames = 2;  // a DVD's IBBP; libavcodec's default is none
    if (!spec.open_gop) {
      codec->flags |= AV_CODEC_FLAG_CLOSED_GOP;
      // libavcodec refuses closed GOPs with its scene-change keyframes on.
      options.Set("sc_threshold", "1000000000");
    }
  }
  if (spec.interlaced) {
    codec->flags |= AV_CODEC_FLAG_INTERLACED_DCT | AV_CODEC_FLAG_INTERLACED_ME;
    codec->field_order = AV_FIELD_TT;
  }
  ASSIGN_OR_RETURN(Track track, AddTrack(output, std::move(codec), encoder, options));
  track.stream->avg_frame_rate = rate;
  return track;
}

absl::StatusOr<Track> AddAudio(AVFormatContext* output) {
  const AVCodec* encoder = avcodec_find_encoder_by_name("aac");
  if (!encoder) return absl::UnimplementedError("libavcodec was built without the aac encoder");
  CodecContextPtr codec(avcodec_alloc_context3(encoder));
  if (!codec) return absl::ResourceExhaustedError("cannot allocate an encoder");
  codec->sample_fmt = AV_SAMPLE_FMT_FLTP;
  codec->sample_rate = kSampleRate;
  av_channel_layout_default(&codec->ch_layout, kChannels);
  codec->bit_rate = 128000;
  codec->time_base = AVRational{1, kSampleRate};
  AvDictionary options;
  ASSIGN_OR_RETURN(Track track, AddTrack(output, std::move(codec), encoder, options));
  av_dict_set(&track.stream->metadata, "language", "eng", 0);
  return track;
}

// Sine samples [written, until) in whole encoder frames (a short one only
// when `last`).
absl::Status WriteAudioUntil(AVFormatContext* output, Track& audio, int64_t& written,
                             int64_t until, bool last, const std::string& path) {
  const int frame_size = audio.codec->frame_size > 0 ? audio.codec->frame_size : 1024;
  while (written < until) {
    const int n = static_cast<int>(std::min<int64_t>(frame_size, until - written));
    if (n < frame_size && !last) break;
    FramePtr frame = MakeFrame();
    if (!frame) return absl::ResourceExhaustedError("cannot allocate a frame");
    frame->format = audio.codec->sample_fmt;
    frame->sample_rate = kSampleRate;
    frame->nb_samples = n;
    av_channel_layout_copy(&frame->ch_layout, &audio.codec->ch_layout);
    if (av_frame_get_buffer(frame.get(), 0) < 0) {
      return absl::ResourceExhaustedError("cannot allocate audio samples");
    }
    for (int i = 0; i < n; ++i) {
      const double t = static_cast<double>(written + i) / kSampleRate;
      const float v = static_cast<float>(0.25 * std::sin(2 * M_PI * kToneHz * t));
      for (int c = 0; c < kChannels; ++c) reinterpret_cast<float*>(frame->data[c])[i] = v;
    }
    frame->pts = written;
    RETURN_IF_ERROR(Send(audio, frame.get(), path));
    RETURN_IF_ERROR(WritePackets(output, audio, path));
    written += n;
  }
  return absl::OkStatus();
}

}  // namespace

void DrawMovingPattern(int index, AVFrame& frame) {
  const int w = frame.width, h = frame.height;
  const int pan = 3 * index;
  const int box_w = std::max(8, w / 6), box_h = std::max(8, h / 4);
  const int box_x = (5 * index) % std::max(1, w - box_w);
  const int box_y = h / 3 + (2 * index) % std::max(1, h / 3);
  for (int y = 0; y < h; ++y) {
    uint8_t* row = frame.data[0] + static_cast<ptrdiff_t>(y) * frame.linesize[0];
    for (int x = 0; x < w; ++x) {
      const bool in_box = x >= box_x && x < box_x + box_w && y >= box_y && y < box_y + box_h;
      row[x] = static_cast<uint8_t>(in_box ? 230 - 2 * (x - box_x)
                                           : 50 + 40 * (((x + pan) / 12) % 4) + 40 * y / h);
    }
  }
  for (int plane = 1; plane < 3; ++plane) {
    for (int y = 0; y < (h + 1) / 2; ++y) {
      uint8_t* row = frame.data[plane] + static_cast<ptrdiff_t>(y) * frame.linesize[plane];
      for (int x = 0; x < (w + 1) / 2; ++x) {
        const int wave = plane == 1 ? (x + index) % 48 : (y + 2 * index) % 40;
        row[x] = static_cast<uint8_t>(104 + wave);
      }
    }
  }
}

absl::Status WriteLossyClip(const std::string& path, const LossyClipSpec& spec) {
  if (spec.width < 16 || spec.height < 16 || spec.width % 2 || spec.height % 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("lossy clip size ", spec.width, "x", spec.height, " must be even, >= 16"));
  }
  if (RateOf(spec).num <= 0 || RateOf(spec).den <= 0 || spec.frames <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("lossy clip fps ", spec.fps, " and frames ",
                                                   spec.frames, " must be positive"));
  }
  AVFormatContext* raw = nullptr;
  int err = avformat_alloc_output_context2(&raw, nullptr, nullptr, path.c_str());
  if (err < 0 || !raw) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot choose a container for ", path, " from its extension"));
  }
  OutputFormatPtr output(raw);
  ASSIGN_OR_RETURN(Track video, AddVideo(output.get(), spec));
  std::vector<Track> audio;
  if (spec.audio) {
    ASSIGN_OR_RETURN(Track track, AddAudio(output.get()));
    audio.push_back(std::move(track));
  }
  if (!(output->oformat->flags & AVFMT_NOFILE)) {
    err = avio_open(&output->pb, path.c_str(), AVIO_FLAG_WRITE);
    if (err < 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create ", path, ": ", AvErrorString(err)));
    }
  }
  AvDictionary mux_options;
  if (spec.index_first) mux_options.Set("movflags", "+faststart");
  err = avformat_write_header(output.get(), mux_options.out());
  if (err < 0) {
    return absl::InternalError(
        absl::StrCat("cannot write the header of ", path, ": ", AvErrorString(err)));
  }

  const auto& draw = spec.draw ? spec.draw : DrawMovingPattern;
  int64_t samples = 0;  // audio lasts as long as the video: frames * 48000 / fps
  for (int i = 0; i < spec.frames; ++i) {
    // A fresh frame each time: the encoder may keep a reference to the last.
    FramePtr frame = MakeFrame();
    if (!frame) return absl::ResourceExhaustedError("cannot allocate a frame");
    frame->format = AV_PIX_FMT_YUV420P;
    frame->width = spec.width;
    frame->height = spec.height;
    if (av_frame_get_buffer(frame.get(), 0) < 0) {
      return absl::ResourceExhaustedError("cannot allocate a picture");
    }
    draw(i, *frame);
    frame->pts = i;
    frame->pict_type = AV_PICTURE_TYPE_NONE;  // the encoder chooses
    if (spec.interlaced) {
      frame->interlaced_frame = 1;
      frame->top_field_first = 1;
    }
    RETURN_IF_ERROR(Send(video, frame.get(), path));
    RETURN_IF_ERROR(WritePackets(output.get(), video, path));
    for (Track& track : audio) {
      RETURN_IF_ERROR(WriteAudioUntil(output.get(), track, samples, SamplesFor(spec, i + 1),
                                      false, path));
    }
  }
  RETURN_IF_ERROR(Send(video, nullptr, path));
  RETURN_IF_ERROR(WritePackets(output.get(), video, path));
  for (Track& track : audio) {
    RETURN_IF_ERROR(WriteAudioUntil(output.get(), track, samples,
                                    SamplesFor(spec, spec.frames), true, path));
    RETURN_IF_ERROR(Send(track, nullptr, path));
    RETURN_IF_ERROR(WritePackets(output.get(), track, path));
  }
  err = av_write_trailer(output.get());
  if (err < 0) {
    return absl::InternalError(absl::StrCat("cannot finish ", path, ": ", AvErrorString(err)));
  }
  return absl::OkStatus();
}

}  // namespace anifarm
