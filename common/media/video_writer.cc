#include "common/media/video_writer.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/media/stream_plan.h"
#include "common/scoped_file.h"
#include "common/status_macros.h"

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/dict.h>
#include <libavutil/mem.h>
}

namespace anifarm {
namespace {

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

// Tags that describe the old encode of a stream, wrong once it is re-encoded
// (mkvmerge's statistics, the encoder's name, the duration).
bool StaleTag(const char* key) {
  static const char* const kStale[] = {"encoder",          "duration",        "bps",
                                       "number_of_frames", "number_of_bytes", "_statistics_",
                                       "handler_name"};
  std::string k(key);
  for (char& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* stale : kStale) {
    if (k.rfind(stale, 0) == 0) return true;
  }
  return false;
}

// Handler names muxers write when a track has no title ("SoundHandler",
// "Core Media Audio", "GPAC ISO Video Handler"...): not a title to keep.
bool DefaultHandlerName(const std::string& name) {
  std::string n = name;
  for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return n.empty() || n.find("handler") != std::string::npos || n.rfind("core media", 0) == 0 ||
         n.find("iso media") != std::string::npos;
}

void CopyTags(AVDictionary** dst, const AVDictionary* src, bool reencoded) {
  const AVDictionaryEntry* entry = nullptr;
  while ((entry = av_dict_get(src, "", entry, AV_DICT_IGNORE_SUFFIX))) {
    if (reencoded && StaleTag(entry->key)) continue;
    av_dict_set(dst, entry->key, entry->value, 0);
  }
}

// Stream side data of the source picture that the output's video stream
// keeps: how to show the pictures (rotation, HDR10 mastering and light
// levels), which upscaling does not change. The muxers store them where the
// container has a place (MP4/MOV: the track matrix, mdcv/clli; Matroska:
// the Colour element); `containers` lists the muxers that do in libavformat
// 5.1 (checked by tests/unit/media/geometry_test.cc), elsewhere a notice.
struct KeptSideData {
  AVPacketSideDataType type;
  const char* what;
  std::vector<std::string> containers;
};
const std::vector<KeptSideData>& KeptPictureSideData() {
  static const std::vector<KeptSideData> kKept = {
      {AV_PKT_DATA_DISPLAYMATRIX, "the rotation (display matrix)", {"mp4", "mov"}},
      {AV_PKT_DATA_MASTERING_DISPLAY_METADATA, "the HDR10 mastering display metadata",
       {"mp4", "mov", "matroska"}},
      {AV_PKT_DATA_CONTENT_LIGHT_LEVEL, "the HDR10 content light level",
       {"mp4", "mov", "matroska"}},
  };
  return kKept;
}

}  // namespace

struct VideoWriter::State {
  VideoWriterOptions options;
  std::string encoder_name;
  std::vector<std::string> notices;
  // The file once created, removed unless Finish succeeds (declared before
  // `output`, so the file is closed before it is removed).
  ScopedFile created_file;
  OutputFormatPtr output;
  // Encodes the frames of WriteFrame; null when the video arrives encoded
  // (WritePacket), its packets then in `packet_time_base`.
  std::unique_ptr<VideoEncoder> encoder;
  AVRational packet_time_base{1, 1};
  AVStream* video_stream = nullptr;  // owned by `output`
  int64_t last_dts = AV_NOPTS_VALUE;  // of the video, in video_stream's time base

  // One stream of the source kept in the output.
  struct Side {
    enum class Kind { kCopy, kAudioToAac, kTextConvert };
    Kind kind = Kind::kCopy;
    int out_index = -1;
    AVRational in_time_base{1, 1};
    CodecContextPtr decoder;  // transcoded streams only
    CodecContextPtr encoder;
    SwrPtr swr;
    AudioFifoPtr fifo;
    int64_t next_pts = AV_NOPTS_VALUE;  // audio, in the encoder's time base
    bool flushed = false;
  };

  // The source: its demuxer, what becomes of each of its streams (index
  // into `sides`, -1 when dropped), and the packet read but not yet written
  // because it lies after the video written so far.
  InputFormatPtr source;
  std::vector<int> side_of_stream;
  std::vector<Side> sides;
  PacketPtr pending;
  bool source_done = true;

  int64_t last_pts = AV_NOPTS_VALUE;
  bool finished = false;
  absl::Status finish_status;

  // How notices and errors name the output: the user's path, not the
  // hidden partial file the assembler writes first.
  const std::string& name() const {
    return options.display_name.empty() ? options.output_path : options.display_name;
  }

  void Notice(std::string text) {
    std::fprintf(stderr, "notice: %s\n", text.c_str());
    notices.push_back(std::move(text));
  }

