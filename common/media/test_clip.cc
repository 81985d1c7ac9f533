#include "common/media/test_clip.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/image.h"
#include "common/media/ffmpeg_ptr.h"
#include "common/status_macros.h"

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/display.h>
#include <libavutil/mastering_display_metadata.h>
#include <libavutil/dict.h>
#include <libavutil/mem.h>
#include <libavutil/samplefmt.h>
}

namespace anifarm {
namespace {

constexpr int kSampleRate = 48000;
constexpr int kChannels = 2;
constexpr double kToneHz = 440.0;

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
        const bool edge =
            x == box_x || x == box_x + box_w - 1 || y == box_y || y == box_y + box_h - 1;
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
                               const AVCodec* encoder, AvDictionary& options) {
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

// Stream extradata (ASS header, attachment bytes), padded as libavcodec wants.
absl::Status SetExtradata(AVCodecParameters* par, const std::string& bytes) {
  par->extradata = static_cast<uint8_t*>(av_mallocz(bytes.size() + AV_INPUT_BUFFER_PADDING_SIZE));
  if (!par->extradata) return absl::ResourceExhaustedError("cannot allocate extradata");
  std::memcpy(par->extradata, bytes.data(), bytes.size());
  par->extradata_size = static_cast<int>(bytes.size());
  return absl::OkStatus();
}

// Chapters belong to the context, which frees them (and the array) itself.
absl::Status AddChapter(AVFormatContext* output, int id, AVRational time_base, int64_t start,
                        int64_t end, const std::string& title) {
  void* grown = av_realloc_array(output->chapters, output->nb_chapters + 1, sizeof(AVChapter*));
  if (!grown) return absl::ResourceExhaustedError("cannot allocate chapters");
  output->chapters = static_cast<AVChapter**>(grown);
  auto* chapter = static_cast<AVChapter*>(av_mallocz(sizeof(AVChapter)));
  if (!chapter) return absl::ResourceExhaustedError("cannot allocate a chapter");
  chapter->id = id;
  chapter->time_base = time_base;
  chapter->start = start;
  chapter->end = end;
  av_dict_set(&chapter->metadata, "title", title.c_str(), 0);
  output->chapters[output->nb_chapters++] = chapter;
  return absl::OkStatus();
}

}  // namespace

std::string TestFontBytes() {
  std::string bytes("\x00\x01\x00\x00", 4);  // the TrueType version tag
  for (int i = 0; i < 252; ++i) bytes.push_back(static_cast<char>(i * 7 + 3));
  return bytes;
}

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
    return absl::InvalidArgumentError(
        absl::StrCat("test clip size ", spec.width, "x", spec.height, " must be even"));
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
  const AVPixelFormat pix_fmt = spec.hdr10 ? AV_PIX_FMT_YUV420P10LE : AV_PIX_FMT_YUV420P;
  video_codec->pix_fmt = pix_fmt;
  video_codec->time_base = AVRational{1, spec.fps};
  video_codec->framerate = AVRational{spec.fps, 1};
  video_codec->sample_aspect_ratio = AVRational{spec.sample_aspect_num, spec.sample_aspect_den};
  video_codec->gop_size = spec.gop;
  video_codec->keyint_min = spec.gop;
  video_codec->max_b_frames = 0;
  video_codec->colorspace = hd ? AVCOL_SPC_BT709 : AVCOL_SPC_SMPTE170M;
  video_codec->color_primaries = hd ? AVCOL_PRI_BT709 : AVCOL_PRI_SMPTE170M;
  video_codec->color_trc = hd ? AVCOL_TRC_BT709 : AVCOL_TRC_SMPTE170M;
  video_codec->color_range = AVCOL_RANGE_MPEG;
  if (spec.hdr10) {
    video_codec->colorspace = AVCOL_SPC_BT2020_NCL;
    video_codec->color_primaries = AVCOL_PRI_BT2020;
    video_codec->color_trc = AVCOL_TRC_SMPTE2084;
  }
  AvDictionary video_options;
  video_options.Set("preset", "ultrafast");
  video_options.Set("qp", "0");
  // Keyframes exactly every `gop` frames and closed GOPs: chunk boundaries in
  // tests land where they expect.
  video_options.Set("x264-params", "scenecut=0:open-gop=0");
  ASSIGN_OR_RETURN(Track video,
                   AddTrack(output.get(), std::move(video_codec), x264, video_options));
  video.stream->avg_frame_rate = AVRational{spec.fps, 1};
  video.stream->sample_aspect_ratio = AVRational{spec.sample_aspect_num, spec.sample_aspect_den};
  if (spec.rotation != 0) {
    auto* matrix = reinterpret_cast<int32_t*>(
        av_stream_new_side_data(video.stream, AV_PKT_DATA_DISPLAYMATRIX, 9 * sizeof(int32_t)));
    if (!matrix) return absl::ResourceExhaustedError("cannot add a display matrix");
    av_display_rotation_set(matrix, spec.rotation);
  }
  if (spec.hdr10) {
    auto* mastering = reinterpret_cast<AVMasteringDisplayMetadata*>(av_stream_new_side_data(
        video.stream, AV_PKT_DATA_MASTERING_DISPLAY_METADATA, sizeof(AVMasteringDisplayMetadata)));
    if (!mastering) return absl::ResourceExhaustedError("cannot add mastering metadata");
    // BT.2020 primaries (R, G, B) and D65, in the 1/50000 steps HEVC's SEI uses.
    const int primaries[3][2] = {{35400, 14600}, {8500, 39850}, {6550, 2300}};
    for (int c = 0; c < 3; ++c) {
      mastering->display_primaries[c][0] = AVRational{primaries[c][0], 50000};
      mastering->display_primaries[c][1] = AVRational{primaries[c][1], 50000};
    }
    mastering->white_point[0] = AVRational{15635, 50000};
    mastering->white_point[1] = AVRational{16450, 50000};
    mastering->max_luminance = AVRational{kTestMaxLuminance * 10000, 10000};
    mastering->min_luminance = AVRational{kTestMinLuminanceMilli * 10, 10000};
    mastering->has_primaries = 1;
    mastering->has_luminance = 1;
    auto* light = reinterpret_cast<AVContentLightMetadata*>(av_stream_new_side_data(
        video.stream, AV_PKT_DATA_CONTENT_LIGHT_LEVEL, sizeof(AVContentLightMetadata)));
    if (!light) return absl::ResourceExhaustedError("cannot add content light metadata");
    light->MaxCLL = kTestMaxCll;
    light->MaxFALL = kTestMaxFall;
  }

