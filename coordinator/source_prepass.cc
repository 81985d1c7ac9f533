#include "coordinator/source_prepass.h"

#include <filesystem>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/media/field_filter.h"
#include "common/media/lossless_intermediate.h"
#include "common/media/source_reader.h"
#include "common/media/video_decoder.h"
#include "common/scoped_file.h"
#include "common/status_macros.h"

namespace anifarm {
namespace fs = std::filesystem;

namespace {

enum class Action { kNone, kInverseTelecine, kDeinterlace };

// What each --deinterlace mode does with each kind of source: the one place
// that decides (OFF never analyses, so it has no row).
struct Rule {
  v1::Deinterlace mode;
  FieldStructure structure;
  Action action;
};
constexpr Rule kRules[] = {
    {v1::DEINTERLACE_AUTO, FieldStructure::kProgressive, Action::kNone},
    {v1::DEINTERLACE_AUTO, FieldStructure::kTelecined, Action::kInverseTelecine},
    {v1::DEINTERLACE_AUTO, FieldStructure::kInterlaced, Action::kDeinterlace},
    {v1::DEINTERLACE_IVTC, FieldStructure::kProgressive, Action::kInverseTelecine},
    {v1::DEINTERLACE_IVTC, FieldStructure::kTelecined, Action::kInverseTelecine},
    {v1::DEINTERLACE_IVTC, FieldStructure::kInterlaced, Action::kInverseTelecine},
    {v1::DEINTERLACE_BWDIF, FieldStructure::kProgressive, Action::kDeinterlace},
    {v1::DEINTERLACE_BWDIF, FieldStructure::kTelecined, Action::kDeinterlace},
    {v1::DEINTERLACE_BWDIF, FieldStructure::kInterlaced, Action::kDeinterlace},
};

Action ActionFor(v1::Deinterlace mode, FieldStructure structure) {
  for (const Rule& rule : kRules) {
    if (rule.mode == mode && rule.structure == structure) return rule.action;
  }
  return Action::kNone;
}

// 24000/1001 → "23.976", 60000/1001 → "59.94".
std::string RateText(AVRational rate) {
  if (rate.num <= 0 || rate.den <= 0) return "?";
  std::string text = absl::StrFormat("%.3f", av_q2d(rate));
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text;
}

// Decodes `input_path`, filters every frame and writes the intermediate to
// `path`. Fills the counts and rate of `result`.
absl::Status Filter(const std::string& input_path, const std::string& path,
                    FieldFilterMode mode, bool top_field_first, PrepassResult* result) {
  ASSIGN_OR_RETURN(std::unique_ptr<SourceReader> reader, SourceReader::Open(input_path));
  const MediaInfo& info = reader->info();
  ASSIGN_OR_RETURN(std::unique_ptr<VideoDecoder> decoder, VideoDecoder::Create(info.video));
  std::unique_ptr<FieldFilter> filter;
  std::unique_ptr<IntermediateWriter> writer;
  std::vector<FramePtr> decoded, filtered;
  AVRational source_sar = info.video.sample_aspect_ratio;
  // The filter is built from the first decoded frame (its real size,
  // format and aspect), the writer from the filter's output.
  auto write = [&]() -> absl::Status {
    for (const FramePtr& frame : filtered) {
      if (!writer) {
        IntermediateOptions options;
        options.path = path;
        options.width = frame->width;
        options.height = frame->height;
        options.pixel_format = frame->format;
        options.time_base = filter->time_base();
        options.frame_rate = filter->frame_rate();
        // The filters may drop the frames' aspect; the source's is the truth.
        options.sample_aspect_ratio =
            frame->sample_aspect_ratio.num > 0 ? frame->sample_aspect_ratio : source_sar;
        options.color_space = info.video.color_space;
        options.color_range = info.video.color_range;
        options.color_primaries = info.video.color_primaries;
        options.color_trc = info.video.color_trc;
        ASSIGN_OR_RETURN(writer, IntermediateWriter::Create(options));
        result->frame_rate = options.frame_rate;
      }
      RETURN_IF_ERROR(writer->Write(*frame));
    }
    filtered.clear();
    return absl::OkStatus();
  };
  auto push = [&]() -> absl::Status {
    for (const FramePtr& frame : decoded) {
      if (!filter) {
        if (frame->sample_aspect_ratio.num > 0) source_sar = frame->sample_aspect_ratio;
        FieldFilterConfig config;
        config.mode = mode;
        config.width = frame->width;
        config.height = frame->height;
        config.pixel_format = frame->format;
        config.time_base = info.video.time_base;
        config.frame_rate = info.frame_rate;
        config.sample_aspect_ratio = frame->sample_aspect_ratio;
        config.top_field_first = top_field_first;
        ASSIGN_OR_RETURN(filter, FieldFilter::Create(config));
      }
      ++result->frames_in;
      RETURN_IF_ERROR(filter->Push(*frame, &filtered));
      RETURN_IF_ERROR(write());
    }
    decoded.clear();
    return absl::OkStatus();
  };
  while (true) {
    ASSIGN_OR_RETURN(PacketPtr packet, reader->NextVideoPacket());
    if (!packet) break;
    RETURN_IF_ERROR(decoder->Decode(*packet, &decoded));
    RETURN_IF_ERROR(push());
  }
  RETURN_IF_ERROR(decoder->Flush(&decoded));
  RETURN_IF_ERROR(push());
  if (!filter) {
    return absl::InvalidArgumentError(absl::StrCat(input_path, " has no decodable video frame"));
  }
  RETURN_IF_ERROR(filter->Finish(&filtered));
  RETURN_IF_ERROR(write());
  if (!writer) {
    return absl::InternalError(absl::StrCat("filtering ", input_path, " left no frame"));
  }
  RETURN_IF_ERROR(writer->Finish());
  result->frames_out = writer->frames_written();
  return absl::OkStatus();
}

}  // namespace

std::string IntermediatePath(const std::string& job_dir) {
  return (fs::path(job_dir) / "progressive.mkv").string();
}

std::string VideoSourceOf(const std::string& input_path, const std::string& job_dir) {
  const std::string intermediate = IntermediatePath(job_dir);
  std::error_code ec;
  return fs::is_regular_file(intermediate, ec) ? intermediate : input_path;
}

absl::StatusOr<PrepassResult> PrepareVideoSource(const std::string& input_path,
                                                 const std::string& job_dir,
                                                 v1::Deinterlace mode) {
  PrepassResult result;
  result.video_path = input_path;
  const std::string intermediate = IntermediatePath(job_dir);
  std::error_code ec;
  fs::remove(intermediate, ec);  // from an earlier plan of this job
  if (mode == v1::DEINTERLACE_OFF) return result;
  ASSIGN_OR_RETURN(result.analysis, AnalyzeFields(input_path));
  const FieldAnalysis& a = result.analysis;
  const Action action = ActionFor(mode, a.structure);
  const std::string what = absl::StrCat(input_path, ": ", a.Describe(), " → ");
  const std::string forced = mode == v1::DEINTERLACE_AUTO
                                 ? ""
                                 : absl::StrCat(" (--deinterlace ",
                                                mode == v1::DEINTERLACE_IVTC ? "ivtc" : "bwdif",
                                                ")");
  if (action == Action::kNone) {
    if (a.soft_telecine) {
      result.notice = absl::StrCat(what, "nothing to do: the decoder returns the film's "
                                         "progressive frames, at their own timestamps");
    }
    return result;
  }
  if (!FieldFiltersAvailable()) {
    result.notice = absl::StrCat(
        what, "passed through unchanged: this build has no libavfilter, so the combing will "
              "be upscaled as it is (deinterlace the source first, or use a build with "
              "libavfilter)");
    return result;
  }
  fs::create_directories(job_dir, ec);
  const std::string partial =
      (fs::path(job_dir) / ".progressive.partial.mkv")
          .string();
  ScopedFile partial_file(partial);
  const FieldFilterMode filter_mode = action == Action::kInverseTelecine
                                          ? FieldFilterMode::kInverseTelecine
                                          : FieldFilterMode::kDeinterlaceFields;
  RETURN_IF_ERROR(Filter(input_path, partial, filter_mode, a.top_field_first, &result));
  fs::rename(partial, intermediate, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot move ", partial, " to ", intermediate, ": ", ec.message()));
  }
  partial_file.Keep();
  result.video_path = intermediate;
  const std::string counts = absl::StrCat(" (", result.frames_in, " frames → ",
                                          result.frames_out, ")");
  if (action == Action::kInverseTelecine) {
    result.notice = absl::StrCat(what, "inverse telecine to ", RateText(result.frame_rate),
                                 " frames/s", counts, forced);
  } else {
    result.notice = absl::StrCat(what, "deinterlaced (bwdif, one frame per field) to ",
                                 RateText(result.frame_rate), " frames/s", counts, forced);
  }
  return result;
}

}  // namespace anifarm