  absl::Status WriteError(const char* what, int err) {
    return absl::InternalError(
        absl::StrCat("cannot write ", what, " to ", name(), ": ", AvErrorString(err)));
  }

  // Sends `frame` (nullptr: flush) to an audio/subtitle side's encoder and
  // writes what comes out.
  absl::Status EncodeAudio(Side& side, AVFrame* frame) {
    int err = avcodec_send_frame(side.encoder.get(), frame);
    if (err < 0 && !(frame == nullptr && err == AVERROR_EOF)) {
      return absl::InternalError(
          absl::StrCat("AAC encoding for ", name(), " failed: ", AvErrorString(err)));
    }
    PacketPtr out = MakePacket();
    if (!out) return absl::ResourceExhaustedError("cannot allocate a packet");
    while (true) {
      err = avcodec_receive_packet(side.encoder.get(), out.get());
      if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return absl::OkStatus();
      if (err < 0) {
        return absl::InternalError(absl::StrCat("AAC encoding for ", name(),
                                                " failed: ", AvErrorString(err)));
      }
      out->stream_index = side.out_index;
      av_packet_rescale_ts(out.get(), side.encoder->time_base,
                           output->streams[side.out_index]->time_base);
      err = av_interleaved_write_frame(output.get(), out.get());
      if (err < 0) return WriteError("audio", err);
    }
  }

  // Encodes whole AAC frames from the FIFO (and the short rest when `last`).
  absl::Status DrainFifo(Side& side, bool last) {
    const int frame_size = side.encoder->frame_size > 0 ? side.encoder->frame_size : 1024;
    while (av_audio_fifo_size(side.fifo.get()) >= frame_size ||
           (last && av_audio_fifo_size(side.fifo.get()) > 0)) {
      const int n = std::min(frame_size, av_audio_fifo_size(side.fifo.get()));
      FramePtr chunk = MakeFrame();
      if (!chunk) return absl::ResourceExhaustedError("cannot allocate a frame");
      chunk->format = side.encoder->sample_fmt;
      chunk->sample_rate = side.encoder->sample_rate;
      chunk->nb_samples = n;
      av_channel_layout_copy(&chunk->ch_layout, &side.encoder->ch_layout);
      if (av_frame_get_buffer(chunk.get(), 0) < 0) {
        return absl::ResourceExhaustedError("cannot allocate audio samples");
      }
      if (av_audio_fifo_read(side.fifo.get(), reinterpret_cast<void**>(chunk->data), n) != n) {
        return absl::InternalError("audio FIFO read failed");
      }
      chunk->pts = side.next_pts;
      side.next_pts += n;
      RETURN_IF_ERROR(EncodeAudio(side, chunk.get()));
    }
    return absl::OkStatus();
  }

  // Resamples one decoded frame (nullptr: the resampler's tail) into the FIFO.
  absl::Status Resample(Side& side, const AVFrame* decoded) {
    if (decoded && side.next_pts == AV_NOPTS_VALUE) {
      const int64_t ts = decoded->best_effort_timestamp != AV_NOPTS_VALUE
                             ? decoded->best_effort_timestamp
                             : decoded->pts;
      side.next_pts =
          ts == AV_NOPTS_VALUE ? 0 : av_rescale_q(ts, side.in_time_base, side.encoder->time_base);
    }
    if (side.next_pts == AV_NOPTS_VALUE) return absl::OkStatus();  // nothing ever decoded
    if (!side.swr) {
      // Set up from the first decoded frame: its layout is the one to trust.
      AVChannelLayout in_layout;
      if (decoded->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC) {
        av_channel_layout_default(&in_layout, decoded->ch_layout.nb_channels);
      } else {
        av_channel_layout_copy(&in_layout, &decoded->ch_layout);
      }
      SwrContext* swr = nullptr;
      int err = swr_alloc_set_opts2(&swr, &side.encoder->ch_layout, side.encoder->sample_fmt,
                                    side.encoder->sample_rate, &in_layout,
                                    static_cast<AVSampleFormat>(decoded->format),
                                    decoded->sample_rate, 0, nullptr);
      av_channel_layout_uninit(&in_layout);
      side.swr.reset(swr);
      if (err >= 0) err = swr_init(swr);
      if (err < 0) {
        return absl::InternalError(absl::StrCat("cannot set up audio resampling for ",
                                                name(), ": ", AvErrorString(err)));
      }
    }
    // swr_convert, not swr_convert_frame: the latter refuses frames whose
    // layout is "unspecified" (PCM from Matroska) once we gave it a real one.
    const int in_samples = decoded ? decoded->nb_samples : 0;
    const int capacity = swr_get_out_samples(side.swr.get(), in_samples);
    if (capacity <= 0) return absl::OkStatus();
    FramePtr converted = MakeFrame();
    if (!converted) return absl::ResourceExhaustedError("cannot allocate a frame");
    converted->format = side.encoder->sample_fmt;
    converted->sample_rate = side.encoder->sample_rate;
    converted->nb_samples = capacity;
    av_channel_layout_copy(&converted->ch_layout, &side.encoder->ch_layout);
    if (av_frame_get_buffer(converted.get(), 0) < 0) {
      return absl::ResourceExhaustedError("cannot allocate audio samples");
    }
    const int got = swr_convert(
        side.swr.get(), converted->extended_data, capacity,
        decoded ? const_cast<const uint8_t**>(decoded->extended_data) : nullptr, in_samples);
    if (got < 0) {
      return absl::InternalError(absl::StrCat("resampling audio for ", name(),
                                              " failed: ", AvErrorString(got)));
    }
    if (got > 0 &&
        av_audio_fifo_write(side.fifo.get(), reinterpret_cast<void**>(converted->extended_data),
                            got) < got) {
      return absl::ResourceExhaustedError("cannot grow the audio FIFO");
    }
    return absl::OkStatus();
  }