  // Audio tracks: the AAC one of `audio`, then the PCM one of `second_audio`.
  struct AudioTrack {
    Track track;
    double tone_hz;
    int64_t written = 0;
  };
  std::vector<AudioTrack> audio_tracks;
  // `format` NONE: the encoder's first sample format.
  auto add_audio = [&](const char* encoder_name, AVSampleFormat format, double tone,
                       const char* language, const char* title) -> absl::Status {
    const AVCodec* encoder = avcodec_find_encoder_by_name(encoder_name);
    if (!encoder) {
      return absl::UnimplementedError(
          absl::StrCat("libavcodec was built without the ", encoder_name, " encoder"));
    }
    CodecContextPtr audio_codec(avcodec_alloc_context3(encoder));
    if (!audio_codec) return absl::ResourceExhaustedError("cannot allocate an encoder");
    audio_codec->sample_fmt = format != AV_SAMPLE_FMT_NONE ? format
                              : encoder->sample_fmts ? encoder->sample_fmts[0]
                                                     : AV_SAMPLE_FMT_S16;
    audio_codec->sample_rate = kSampleRate;
    av_channel_layout_default(&audio_codec->ch_layout, kChannels);
    // DTS has no rate for 48 kHz stereo below 768 kb/s.
    audio_codec->bit_rate = encoder->id == AV_CODEC_ID_DTS ? 768000 : 128000;
    // libavcodec's own DTS, TrueHD, Opus and Vorbis encoders are "experimental".
    if (encoder->capabilities & AV_CODEC_CAP_EXPERIMENTAL) {
      audio_codec->strict_std_compliance = FF_COMPLIANCE_EXPERIMENTAL;
    }
    audio_codec->time_base = AVRational{1, kSampleRate};
    AvDictionary audio_options;
    ASSIGN_OR_RETURN(Track track,
                     AddTrack(output.get(), std::move(audio_codec), encoder, audio_options));
    av_dict_set(&track.stream->metadata, "language", language, 0);
    av_dict_set(&track.stream->metadata, "title", title, 0);
    audio_tracks.push_back(AudioTrack{std::move(track), tone});
    return absl::OkStatus();
  };
  if (spec.audio) {
    RETURN_IF_ERROR(add_audio(spec.audio_encoder.c_str(),
                              spec.audio_encoder == "aac" ? AV_SAMPLE_FMT_FLTP : AV_SAMPLE_FMT_NONE,
                              kToneHz, "eng", "English"));
  }
  if (spec.second_audio) {
    RETURN_IF_ERROR(add_audio("pcm_s16le", AV_SAMPLE_FMT_S16, 1.5 * kToneHz, "jpn", "Japanese"));
  }

