#include "common/media/stream_plan.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/media/ffmpeg_ptr.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/dict.h>
}

namespace anifarm {
namespace {

// Where avformat_query_codec says yes but the file would fail or not play.
// Each row was found by muxing the pair (container_rules_test keeps them
// true): the muxer refuses these in avformat_write_header, which in a job
// comes after every frame was upscaled.
struct ContainerRule {
  const char* muxer;
  AVCodecID codec;
  const char* why;
};
constexpr ContainerRule kContainerRules[] = {
    {"mp4", AV_CODEC_ID_FLAC, "FLAC in MP4 is experimental in libavformat"},
    {"mp4", AV_CODEC_ID_TRUEHD, "TrueHD in MP4 is experimental in libavformat"},
    // Muxed without complaint, but outside the MP4 registrations players
    // implement: browsers and Apple players do not play it.
    {"mp4", AV_CODEC_ID_VORBIS, "Vorbis in MP4 plays almost nowhere"},
    {"mov", AV_CODEC_ID_FLAC, "libavformat writes FLAC in .mp4 only, not .mov"},
    {"mov", AV_CODEC_ID_OPUS, "libavformat writes Opus in .mp4 only, not .mov"},
    {"mov", AV_CODEC_ID_TRUEHD, "libavformat writes TrueHD in .mp4 only, not .mov"},
};

const ContainerRule* RuleFor(const AVOutputFormat& muxer, AVCodecID codec_id) {
  for (const ContainerRule& rule : kContainerRules) {
    if (rule.codec == codec_id && std::strcmp(rule.muxer, muxer.name) == 0) return &rule;
  }
  return nullptr;
}

// 1: yes; 0: no; < 0: the muxer cannot tell (counted as yes: the muxers
// AniFarm writes all answer).
bool QueryTakes(const AVOutputFormat& muxer, AVCodecID codec_id) {
  return avformat_query_codec(&muxer, codec_id, FF_COMPLIANCE_NORMAL) != 0;
}

bool IsMatroska(const AVOutputFormat& muxer) { return std::strcmp(muxer.name, "matroska") == 0; }

bool IsQuickTime(const AVOutputFormat& muxer) {
  return std::strcmp(muxer.name, "mp4") == 0 || std::strcmp(muxer.name, "mov") == 0;
}

// Why the container refuses the audio codec, for the notice.
std::string RefusalReason(const AVOutputFormat& muxer, AVCodecID codec_id) {
  if (const ContainerRule* rule = RuleFor(muxer, codec_id)) return rule->why;
  return absl::StrCat("the container has no mapping for ", avcodec_get_name(codec_id));
}

}  // namespace

std::string StreamLabel(const AVStream& stream) {
  std::string label =
      absl::StrCat("#", stream.index, " (", avcodec_get_name(stream.codecpar->codec_id));
  if (const AVDictionaryEntry* lang = av_dict_get(stream.metadata, "language", nullptr, 0)) {
    absl::StrAppend(&label, ", ", lang->value);
  }
  if (const AVDictionaryEntry* name = av_dict_get(stream.metadata, "filename", nullptr, 0)) {
    absl::StrAppend(&label, ", ", name->value);
  }
  return label + ")";
}

bool ContainerTakesAudio(const AVOutputFormat& muxer, AVCodecID codec_id) {
  return !RuleFor(muxer, codec_id) && QueryTakes(muxer, codec_id);
}

absl::StatusOr<StreamPlan> PlanStreams(const AVFormatContext& source, const AVOutputFormat& muxer,
                                       const StreamPlanOptions& options) {
  const std::string& src = options.source_name;
  const std::string& out = options.output_name;
  const bool matroska = IsMatroska(muxer);
  const bool quicktime = IsQuickTime(muxer);
  StreamPlan plan;
  int attachments_dropped = 0;
  for (unsigned i = 0; i < source.nb_streams; ++i) {
    const AVStream& in = *source.streams[i];
    const AVCodecParameters& par = *in.codecpar;
    StreamDecision d;
    d.index = static_cast<int>(i);
    d.type = par.codec_type;
    d.codec_id = par.codec_id;
    switch (par.codec_type) {
      case AVMEDIA_TYPE_AUDIO: {
        if (!options.copy_audio) continue;
        if (ContainerTakesAudio(muxer, par.codec_id)) {
          d.action = StreamAction::kCopy;
          d.target_codec = par.codec_id;
          break;
        }
        if (!avcodec_find_decoder(par.codec_id) || !avcodec_find_encoder_by_name("aac")) {
          const AVOutputFormat* mkv = av_guess_format("matroska", nullptr, nullptr);
          const bool mkv_takes = !matroska && mkv && ContainerTakesAudio(*mkv, par.codec_id);
          return absl::InvalidArgumentError(absl::StrCat(
              src, ": audio stream ", StreamLabel(in), " cannot go in ", out, " (",
              RefusalReason(muxer, par.codec_id), "), and ",
              avcodec_find_decoder(par.codec_id) ? "libavcodec has no AAC encoder"
                                                 : "there is no decoder to transcode it to AAC",
              mkv_takes ? " (use .mkv, or --no-audio)" : " (use --no-audio)"));
        }
        d.action = StreamAction::kTranscodeToAac;
        d.target_codec = AV_CODEC_ID_AAC;
        plan.notices.push_back(absl::StrCat("audio stream ", StreamLabel(in), " of ", src,
                                            " cannot go in ", out, " (",
                                            RefusalReason(muxer, par.codec_id),
                                            "); transcoded to AAC"));
        break;
      }
      case AVMEDIA_TYPE_SUBTITLE: {
        if (!options.copy_subtitles) continue;
        const AVCodecDescriptor* desc = avcodec_descriptor_get(par.codec_id);
        const bool text = desc && (desc->props & AV_CODEC_PROP_TEXT_SUB);
        // MP4/MOV players read mov_text only (the muxer would take a DVD
        // bitmap track too, which they ignore).
        const bool takes = quicktime ? par.codec_id == AV_CODEC_ID_MOV_TEXT
                                     : QueryTakes(muxer, par.codec_id);
        const AVCodecID convert_to = quicktime  ? AV_CODEC_ID_MOV_TEXT
                                     : matroska ? AV_CODEC_ID_ASS
                                                : AV_CODEC_ID_NONE;
        if (takes) {
          d.action = StreamAction::kCopy;
          d.target_codec = par.codec_id;
        } else if (text && convert_to != AV_CODEC_ID_NONE && avcodec_find_decoder(par.codec_id) &&
                   avcodec_find_encoder(convert_to) && QueryTakes(muxer, convert_to)) {
          d.action = StreamAction::kConvertText;
          d.target_codec = convert_to;
          plan.notices.push_back(
              convert_to == AV_CODEC_ID_MOV_TEXT
                  ? absl::StrCat("subtitle stream ", StreamLabel(in), " converted to mov_text for ",
                                 out, " (styling beyond bold/italic/colour is lost)")
                  : absl::StrCat("subtitle stream ", StreamLabel(in), " converted to ASS for ",
                                 out));
        } else {
          d.action = StreamAction::kDrop;
          plan.notices.push_back(absl::StrCat("subtitle stream ", StreamLabel(in),
                                              " cannot be kept in ", out,
                                              text ? "" : " (bitmap subtitles need .mkv)",
                                              "; dropped"));
        }
        break;
      }
      case AVMEDIA_TYPE_ATTACHMENT:
        if (!options.copy_attachments) continue;
        if (matroska) {
          d.action = StreamAction::kCopy;
          d.target_codec = par.codec_id;
        } else {
          d.action = StreamAction::kDrop;
          ++attachments_dropped;
        }
        break;
      case AVMEDIA_TYPE_DATA:
        d.action = StreamAction::kDrop;
        plan.notices.push_back(
            absl::StrCat("data stream ", StreamLabel(in), " of ", src, " is not kept"));
        break;
      default:
        continue;  // video: the writer's own stream; attached pictures are not kept
    }
    plan.streams.push_back(d);
  }
  if (attachments_dropped > 0) {
    plan.notices.push_back(absl::StrCat(attachments_dropped, " attachment(s) of ", src,
                                        " (fonts) cannot be stored in ", out,
                                        "; dropped (use .mkv to keep them)"));
  }
  return plan;
}

absl::StatusOr<StreamPlan> PlanStreams(const std::string& source_path,
                                       const std::string& output_path, StreamPlanOptions options) {
  const AVOutputFormat* muxer = av_guess_format(nullptr, output_path.c_str(), nullptr);
  if (!muxer) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot choose a container for ", output_path, " from its extension"));
  }
  AVFormatContext* raw = nullptr;
  int err = OpenLocalInput(&raw, source_path);
  if (err < 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot open ", source_path, ": ", AvErrorString(err)));
  }
  InputFormatPtr source(raw);
  err = avformat_find_stream_info(source.get(), nullptr);
  if (err < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_path, " is not a media file (", AvErrorString(err), ")"));
  }
  if (options.source_name.empty()) options.source_name = source_path;
  if (options.output_name.empty()) options.output_name = output_path;
  return PlanStreams(*source, *muxer, options);
}

}  // namespace anifarm
