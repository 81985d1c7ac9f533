#include "common/media/source_reader.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace anifarm {
namespace {

// The first real video stream: cover art (attached pictures) is not video.
int FindVideoStream(const AVFormatContext& format) {
  for (unsigned i = 0; i < format.nb_streams; ++i) {
    const AVStream* stream = format.streams[i];
    if (stream->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
        !(stream->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

// Demuxers copy a file's colour tags as they are, so a damaged or hostile
// header can leave any number in these enum fields: loading one outside the
// enum is undefined behaviour, and encoders refuse or miswrite it. Read the
// raw value and let what FFmpeg has no name for count as unspecified.
template <typename Enum>
int ColourTag(const Enum& field, int count, const char* (*name)(Enum), Enum unspecified) {
  static_assert(sizeof(Enum) == sizeof(int), "colour enums are int-sized");
  int value = 0;
  std::memcpy(&value, &field, sizeof value);
  if (value < 0 || value >= count || !name(static_cast<Enum>(value))) return unspecified;
  return value;
}

double Seconds(int64_t value, AVRational time_base) {
  return static_cast<double>(value) * av_q2d(time_base);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SourceReader>> SourceReader::Open(const std::string& path) {
  // Checked up front so that "missing" and "unreadable" are told apart from
  // "not media": libavformat reports all three as an open failure.
  if (access(path.c_str(), R_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  AVFormatContext* raw = nullptr;
  int err = OpenLocalInput(&raw, path);
  if (err < 0) {
    if (err == AVERROR(ENOENT) || err == AVERROR(EACCES) || err == AVERROR(EISDIR)) {
      return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", AvErrorString(err)));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a media file (", AvErrorString(err), ")"));
  }
  InputFormatPtr format(raw);
  if (IsReferenceDemuxer(*format)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " is a ", format->iformat->name,
        " list of other files, not media; give the video file itself"));
  }
  err = avformat_find_stream_info(format.get(), nullptr);
  if (err < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a media file (", AvErrorString(err), ")"));
  }
  // The tty demuxer takes text files named .nfo/.asc/.diz/... for "ANSI art
  // video"; nobody upscales that, so text counts as not media.
  if (std::strcmp(format->iformat->name, "tty") == 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a media file (text)"));
  }
  const int video_index = FindVideoStream(*format);
  if (video_index < 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, " has no video stream"));
  }
  const AVStream* video = format->streams[video_index];
  const AVCodecParameters& par = *video->codecpar;
  if (par.width <= 0 || par.height <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " has a video stream of unknown size"));
  }

  // An index (MP4, MOV) that places frames past the end of the file: the
  // file was cut short after it was written (an interrupted download).
  // Known from the headers alone, so refused before any work.
  if (const int64_t file_size = format->pb ? avio_size(format->pb) : -1; file_size > 0) {
    const int entries = avformat_index_get_entries_count(video);
    for (int i = 0; i < entries; ++i) {
      const AVIndexEntry* entry = avformat_index_get_entry(const_cast<AVStream*>(video), i);
      if (entry && entry->size > 0 && entry->pos + entry->size > file_size) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, " is damaged: its index lists ", entries, " video frames but the file ends at"
            " frame ", i, " (",
            absl::StrFormat("%.3f s", entry->timestamp == AV_NOPTS_VALUE
                                          ? 0.0
                                          : double(entry->timestamp) * av_q2d(video->time_base)),
            "); it was cut short"));
      }
    }
  }

  MediaInfo info;
  info.path = path;
  info.container = format->iformat->name;
  info.video_stream = video_index;
  info.video.codec_id = par.codec_id;
  if (par.extradata && par.extradata_size > 0) {
    info.video.extradata.assign(par.extradata, par.extradata + par.extradata_size);
  }
  info.video.width = par.width;
  info.video.height = par.height;
  info.video.pixel_format = par.format;
  info.video.time_base = video->time_base;
  info.declared_frames = video->nb_frames > 0 ? video->nb_frames : 0;
  info.video.color_space =
      ColourTag(par.color_space, AVCOL_SPC_NB, av_color_space_name, AVCOL_SPC_UNSPECIFIED);
  info.video.color_range =
      ColourTag(par.color_range, AVCOL_RANGE_NB, av_color_range_name, AVCOL_RANGE_UNSPECIFIED);
  info.video.color_primaries = ColourTag(par.color_primaries, AVCOL_PRI_NB,
                                         av_color_primaries_name, AVCOL_PRI_UNSPECIFIED);
  info.video.color_trc =
      ColourTag(par.color_trc, AVCOL_TRC_NB, av_color_transfer_name, AVCOL_TRC_UNSPECIFIED);
  info.field_order = par.field_order;
  info.video.sample_aspect_ratio =
      av_guess_sample_aspect_ratio(format.get(), const_cast<AVStream*>(video), nullptr);
  info.frame_rate = video->avg_frame_rate.num > 0 && video->avg_frame_rate.den > 0
                        ? video->avg_frame_rate
                        : video->r_frame_rate;

  const AVStream* first_audio = nullptr;
  for (unsigned i = 0; i < format->nb_streams; ++i) {
    const AVStream* stream = format->streams[i];
    if (stream->codecpar->codec_type != AVMEDIA_TYPE_AUDIO) continue;
    ++info.audio_stream_count;
    if (!first_audio) first_audio = stream;
  }
  if (format->duration != AV_NOPTS_VALUE && format->duration > 0) {
    info.duration_seconds = Seconds(format->duration, AV_TIME_BASE_Q);
  } else if (video->duration != AV_NOPTS_VALUE && video->duration > 0) {
    info.duration_seconds = Seconds(video->duration, video->time_base);
  }
  if (first_audio) {
    info.audio_duration_seconds = first_audio->duration != AV_NOPTS_VALUE && first_audio->duration > 0
                                      ? Seconds(first_audio->duration, first_audio->time_base)
                                      : info.duration_seconds;
  }

  // Only the video stream is ever read: discarding the rest saves the
  // demuxer from handing us packets we would drop anyway.
  for (unsigned i = 0; i < format->nb_streams; ++i) {
    if (static_cast<int>(i) != video_index) format->streams[i]->discard = AVDISCARD_ALL;
  }

  std::unique_ptr<SourceReader> reader(new SourceReader());
  reader->info_ = std::move(info);
  reader->format_ = std::move(format);
  return reader;
}

absl::Status SourceReader::SeekToSeconds(double seconds) {
  const AVStream* video = format_->streams[info_.video_stream];
  const int64_t start = video->start_time != AV_NOPTS_VALUE ? video->start_time : 0;
  const int64_t target = start + static_cast<int64_t>(seconds / av_q2d(video->time_base));
  const int err = av_seek_frame(format_.get(), info_.video_stream, target, AVSEEK_FLAG_BACKWARD);
  if (err < 0) {
    return absl::DataLossError(absl::StrCat("cannot seek ", info_.path, " to ", seconds,
                                            " s: ", AvErrorString(err)));
  }
  return absl::OkStatus();
}

absl::StatusOr<PacketPtr> SourceReader::NextVideoPacket() {
  PacketPtr packet = MakePacket();
  if (!packet) return absl::ResourceExhaustedError("cannot allocate a packet");
  while (true) {
    const int err = av_read_frame(format_.get(), packet.get());
    if (err == AVERROR_EOF) return PacketPtr();
    if (err < 0) {
      return absl::DataLossError(
          absl::StrCat("cannot read a packet from ", info_.path, ": ", AvErrorString(err)));
    }
    if (packet->stream_index == info_.video_stream) return packet;
    av_packet_unref(packet.get());
  }
}

}  // namespace anifarm
