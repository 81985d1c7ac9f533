#include "coordinator/settings.h"

#include <cmath>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/media/encode_settings.h"
#include "common/media/output_geometry.h"
#include "common/media/stream_plan.h"
#include "common/model_catalog.h"
#include "common/status_macros.h"
#include "common/suggest.h"

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace anifarm {

absl::Status NormalizeSettings(v1::ProcessingSettings* s) {
  if (s->model().empty()) s->set_model(kDefaultModelName);
  const int scale = s->scale();
  if (scale != 0 && scale != 1 && scale != 2 && scale != 4 && scale != 8 && scale != 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("--scale ", scale, " is not one of 1, 2, 4, 8, 16"));
  }
  if (s->precision().empty()) s->set_precision("auto");
  if (s->precision() != "auto" && s->precision() != "fp16" && s->precision() != "bf16" &&
      s->precision() != "fp32") {
    return absl::InvalidArgumentError(
        absl::StrCat("--precision '", s->precision(), "' is not one of fp16, bf16, fp32, auto"));
  }
  if (s->tile() < 0 || (s->tile() > 0 && s->tile() < 32)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tile ", s->tile(), " is too small (auto, or at least 32)"));
  }
  if (s->tile_overlap() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tile-overlap ", s->tile_overlap(), " is negative"));
  }
  if (s->codec().empty()) s->set_codec("h264");
  // Profiles, containers and sizes are checked against the output at submit
  // time (ValidateEncodeSettings); here the names, so that a typo fails at
  // submit with a suggestion rather than on a node.
  if (!FindCodec(s->codec())) {
    return absl::InvalidArgumentError(absl::StrCat("--codec '", s->codec(),
                                                   "' is not supported (", CodecNameList(), ")",
                                                   DidYouMean(s->codec(), CodecSpellings())));
  }
  if (absl::Status preset = CheckPreset(s->codec(), s->preset()); !preset.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--", preset.message()));
  }
  if (s->crf() < -1 || s->crf() > 51) {
    return absl::InvalidArgumentError(absl::StrCat("--crf ", s->crf(), " is outside 0..51"));
  }
  if (!std::isfinite(s->fps()) || s->fps() < 0 || s->fps() > 240) {
    return absl::InvalidArgumentError(
        absl::StrCat("--fps ", s->fps(), " is outside 0..240 (0 keeps the source's timing)"));
  }
  if (s->near_dedup_psnr() != 0 && (s->near_dedup_psnr() < 20 || s->near_dedup_psnr() > 99)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--near-psnr ", s->near_dedup_psnr(), " is outside 20..99 dB"));
  }
  if (!v1::Deinterlace_IsValid(s->deinterlace())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "deinterlace mode ", s->deinterlace(), " is not one of auto, ivtc, bwdif, off"));
  }
  const struct {
    const char* flag;
    float value;
  } enhancements[] = {{"--sharpen", s->sharpen()},
                      {"--contrast", s->has_contrast() ? s->contrast() : 1.0f},
                      {"--saturation", s->has_saturation() ? s->saturation() : 1.0f}};
  for (const auto& e : enhancements) {
    if (!std::isfinite(e.value) || e.value < 0.0f || e.value > 5.0f) {
      return absl::InvalidArgumentError(
          absl::StrCat(e.flag, " ", e.value, " is outside 0..5"));
    }
  }
  return absl::OkStatus();
}

bool EncodedByNodes(const v1::ProcessingSettings& settings, const std::string& output_path) {
  return !IsImageOutputPath(output_path) && settings.encode_at() != v1::ENCODE_AT_COORDINATOR;
}

ImageWriteOptions ImageOptionsOf(const v1::ProcessingSettings& settings) {
  ImageWriteOptions options;
  options.format = settings.image_format();
  if (settings.has_quality()) options.quality = settings.quality();
  if (settings.has_compression()) options.compression = settings.compression();
  options.lossless = settings.lossless();
  return options;
}

namespace {

OutputGeometry GeometryOf(const v1::ProcessingSettings& settings, const MediaInfo& source) {
  const int scale = settings.scale() > 0 ? settings.scale() : 2;
  return PlanOutputGeometry(source.video.width, source.video.height,
                            source.video.sample_aspect_ratio, scale, settings.target_width(),
                            settings.target_height(), settings.keep_sar());
}

// Bits per sample of a pixel format's first component (0: unknown).
int DepthOf(int pixel_format) {
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(pixel_format));
  return desc && desc->nb_components > 0 ? desc->comp[0].depth : 0;
}

// The notice of a deep source into an 8-bit output, or "" when none is due.
std::string DepthNotice(const v1::ProcessingSettings& settings, const std::string& output_path,
                        const MediaInfo& source, int width, int height) {
  const int source_depth = DepthOf(source.video.pixel_format);
  if (source_depth <= 8) return "";
  absl::StatusOr<EncoderPlan> plan = PlanEncoder(EncodeSettingsOf(settings), output_path, width,
                                                 height, source.frame_rate);
  if (!plan.ok() || DepthOf(plan->pix_fmt) > 8) return "";
  std::vector<std::string> choices;
  for (const auto& [codec, profile] : TenBitProfiles()) {
    choices.push_back(profile.empty() ? absl::StrCat("--codec ", codec)
                                      : absl::StrCat("--codec ", codec, " --profile ", profile));
  }
  return absl::StrCat(
      source.path, " is ", source_depth, "-bit (",
      av_get_pix_fmt_name(static_cast<AVPixelFormat>(source.video.pixel_format)), ") but --codec ",
      settings.codec(), settings.profile().empty() ? "" : " --profile ", settings.profile(),
      " writes 8-bit video (banding in gradients, HDR especially); for a 10-bit output use ",
      absl::StrJoin(choices, ", "));
}

}  // namespace

std::pair<int, int> OutputSizeOf(const v1::ProcessingSettings& settings, const MediaInfo& source) {
  const OutputGeometry geometry = GeometryOf(settings, source);
  return {geometry.width, geometry.height};
}

AVRational OutputSampleAspectOf(const v1::ProcessingSettings& settings, const MediaInfo& source) {
  return GeometryOf(settings, source).sample_aspect_ratio;
}

absl::Status CheckOutputSettings(const v1::ProcessingSettings& settings,
                                 const std::string& output_path, const MediaInfo* source,
                                 std::vector<std::string>* notices) {
  if (IsImageOutputPath(output_path)) {
    return ValidateImageWriteOptions(ImageOptionsOf(settings), output_path);
  }
  if (!source) return ValidateEncodeSettings(EncodeSettingsOf(settings), output_path, 1920, 1080);
  const auto [width, height] = OutputSizeOf(settings, *source);
  RETURN_IF_ERROR(ValidateEncodeSettings(EncodeSettingsOf(settings), output_path, width, height,
                                         source->frame_rate));
  // The assembler writes the source's other streams as this plan says, so
  // what would fail there (after every frame was upscaled) fails here.
  StreamPlanOptions options;
  options.copy_audio = !settings.no_audio();
  ASSIGN_OR_RETURN(StreamPlan plan, PlanStreams(source->path, output_path, options));
  if (notices) {
    *notices = std::move(plan.notices);
    std::string depth = DepthNotice(settings, output_path, *source, width, height);
    if (!depth.empty()) notices->push_back(std::move(depth));
  }
  return absl::OkStatus();
}

}  // namespace anifarm