  // Decodes `packet` (nullptr: flush) of a transcoded audio side.
  absl::Status TranscodeAudio(Side& side, const AVPacket* packet) {
    int err = avcodec_send_packet(side.decoder.get(), packet);
    if (err < 0 && err != AVERROR_EOF) {
      // A damaged packet costs its samples, not the job.
      if (packet) return absl::OkStatus();
      return absl::InternalError(
          absl::StrCat("cannot flush the audio decoder: ", AvErrorString(err)));
    }
    FramePtr decoded = MakeFrame();
    if (!decoded) return absl::ResourceExhaustedError("cannot allocate a frame");
    while (true) {
      err = avcodec_receive_frame(side.decoder.get(), decoded.get());
      if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) break;
      if (err < 0) {
        return absl::DataLossError(absl::StrCat(
            "cannot decode audio of ", options.audio_source_path, ": ", AvErrorString(err)));
      }
      RETURN_IF_ERROR(Resample(side, decoded.get()));
      av_frame_unref(decoded.get());
      RETURN_IF_ERROR(DrainFifo(side, /*last=*/false));
    }
    if (!packet) {
      RETURN_IF_ERROR(Resample(side, nullptr));
      RETURN_IF_ERROR(DrainFifo(side, /*last=*/true));
      RETURN_IF_ERROR(EncodeAudio(side, nullptr));
    }
    return absl::OkStatus();
  }

  // Text subtitle packet -> mov_text packet.
  absl::Status ConvertSubtitle(Side& side, AVPacket& packet) {
    AVSubtitle subtitle;
    int got = 0;
    int err = avcodec_decode_subtitle2(side.decoder.get(), &subtitle, &got, &packet);
    if (err < 0 || !got) return absl::OkStatus();  // a broken event is skipped
    std::vector<uint8_t> buffer(64 * 1024);
    const int size = avcodec_encode_subtitle(side.encoder.get(), buffer.data(),
                                             static_cast<int>(buffer.size()), &subtitle);
    const uint32_t end_ms = subtitle.end_display_time;
    avsubtitle_free(&subtitle);
    if (size <= 0) return absl::OkStatus();
    PacketPtr out = MakePacket();
    if (!out || av_new_packet(out.get(), size) < 0) {
      return absl::ResourceExhaustedError("cannot allocate a packet");
    }
    std::memcpy(out->data, buffer.data(), size);
    AVStream* stream = output->streams[side.out_index];
    out->stream_index = side.out_index;
    out->pts = packet.pts == AV_NOPTS_VALUE
                   ? AV_NOPTS_VALUE
                   : av_rescale_q(packet.pts, side.in_time_base, stream->time_base);
    out->dts = out->pts;
    out->duration = packet.duration > 0
                        ? av_rescale_q(packet.duration, side.in_time_base, stream->time_base)
                        : av_rescale_q(end_ms, AVRational{1, 1000}, stream->time_base);
    err = av_interleaved_write_frame(output.get(), out.get());
    if (err < 0) return WriteError("subtitles", err);
    return absl::OkStatus();
  }