  const bool matroska = std::strcmp(output->oformat->name, "matroska") == 0;
  if ((spec.subtitle_events > 0 || spec.font_attachment) && !matroska) {
    return absl::InvalidArgumentError(
        absl::StrCat("test clip ", path, ": subtitles and attachments need .mkv"));
  }
  const int64_t clip_ms = static_cast<int64_t>(content.size()) * 1000 / spec.fps;
  // ASS subtitles: the script header as extradata, one event per packet.
  AVStream* subtitles = nullptr;
  if (spec.subtitle_events > 0) {
    subtitles = avformat_new_stream(output.get(), nullptr);
    if (!subtitles) return absl::ResourceExhaustedError("cannot add a stream");
    subtitles->codecpar->codec_type = AVMEDIA_TYPE_SUBTITLE;
    subtitles->codecpar->codec_id = AV_CODEC_ID_ASS;
    subtitles->time_base = AVRational{1, 1000};
    const std::string header =
        "[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n"
        "[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, "
        "OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, "
        "Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, "
        "Encoding\nStyle: Default,Test Font,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,"
        "0,0,0,100,100,0,0,1,1,0,2,10,10,10,1\n\n"
        "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, "
        "Effect, Text\n";
    RETURN_IF_ERROR(SetExtradata(subtitles->codecpar, header));
    av_dict_set(&subtitles->metadata, "language", "eng", 0);
    av_dict_set(&subtitles->metadata, "title", "Signs & Songs", 0);
  }
  if (spec.font_attachment) {
    AVStream* font = avformat_new_stream(output.get(), nullptr);
    if (!font) return absl::ResourceExhaustedError("cannot add a stream");
    font->codecpar->codec_type = AVMEDIA_TYPE_ATTACHMENT;
    font->codecpar->codec_id = AV_CODEC_ID_TTF;
    RETURN_IF_ERROR(SetExtradata(font->codecpar, TestFontBytes()));
    av_dict_set(&font->metadata, "filename", "TestFont.ttf", 0);
    av_dict_set(&font->metadata, "mimetype", "application/x-truetype-font", 0);
  }
  for (int c = 0; c < spec.chapters; ++c) {
    RETURN_IF_ERROR(AddChapter(output.get(), c, AVRational{1, 1000}, clip_ms * c / spec.chapters,
                               clip_ms * (c + 1) / spec.chapters, absl::StrCat("Part ", c + 1)));
  }
  if (!spec.title.empty()) av_dict_set(&output->metadata, "title", spec.title.c_str(), 0);

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
                            pix_fmt, SWS_BICUBIC | SWS_ACCURATE_RND, nullptr, nullptr,
                            nullptr));
  if (!sws) return absl::InternalError("cannot create the RGB converter");
  const int* coefficients = sws_getCoefficients(hd ? SWS_CS_ITU709 : SWS_CS_ITU601);
  sws_setColorspaceDetails(sws.get(), coefficients, 1, coefficients, 0, 0, 1 << 16, 1 << 16);

  // Audio lasts exactly as long as the video: frames * 48000 / fps samples.
  const int64_t frames = static_cast<int64_t>(content.size());
  const int64_t total_samples = frames * kSampleRate / spec.fps;
  int64_t samples_written = 0;
  // Encoders take whole frames only, except for a short last one where they
  // say they can (AC-3, DTS... cannot: their last frame is padded with silence).
  auto write_audio_until = [&](int64_t until, bool last) -> absl::Status {
    for (AudioTrack& audio : audio_tracks) {
      const AVCodecContext& codec = *audio.track.codec;
      const int frame_size = codec.frame_size > 0 ? codec.frame_size : 1024;
      const bool short_last =
          codec.frame_size <= 0 ||
          (codec.codec->capabilities &
           (AV_CODEC_CAP_SMALL_LAST_FRAME | AV_CODEC_CAP_VARIABLE_FRAME_SIZE));
      const AVSampleFormat format = codec.sample_fmt;
      const AVSampleFormat packed = av_get_packed_sample_fmt(format);
      const bool planar = av_sample_fmt_is_planar(format);
      while (audio.written < until) {
        const int n = static_cast<int>(std::min<int64_t>(frame_size, until - audio.written));
        if (n < frame_size && !last) break;
        FramePtr frame = MakeFrame();
        if (!frame) return absl::ResourceExhaustedError("cannot allocate a frame");
        frame->format = format;
        frame->sample_rate = kSampleRate;
        frame->nb_samples = short_last ? n : frame_size;
        av_channel_layout_copy(&frame->ch_layout, &audio.track.codec->ch_layout);
        if (av_frame_get_buffer(frame.get(), 0) < 0) {
          return absl::ResourceExhaustedError("cannot allocate audio samples");
        }
        for (int i = 0; i < frame->nb_samples; ++i) {
          const double t = static_cast<double>(audio.written + i) / kSampleRate;
          const double v = i < n ? 0.25 * std::sin(2 * M_PI * audio.tone_hz * t) : 0.0;
          for (int c = 0; c < kChannels; ++c) {
            uint8_t* plane = frame->data[planar ? c : 0];
            const int at = planar ? i : i * kChannels + c;
            switch (packed) {
              case AV_SAMPLE_FMT_U8:
                plane[at] = static_cast<uint8_t>(128 + v * 127);
                break;
              case AV_SAMPLE_FMT_S16:
                reinterpret_cast<int16_t*>(plane)[at] = static_cast<int16_t>(v * 32767);
                break;
              case AV_SAMPLE_FMT_S32:
                reinterpret_cast<int32_t*>(plane)[at] = static_cast<int32_t>(v * 2147483647.0);
                break;
              case AV_SAMPLE_FMT_DBL:
                reinterpret_cast<double*>(plane)[at] = v;
                break;
              default:  // FLT
                reinterpret_cast<float*>(plane)[at] = static_cast<float>(v);
                break;
            }
          }
        }
        frame->pts = audio.written;
        RETURN_IF_ERROR(Send(audio.track, frame.get(), path));
        RETURN_IF_ERROR(WritePackets(output.get(), audio.track, path));
        audio.written += frame->nb_samples;
      }
    }
    return absl::OkStatus();
  };
  // Subtitle events share the clip equally, each shown for most of its slot.
  int events_written = 0;
  auto write_subtitles_until = [&](int64_t until_ms) -> absl::Status {
    while (subtitles && events_written < spec.subtitle_events) {
      const int64_t slot = clip_ms / spec.subtitle_events;
      const int64_t start = slot * events_written + slot / 10;
      if (start > until_ms) break;
      const std::string text = absl::StrCat(events_written, ",0,Default,,0,0,0,,",
                                            events_written % 2 ? "{\\i1}Line " : "Line ",
                                            events_written + 1, events_written % 2 ? "{\\i0}" : "");
      PacketPtr packet = MakePacket();
      if (!packet || av_new_packet(packet.get(), static_cast<int>(text.size())) < 0) {
        return absl::ResourceExhaustedError("cannot allocate a packet");
      }
      std::memcpy(packet->data, text.data(), text.size());
      packet->stream_index = subtitles->index;
      packet->pts = packet->dts = av_rescale_q(start, AVRational{1, 1000}, subtitles->time_base);
      packet->duration = av_rescale_q(slot * 8 / 10, AVRational{1, 1000}, subtitles->time_base);
      packet->flags |= AV_PKT_FLAG_KEY;
      const int write_err = av_interleaved_write_frame(output.get(), packet.get());
      if (write_err < 0) {
        return absl::InternalError(
            absl::StrCat("cannot write ", path, ": ", AvErrorString(write_err)));
      }
      ++events_written;
    }
    return absl::OkStatus();
  };

  for (int64_t i = 0; i < frames; ++i) {
    const RgbImage picture = DrawPicture(spec.width, spec.height, content[i]);
    // A fresh frame each time: the encoder may keep a reference to the last.
    FramePtr frame = MakeFrame();
    if (!frame) return absl::ResourceExhaustedError("cannot allocate a frame");
    frame->format = pix_fmt;
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
    RETURN_IF_ERROR(write_subtitles_until((i + 1) * 1000 / spec.fps));
  }
  RETURN_IF_ERROR(write_audio_until(total_samples, true));
  RETURN_IF_ERROR(write_subtitles_until(clip_ms));
  RETURN_IF_ERROR(Send(video, nullptr, path));
  RETURN_IF_ERROR(WritePackets(output.get(), video, path));
  for (AudioTrack& audio : audio_tracks) {
    RETURN_IF_ERROR(Send(audio.track, nullptr, path));
    RETURN_IF_ERROR(WritePackets(output.get(), audio.track, path));
  }
  err = av_write_trailer(output.get());
  if (err < 0) {
    return absl::InternalError(absl::StrCat("cannot finish ", path, ": ", AvErrorString(err)));
  }
  return absl::OkStatus();
}

}  // namespace anifarm
