#include "common/media/test_clip.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/image.h"
#include "common/media/ffmpeg_ptr.h"
#include "common/status_macros.h"

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/dict.h>
}

namespace anifarm {
namespace {

constexpr int kSampleRate = 48000;
constexpr int kChannels = 2;
constexpr double kToneHz = 440.0;

// Owner of an AVDictionary built through AVDictionary** calls.
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

struct Rgb {
  uint8_t r, g, b;
};

// A cel-animation-like picture: flat background, a flat ball with a dark
// outline and a flat box, all placed by `content` so that each id differs.
RgbImage DrawPicture(int width, int height, int content) {
  static constexpr Rgb kBackgrounds[] = {{250, 220, 180}, {180, 220, 250}, {200, 240, 190},
                                         {240, 200, 230}, {250, 245, 170}, {210, 210, 230}};
  static constexpr Rgb kBalls[] = {{230, 60, 50}, {40, 120, 220}, {250, 170, 30}, {90, 180, 70}};
  constexpr Rgb kOutline{25, 20, 35};
  constexpr Rgb kBox{120, 80, 160};
  const int k = content < 0 ? -content : content;
  Rgb background = kBackgrounds[k % 6];
  // Shade the background a little per id so that even ids sharing a
  // palette entry and a position would differ.
  background.r = static_cast<uint8_t>(background.r - (k * 5) % 40);
  const Rgb ball = kBalls[(k / 2) % 4];
  const int radius = std::max(4, height / 4);
  const int span_x = std::max(1, width - 2 * radius - 4);
  const int span_y = std::max(1, height / 3);
  const int cx = radius + 2 + (k * 13) % span_x;
  const int cy = height / 3 + (k * 7) % span_y;
  const int box_w = std::max(4, width / 6);
  const int box_h = std::max(4, height / 6);
  const int box_x = (width - box_w) - (k * 11) % std::max(1, width - box_w);
  const int box_y = height - box_h - 2;
  const int outer = (radius + 2) * (radius + 2);
  const int inner = radius * radius;

  RgbImage image(width, height);
  for (int y = 0; y < height; ++y) {
    uint8_t* row = image.row(y);
    for (int x = 0; x < width; ++x) {
      Rgb c = background;
      if (x >= box_x && x < box_x + box_w && y >= box_y && y < box_y + box_h) {
        const bool edge = x == box_x || x == box_x + box_w - 1 || y == box_y ||
                          y == box_y + box_h - 1;
        c = edge ? kOutline : kBox;
      }
      const int d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
      if (d2 <= inner) {
        c = ball;
      } else if (d2 <= outer) {
        c = kOutline;
      }
      row[3 * x] = c.r;
      row[3 * x + 1] = c.g;
      row[3 * x + 2] = c.b;
    }
  }
  return image;
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
                               const AVCodec* encoder, Dict& options) {
  if (output->oformat->flags & AVFMT_GLOBALHEADER) {
    codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  }
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

}  // namespace

std::vector<int> DefaultTestPattern(int frames) {
  std::vector<int> content(frames > 0 ? frames : 0);
  constexpr int kRepeatedTail = 8;
  for (int i = 0; i < frames; ++i) content[i] = i / 2;
  // The tail shows the opening pictures again (0,0,1,1,2,2,3,3), so some
  // duplicates are far apart, across chunk boundaries.
  if (frames > 2 * kRepeatedTail) {
    for (int i = frames - kRepeatedTail; i < frames; ++i) {
      content[i] = (i - (frames - kRepeatedTail)) / 2;
    }
  }
  return content;
}

absl::Status WriteTestClip(const std::string& path, const TestClipSpec& spec) {
  const std::vector<int> content = spec.content.empty() ? DefaultTestPattern(48) : spec.content;
  if (spec.width < 2 || spec.height < 2 || spec.width % 2 || spec.height % 2) {
    return absl::InvalidArgumentError(absl::StrCat("test clip size ", spec.width, "x",
                                                   spec.height, " must be even"));
  }
  if (spec.fps <= 0 || spec.gop <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("test clip fps ", spec.fps, " and gop ", spec.gop, " must be positive"));
  }