  // Writes source packets (audio, subtitles) up to and including `seconds`.
  absl::Status WriteSourceUntil(double seconds) {
    while (!source_done) {
      if (!pending) {
        PacketPtr next = MakePacket();
        if (!next) return absl::ResourceExhaustedError("cannot allocate a packet");
        const int err = av_read_frame(source.get(), next.get());
        if (err == AVERROR_EOF) {
          source_done = true;
          break;
        }
        if (err < 0) {
          return absl::DataLossError(
              absl::StrCat("cannot read ", options.audio_source_path, ": ", AvErrorString(err)));
        }
        if (next->stream_index < 0 ||
            next->stream_index >= static_cast<int>(side_of_stream.size()) ||
            side_of_stream[next->stream_index] < 0) {
          continue;
        }
        pending = std::move(next);
      }
      const AVStream* in = source->streams[pending->stream_index];
      if (PacketSeconds(*pending, in->time_base) > seconds) break;
      PacketPtr packet = std::move(pending);
      Side& side = sides[side_of_stream[packet->stream_index]];
      switch (side.kind) {
        case Side::Kind::kCopy: {
          packet->stream_index = side.out_index;
          packet->pos = -1;
          av_packet_rescale_ts(packet.get(), in->time_base,
                               output->streams[side.out_index]->time_base);
          const int err = av_interleaved_write_frame(output.get(), packet.get());
          if (err < 0) return WriteError("a copied stream", err);
          break;
        }
        case Side::Kind::kAudioToAac:
          RETURN_IF_ERROR(TranscodeAudio(side, packet.get()));
          break;
        case Side::Kind::kTextConvert:
          RETURN_IF_ERROR(ConvertSubtitle(side, *packet));
          break;
      }
    }
    if (source_done && seconds == std::numeric_limits<double>::infinity()) {
      for (Side& side : sides) {
        if (side.kind == Side::Kind::kAudioToAac && !side.flushed) {
          side.flushed = true;
          RETURN_IF_ERROR(TranscodeAudio(side, nullptr));
        }
      }
    }
    return absl::OkStatus();
  }

  // Writes one video packet (timestamps in `time_base`), the source's other
  // streams first up to its decode time so that they stay interleaved.
  absl::Status WriteVideoPacket(AVPacket& packet, AVRational time_base) {
    RETURN_IF_ERROR(WriteSourceUntil(PacketSeconds(packet, time_base)));
    packet.stream_index = video_stream->index;
    packet.pos = -1;
    av_packet_rescale_ts(&packet, time_base, video_stream->time_base);
    // Joined segments: each encoder starts its decode times a reorder delay
    // before its first picture. Where that reaches back into the previous
    // segment's last decode time, move it just after (never past its pts).
    if (last_dts != AV_NOPTS_VALUE && packet.dts != AV_NOPTS_VALUE && packet.dts <= last_dts) {
      if (packet.pts != AV_NOPTS_VALUE && packet.pts <= last_dts) {
        return absl::InvalidArgumentError(absl::StrCat(
            "video packet at pts ", packet.pts, " cannot follow decode time ", last_dts, " in ",
            name()));
      }
      packet.dts = last_dts + 1;
    }
    if (packet.dts != AV_NOPTS_VALUE) last_dts = packet.dts;
    const int write_err = av_interleaved_write_frame(output.get(), &packet);
    if (write_err < 0) return WriteError("video", write_err);
    return absl::OkStatus();
  }

  // A stream's title, both ways across containers. MP4/MOV: the muxer
  // writes the title as the track's udta "name", which libavformat (and so
  // most players) does not read back; what they show as the track's name is
  // the handler name, so it carries the title. From an MP4/MOV source the
  // title is that handler name, unless it is a muxer's default.
  void KeepTitle(const AVStream& in, AVStream* out) const {
    const AVDictionaryEntry* title = av_dict_get(in.metadata, "title", nullptr, 0);
    const AVDictionaryEntry* handler = av_dict_get(in.metadata, "handler_name", nullptr, 0);
    if (!title && handler && !DefaultHandlerName(handler->value)) title = handler;
    if (!title) return;
    const std::string muxer = output->oformat->name;
    av_dict_set(&out->metadata, muxer == "mp4" || muxer == "mov" ? "handler_name" : "title",
                title->value, 0);
  }

  absl::StatusOr<AVStream*> NewStream(const AVStream& in, bool reencoded) {
    AVStream* out = avformat_new_stream(output.get(), nullptr);
    if (!out) return absl::ResourceExhaustedError("cannot add a stream");
    out->time_base = in.time_base;
    out->disposition = in.disposition;
    if (options.copy_metadata) {
      CopyTags(&out->metadata, in.metadata, reencoded);
      KeepTitle(in, out);
    }
    return out;
  }

  absl::Status AddCopy(int in_index) {
    AVStream* in = source->streams[in_index];
    ASSIGN_OR_RETURN(AVStream * out, NewStream(*in, /*reencoded=*/false));
    const int err = avcodec_parameters_copy(out->codecpar, in->codecpar);
    if (err < 0) {
      return absl::InternalError(
          absl::StrCat("cannot copy stream parameters: ", AvErrorString(err)));
    }
    // The source container's tag may mean nothing in the output one.
    out->codecpar->codec_tag = 0;
    Side side;
    side.kind = Side::Kind::kCopy;
    side.out_index = out->index;
    side.in_time_base = in->time_base;
    side_of_stream[in_index] = static_cast<int>(sides.size());
    sides.push_back(std::move(side));
    return absl::OkStatus();
  }

