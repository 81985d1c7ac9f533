#include "coordinator/settings.h"

#include <cmath>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/media/stream_plan.h"
#include "common/model_catalog.h"
#include "common/status_macros.h"

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
  // time (ValidateEncodeSettings); here only the name.
  static const std::set<std::string> kCodecs = {
      "h264", "avc",    "x264",  "libx264", "h265",       "hevc",       "x265",
      "libx265", "prores", "dnxhd", "dnxhr", "ffv1", "h264_nvenc", "hevc_nvenc", "h265_nvenc"};
  if (!kCodecs.count(s->codec())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--codec '", s->codec(),
        "' is not supported (h264, h265, prores, dnxhd, dnxhr, ffv1, h264_nvenc, hevc_nvenc)"));
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

std::pair<int, int> OutputSizeOf(const v1::ProcessingSettings& settings, const MediaInfo& source) {
  if (settings.target_width() > 0) return {settings.target_width(), settings.target_height()};
  const int scale = settings.scale() > 0 ? settings.scale() : 2;
  return {source.video.width * scale, source.video.height * scale};
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
  if (notices) *notices = std::move(plan.notices);
  return absl::OkStatus();
}

}  // namespace anifarm