  AVFormatContext* raw = nullptr;
  int err = avformat_alloc_output_context2(&raw, nullptr, nullptr, path.c_str());
  if (err < 0 || !raw) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot choose a container for ", path, " from its extension"));
  }
  OutputFormatPtr output(raw);

  // Video: lossless H.264, so equal pictures decode to equal pixels.
  const AVCodec* x264 = avcodec_find_encoder_by_name("libx264");
  if (!x264) return absl::UnimplementedError("libavcodec was built without libx264");
  CodecContextPtr video_codec(avcodec_alloc_context3(x264));
  if (!video_codec) return absl::ResourceExhaustedError("cannot allocate an encoder");
  const bool hd = spec.height >= 720;
  video_codec->width = spec.width;
  video_codec->height = spec.height;
  video_codec->pix_fmt = AV_PIX_FMT_YUV420P;
  video_codec->time_base = AVRational{1, spec.fps};
  video_codec->framerate = AVRational{spec.fps, 1};
  video_codec->sample_aspect_ratio = AVRational{1, 1};
  video_codec->gop_size = spec.gop;
  video_codec->keyint_min = spec.gop;
  video_codec->max_b_frames = 0;
  video_codec->colorspace = hd ? AVCOL_SPC_BT709 : AVCOL_SPC_SMPTE170M;
  video_codec->color_primaries = hd ? AVCOL_PRI_BT709 : AVCOL_PRI_SMPTE170M;
  video_codec->color_trc = hd ? AVCOL_TRC_BT709 : AVCOL_TRC_SMPTE170M;
  video_codec->color_range = AVCOL_RANGE_MPEG;
  Dict video_options;
  video_options.Set("preset", "ultrafast");
  video_options.Set("qp", "0");
  // Keyframes exactly every `gop` frames and closed GOPs: chunk boundaries in
  // tests land where they expect.
  video_options.Set("x264-params", "scenecut=0:open-gop=0");
  ASSIGN_OR_RETURN(Track video,
                   AddTrack(output.get(), std::move(video_codec), x264, video_options));
  video.stream->avg_frame_rate = AVRational{spec.fps, 1};

  Track audio;
  if (spec.audio) {
    const AVCodec* aac = avcodec_find_encoder_by_name("aac");
    if (!aac) return absl::UnimplementedError("libavcodec was built without the aac encoder");
    CodecContextPtr audio_codec(avcodec_alloc_context3(aac));
    if (!audio_codec) return absl::ResourceExhaustedError("cannot allocate an encoder");
    audio_codec->sample_fmt = AV_SAMPLE_FMT_FLTP;
    audio_codec->sample_rate = kSampleRate;
    av_channel_layout_default(&audio_codec->ch_layout, kChannels);
    audio_codec->bit_rate = 128000;
    audio_codec->time_base = AVRational{1, kSampleRate};
    Dict audio_options;
    ASSIGN_OR_RETURN(audio, AddTrack(output.get(), std::move(audio_codec), aac, audio_options));
  }

  if (!(output->oformat->flags & AVFMT_NOFILE)) {
    err = avio_open(&output->pb, path.c_str(), AVIO_FLAG_WRITE);
    if (err < 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create ", path, ": ", AvErrorString(err)));
    }
  }
  err = avformat_write_header(output.get(), nullptr);
  if (err < 0) {
    return absl::InternalError(
        absl::StrCat("cannot write the header of ", path, ": ", AvErrorString(err)));
  }