  absl::StatusOr<CodecContextPtr> OpenDecoder(const AVStream& in) {
    const AVCodec* codec = avcodec_find_decoder(in.codecpar->codec_id);
    if (!codec) {
      return absl::UnimplementedError(absl::StrCat("no decoder for stream ", StreamLabel(in),
                                                   " of ", options.audio_source_path));
    }
    CodecContextPtr decoder(avcodec_alloc_context3(codec));
    if (!decoder) return absl::ResourceExhaustedError("cannot allocate a decoder");
    int err = avcodec_parameters_to_context(decoder.get(), in.codecpar);
    if (err >= 0) {
      decoder->pkt_timebase = in.time_base;
      err = avcodec_open2(decoder.get(), codec, nullptr);
    }
    if (err < 0) {
      return absl::InternalError(absl::StrCat("cannot open the decoder of stream ", StreamLabel(in),
                                              ": ", AvErrorString(err)));
    }
    return decoder;
  }

  absl::Status AddAudioToAac(int in_index) {
    AVStream* in = source->streams[in_index];
    Side side;
    side.kind = Side::Kind::kAudioToAac;
    side.in_time_base = in->time_base;
    ASSIGN_OR_RETURN(side.decoder, OpenDecoder(*in));
    const AVCodec* aac = avcodec_find_encoder_by_name("aac");
    if (!aac) return absl::UnimplementedError("libavcodec was built without the aac encoder");
    side.encoder.reset(avcodec_alloc_context3(aac));
    AVCodecContext* enc = side.encoder.get();
    if (!enc) return absl::ResourceExhaustedError("cannot allocate an encoder");
    const AVCodecContext* dec = side.decoder.get();
    // The source's rate and layout where AAC has them, else 48 kHz stereo.
    enc->sample_rate = 48000;
    for (const int* rate = aac->supported_samplerates; rate && *rate; ++rate) {
      if (*rate == dec->sample_rate) enc->sample_rate = dec->sample_rate;
    }
    av_channel_layout_default(&enc->ch_layout, 2);
    for (const AVChannelLayout* layout = aac->ch_layouts; layout && layout->nb_channels; ++layout) {
      if (layout->nb_channels == dec->ch_layout.nb_channels) {
        av_channel_layout_uninit(&enc->ch_layout);
        av_channel_layout_copy(&enc->ch_layout, layout);
        break;
      }
    }
    enc->sample_fmt = AV_SAMPLE_FMT_FLTP;
    enc->bit_rate = 64000LL * enc->ch_layout.nb_channels;
    enc->time_base = AVRational{1, enc->sample_rate};
    if (output->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    int err = avcodec_open2(enc, aac, nullptr);
    if (err < 0) {
      return absl::InternalError(absl::StrCat("cannot open the AAC encoder for stream ",
                                              StreamLabel(*in), ": ", AvErrorString(err)));
    }
    side.fifo.reset(av_audio_fifo_alloc(enc->sample_fmt, enc->ch_layout.nb_channels, 4096));
    if (!side.fifo) return absl::ResourceExhaustedError("cannot allocate the audio FIFO");

    ASSIGN_OR_RETURN(AVStream * out, NewStream(*in, /*reencoded=*/true));
    err = avcodec_parameters_from_context(out->codecpar, enc);
    if (err < 0) {
      return absl::InternalError(absl::StrCat("cannot set audio parameters: ", AvErrorString(err)));
    }
    out->time_base = enc->time_base;
    side.out_index = out->index;
    side_of_stream[in_index] = static_cast<int>(sides.size());
    sides.push_back(std::move(side));
    return absl::OkStatus();
  }

  // Text subtitles the container refuses -> `target` (mov_text, ASS).
  absl::Status AddTextConvert(int in_index, AVCodecID target) {
    AVStream* in = source->streams[in_index];
    Side side;
    side.kind = Side::Kind::kTextConvert;
    side.in_time_base = in->time_base;
    ASSIGN_OR_RETURN(side.decoder, OpenDecoder(*in));
    const AVCodec* text_encoder = avcodec_find_encoder(target);
    if (!text_encoder) {
      return absl::UnimplementedError(
          absl::StrCat("libavcodec was built without ", avcodec_get_name(target)));
    }
    side.encoder.reset(avcodec_alloc_context3(text_encoder));
    AVCodecContext* enc = side.encoder.get();
    if (!enc) return absl::ResourceExhaustedError("cannot allocate an encoder");
    enc->time_base = in->time_base;
    // The encoder takes its styles from the ASS header the decoder made.
    const AVCodecContext* dec = side.decoder.get();
    if (dec->subtitle_header && dec->subtitle_header_size > 0) {
      enc->subtitle_header = static_cast<uint8_t*>(av_mallocz(dec->subtitle_header_size + 1));
      if (!enc->subtitle_header) return absl::ResourceExhaustedError("out of memory");
      std::memcpy(enc->subtitle_header, dec->subtitle_header, dec->subtitle_header_size);
      enc->subtitle_header_size = dec->subtitle_header_size;
    }
    int err = avcodec_open2(enc, text_encoder, nullptr);
    if (err < 0) {
      return absl::InternalError(absl::StrCat("cannot open the ", text_encoder->name,
                                              " encoder for stream ", StreamLabel(*in), ": ",
                                              AvErrorString(err)));
    }
    ASSIGN_OR_RETURN(AVStream * out, NewStream(*in, /*reencoded=*/true));
    err = avcodec_parameters_from_context(out->codecpar, enc);
    if (err < 0) {
      return absl::InternalError(
          absl::StrCat("cannot set subtitle parameters: ", AvErrorString(err)));
    }
    out->time_base = enc->time_base;
    side.out_index = out->index;
    side_of_stream[in_index] = static_cast<int>(sides.size());
    sides.push_back(std::move(side));
    return absl::OkStatus();
  }

  absl::Status OpenSource() {
    const std::string& path = options.audio_source_path;
    AVFormatContext* raw = nullptr;
    int err = OpenLocalInput(&raw, path);
    if (err < 0) return OpenError("open the audio source", path, err);
    source.reset(raw);
    err = avformat_find_stream_info(source.get(), nullptr);
    if (err < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " is not a media file (", AvErrorString(err), ")"));
    }
    // What becomes of each stream: the plan the coordinator checked at submit.
    StreamPlanOptions plan_options;
    plan_options.copy_audio = options.copy_audio;
    plan_options.copy_subtitles = options.copy_subtitles;
    plan_options.copy_attachments = options.copy_attachments;
    plan_options.source_name = path;
    plan_options.output_name = name();
    ASSIGN_OR_RETURN(StreamPlan plan, PlanStreams(*source, *output->oformat, plan_options));
    side_of_stream.assign(source->nb_streams, -1);
    for (unsigned i = 0; i < source->nb_streams; ++i) source->streams[i]->discard = AVDISCARD_ALL;
    // The language and title of the source picture go to the new one, and
    // how to show it (rotation, HDR10 metadata), whatever copy_metadata says.
    for (unsigned i = 0; i < source->nb_streams; ++i) {
      const AVStream* in = source->streams[i];
      if (in->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
          !(in->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
        if (options.copy_metadata) {
          CopyTags(&video_stream->metadata, in->metadata, /*reencoded=*/true);
          KeepTitle(*in, video_stream);
        }
        RETURN_IF_ERROR(KeepSideData(*in));
        break;
      }
    }
    for (const StreamDecision& d : plan.streams) {
      switch (d.action) {
        case StreamAction::kCopy:
          RETURN_IF_ERROR(AddCopy(d.index));
          break;
        case StreamAction::kTranscodeToAac:
          RETURN_IF_ERROR(AddAudioToAac(d.index));
          break;
        case StreamAction::kConvertText:
          RETURN_IF_ERROR(AddTextConvert(d.index, d.target_codec));
          break;
        case StreamAction::kDrop:
          continue;
      }
      source->streams[d.index]->discard = AVDISCARD_DEFAULT;
    }
    for (std::string& notice : plan.notices) Notice(std::move(notice));
    if (options.copy_metadata) CopyTags(&output->metadata, source->metadata, /*reencoded=*/true);
    if (options.copy_chapters) RETURN_IF_ERROR(CopyChapters());
    source_done = sides.empty();
    return absl::OkStatus();
  }

