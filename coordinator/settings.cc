#include "coordinator/settings.h"

#include "absl/strings/str_cat.h"
#include "common/model_catalog.h"

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
  if (s->codec() != "h264" && s->codec() != "h265" && s->codec() != "ffv1") {
    return absl::InvalidArgumentError(
        absl::StrCat("--codec '", s->codec(), "' is not supported (h264, h265, ffv1)"));
  }
  if (s->crf() < -1 || s->crf() > 51) {
    return absl::InvalidArgumentError(absl::StrCat("--crf ", s->crf(), " is outside 0..51"));
  }
  return absl::OkStatus();
}

}  // namespace anifarm