  SwsPtr sws(sws_getContext(spec.width, spec.height, AV_PIX_FMT_RGB24, spec.width, spec.height,
                            AV_PIX_FMT_YUV420P, SWS_BICUBIC | SWS_ACCURATE_RND, nullptr, nullptr,
                            nullptr));
  if (!sws) return absl::InternalError("cannot create the RGB converter");
  const int* coefficients = sws_getCoefficients(hd ? SWS_CS_ITU709 : SWS_CS_ITU601);
  sws_setColorspaceDetails(sws.get(), coefficients, 1, coefficients, 0, 0, 1 << 16, 1 << 16);

  // Audio lasts exactly as long as the video: frames * 48000 / fps samples.
  const int64_t frames = static_cast<int64_t>(content.size());
  const int64_t total_samples = frames * kSampleRate / spec.fps;
  int64_t samples_written = 0;
  // The AAC encoder takes whole frames only, except for a short last one.
  auto write_audio_until = [&](int64_t until, bool last) -> absl::Status {
    if (!spec.audio) return absl::OkStatus();
    const int frame_size = audio.codec->frame_size > 0 ? audio.codec->frame_size : 1024;
    while (samples_written < until) {
      const int n = static_cast<int>(std::min<int64_t>(frame_size, until - samples_written));
      if (n < frame_size && !last) break;
      FramePtr frame = MakeFrame();
      if (!frame) return absl::ResourceExhaustedError("cannot allocate a frame");
      frame->format = AV_SAMPLE_FMT_FLTP;
      frame->sample_rate = kSampleRate;
      frame->nb_samples = n;
      av_channel_layout_copy(&frame->ch_layout, &audio.codec->ch_layout);
      if (av_frame_get_buffer(frame.get(), 0) < 0) {
        return absl::ResourceExhaustedError("cannot allocate audio samples");
      }
      for (int i = 0; i < n; ++i) {
        const double t = static_cast<double>(samples_written + i) / kSampleRate;
        const float v = static_cast<float>(0.25 * std::sin(2 * M_PI * kToneHz * t));
        for (int c = 0; c < kChannels; ++c) reinterpret_cast<float*>(frame->data[c])[i] = v;
      }
      frame->pts = samples_written;
      RETURN_IF_ERROR(Send(audio, frame.get(), path));
      RETURN_IF_ERROR(WritePackets(output.get(), audio, path));
      samples_written += n;
    }
    return absl::OkStatus();
  };

  for (int64_t i = 0; i < frames; ++i) {
    const RgbImage picture = DrawPicture(spec.width, spec.height, content[i]);
    // A fresh frame each time: the encoder may keep a reference to the last.
    FramePtr frame = MakeFrame();
    if (!frame) return absl::ResourceExhaustedError("cannot allocate a frame");
    frame->format = AV_PIX_FMT_YUV420P;
    frame->width = spec.width;
    frame->height = spec.height;
    if (av_frame_get_buffer(frame.get(), 0) < 0) {
      return absl::ResourceExhaustedError("cannot allocate a picture");
    }
    const uint8_t* src[1] = {picture.pixels.data()};
    const int src_stride[1] = {spec.width * 3};
    sws_scale(sws.get(), src, src_stride, 0, spec.height, frame->data, frame->linesize);
    frame->pts = i;
    RETURN_IF_ERROR(Send(video, frame.get(), path));
    RETURN_IF_ERROR(WritePackets(output.get(), video, path));
    RETURN_IF_ERROR(write_audio_until((i + 1) * kSampleRate / spec.fps, false));
  }
  RETURN_IF_ERROR(write_audio_until(total_samples, true));
  RETURN_IF_ERROR(Send(video, nullptr, path));
  RETURN_IF_ERROR(WritePackets(output.get(), video, path));
  if (spec.audio) {
    RETURN_IF_ERROR(Send(audio, nullptr, path));
    RETURN_IF_ERROR(WritePackets(output.get(), audio, path));
  }
  err = av_write_trailer(output.get());
  if (err < 0) {
    return absl::InternalError(absl::StrCat("cannot finish ", path, ": ", AvErrorString(err)));
  }
  return absl::OkStatus();
}

}  // namespace anifarm