  // The source picture's side data of KeptPictureSideData on the output's
  // video stream (a notice where the container has no place for it).
  absl::Status KeepSideData(const AVStream& in) {
    const std::string muxer = output->oformat->name;
    for (const KeptSideData& kept : KeptPictureSideData()) {
      size_t size = 0;
      const uint8_t* data = av_stream_get_side_data(&in, kept.type, &size);
      if (!data || size == 0) continue;
      if (std::find(kept.containers.begin(), kept.containers.end(), muxer) ==
          kept.containers.end()) {
        Notice(absl::StrCat(name(), ": ", kept.what, " of the source cannot be stored in ",
                            muxer, " and is dropped (use .mp4 or .mov)"));
        continue;
      }
      uint8_t* out = av_stream_new_side_data(video_stream, kept.type, size);
      if (!out) return absl::ResourceExhaustedError("cannot allocate stream side data");
      std::memcpy(out, data, size);
    }
    return absl::OkStatus();
  }

  absl::Status CopyChapters() {
    if (source->nb_chapters == 0) return absl::OkStatus();
    auto** chapters = static_cast<AVChapter**>(av_calloc(source->nb_chapters, sizeof(AVChapter*)));
    if (!chapters) return absl::ResourceExhaustedError("cannot allocate chapters");
    // Owned by the output context from here (avformat_free_context frees
    // each chapter, its metadata and the array).
    output->chapters = chapters;
    output->nb_chapters = 0;
    for (unsigned i = 0; i < source->nb_chapters; ++i) {
      const AVChapter* in = source->chapters[i];
      auto* out = static_cast<AVChapter*>(av_mallocz(sizeof(AVChapter)));
      if (!out) return absl::ResourceExhaustedError("cannot allocate a chapter");
      out->id = in->id;
      out->time_base = in->time_base;
      out->start = in->start;
      out->end = in->end;
      av_dict_copy(&out->metadata, in->metadata, 0);
      chapters[output->nb_chapters++] = out;
    }
    return absl::OkStatus();
  }

  // The output context and its (empty) video stream.
  absl::Status CreateMuxer() {
    AVFormatContext* raw = nullptr;
    const int err =
        avformat_alloc_output_context2(&raw, nullptr, nullptr, options.output_path.c_str());
    if (err < 0 || !raw) {
      return absl::InvalidArgumentError(absl::StrCat("cannot choose a container for ",
                                                     options.output_path, " from its extension"));
    }
    output.reset(raw);
    video_stream = avformat_new_stream(raw, nullptr);
    if (!video_stream) return absl::ResourceExhaustedError("cannot add a video stream");
    return absl::OkStatus();
  }

  // With the video stream's parameters set: its tag, the source's other
  // streams, the file and the header.
  absl::Status WriteHeader() {
    const std::string muxer = output->oformat->name;
    const bool quicktime = muxer == "mp4" || muxer == "mov";
    AVCodecParameters* par = video_stream->codecpar;
    // The muxers read the stream's SAR (Matroska's display size, MP4's pasp).
    if (par->sample_aspect_ratio.num > 0 && par->sample_aspect_ratio.den > 0) {
      video_stream->sample_aspect_ratio = par->sample_aspect_ratio;
    }
    // ProRes encoders set the profile's fourcc (apch, ap4h...), which says the
    // profile (Matroska stores it too); elsewhere the container chooses its tag.
    if (par->codec_id != AV_CODEC_ID_PRORES) par->codec_tag = 0;
    // hvc1 (parameter sets in the sample description) is the HEVC tag Apple
    // players require; libavformat's default hev1 does not play there.
    if (par->codec_id == AV_CODEC_ID_HEVC && quicktime) par->codec_tag = MKTAG('h', 'v', 'c', '1');
    if (!options.audio_source_path.empty()) RETURN_IF_ERROR(OpenSource());
    if (!(output->oformat->flags & AVFMT_NOFILE)) {
      const int err = avio_open(&output->pb, options.output_path.c_str(), AVIO_FLAG_WRITE);
      if (err < 0) return OpenError("create", options.output_path, err);
      created_file = ScopedFile(options.output_path);
    }
    AvDictionary muxer_options;
    // Index up front, so players can start before the whole file is read.
    if (quicktime) muxer_options.Set("movflags", "+faststart");
    const int err = avformat_write_header(output.get(), muxer_options.out());
    if (err < 0) {
      return absl::InternalError(absl::StrCat("cannot write the header of ", name(),
                                              ": ", AvErrorString(err)));
    }
    return absl::OkStatus();
  }
};

VideoWriter::VideoWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}

// Everything is held by RAII members; a file without a successful Finish()
// is removed (a failed write leaves nothing behind).
VideoWriter::~VideoWriter() = default;

const std::string& VideoWriter::encoder_name() const { return state_->encoder_name; }

const std::vector<std::string>& VideoWriter::notices() const { return state_->notices; }

absl::StatusOr<std::unique_ptr<VideoWriter>> VideoWriter::Create(
    const VideoWriterOptions& options) {
  auto state = std::make_unique<State>();
  state->options = options;
  VideoEncoderOptions encoder_options;
  encoder_options.encode = options.encode;
  encoder_options.container_path = options.output_path;
  encoder_options.width = options.width;
  encoder_options.height = options.height;
  encoder_options.sample_aspect_ratio = options.sample_aspect_ratio;
  encoder_options.time_base = options.time_base;
  encoder_options.frame_rate = options.frame_rate;
  encoder_options.color_space = options.color_space;
  encoder_options.color_range = options.color_range;
  encoder_options.color_primaries = options.color_primaries;
  encoder_options.color_trc = options.color_trc;
  encoder_options.alpha = options.alpha;
  ASSIGN_OR_RETURN(state->encoder, VideoEncoder::Create(encoder_options));
  for (const std::string& notice : state->encoder->notices()) state->notices.push_back(notice);
  state->encoder_name = state->encoder->encoder_name();
  const AVCodecContext& enc = state->encoder->context();
  RETURN_IF_ERROR(state->CreateMuxer());
  const int err = avcodec_parameters_from_context(state->video_stream->codecpar, &enc);
  if (err < 0) {
    return absl::InternalError(absl::StrCat("cannot set video parameters: ", AvErrorString(err)));
  }
  state->video_stream->time_base = enc.time_base;  // a hint; the muxer may change it
  state->video_stream->avg_frame_rate = enc.framerate;
  RETURN_IF_ERROR(state->WriteHeader());
  return std::unique_ptr<VideoWriter>(new VideoWriter(std::move(state)));
}

absl::StatusOr<std::unique_ptr<VideoWriter>> VideoWriter::CreateForEncodedVideo(
    const VideoWriterOptions& options, const AVCodecParameters& video, AVRational time_base) {
  if (time_base.num <= 0 || time_base.den <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid time base ", time_base.num, "/",
                                                   time_base.den, " for ", options.output_path));
  }
  auto state = std::make_unique<State>();
  state->options = options;
  state->packet_time_base = time_base;
  RETURN_IF_ERROR(state->CreateMuxer());
  if (avformat_query_codec(state->output->oformat, video.codec_id, FF_COMPLIANCE_NORMAL) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(avcodec_get_name(video.codec_id),
                                                   " video cannot be stored in ",
                                                   options.output_path));
  }
  const int err = avcodec_parameters_copy(state->video_stream->codecpar, &video);
  if (err < 0) {
    return absl::InternalError(absl::StrCat("cannot set video parameters: ", AvErrorString(err)));
  }
  state->video_stream->time_base = time_base;
  if (options.frame_rate.num > 0 && options.frame_rate.den > 0) {
    state->video_stream->avg_frame_rate = options.frame_rate;
  }
  RETURN_IF_ERROR(state->WriteHeader());
  return std::unique_ptr<VideoWriter>(new VideoWriter(std::move(state)));
}

absl::Status VideoWriter::WriteFrame(const RgbImage& image, int64_t pts) {
  State& s = *state_;
  if (s.finished) {
    return absl::FailedPreconditionError(
        absl::StrCat("frame written to ", s.options.output_path, " after Finish()"));
  }
  if (!s.encoder) {
    return absl::FailedPreconditionError(
        absl::StrCat(s.options.output_path, " takes encoded packets, not frames"));
  }
  const AVRational time_base = s.encoder->time_base();
  return s.encoder->Encode(image, pts,
                           [&](AVPacket& packet) { return s.WriteVideoPacket(packet, time_base); });
}

absl::Status VideoWriter::WritePacket(AVPacket& packet) {
  State& s = *state_;
  if (s.finished) {
    return absl::FailedPreconditionError(
        absl::StrCat("packet written to ", s.options.output_path, " after Finish()"));
  }
  if (s.encoder) {
    return absl::FailedPreconditionError(
        absl::StrCat(s.options.output_path, " encodes frames itself; no packets"));
  }
  return s.WriteVideoPacket(packet, s.packet_time_base);
}

absl::Status VideoWriter::Finish() {
  State& s = *state_;
  if (s.finished) return s.finish_status;
  s.finished = true;
  s.finish_status = [&]() -> absl::Status {
    if (s.encoder) {
      const AVRational time_base = s.encoder->time_base();
      RETURN_IF_ERROR(s.encoder->Flush(
          [&](AVPacket& packet) { return s.WriteVideoPacket(packet, time_base); }));
    }
    RETURN_IF_ERROR(s.WriteSourceUntil(std::numeric_limits<double>::infinity()));
    const int trailer_err = av_write_trailer(s.output.get());
    if (trailer_err < 0) {
      return absl::InternalError(
          absl::StrCat("cannot finish ", s.options.output_path, ": ", AvErrorString(trailer_err)));
    }
    // Closing here (not only in the destructor) so the file is complete on
    // disk when Finish returns.
    if (!(s.output->oformat->flags & AVFMT_NOFILE)) {
      const int close_err = avio_closep(&s.output->pb);
      if (close_err < 0) {
        return absl::InternalError(
            absl::StrCat("cannot close ", s.options.output_path, ": ", AvErrorString(close_err)));
      }
    }
    s.created_file.Keep();
    return absl::OkStatus();
  }();
  return s.finish_status;
}

}  // namespace anifarm
