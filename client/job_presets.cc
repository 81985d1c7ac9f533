#include "client/job_presets.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/suggest.h"

namespace anifarm {

const std::vector<JobPreset>& JobPresets() {
  static const std::vector<JobPreset> presets = {
      {"modern-hd", "anime from 2010 on, clean HD sources, whole series in batch",
       "2x_Ani4Kv2_G6i2_Compact_107500",
       "a Compact 2x model keeps fine detail (hair, eyes, line art) with minimal artefacts",
       {{"model", "2x-AniScale"}, {"precision", "auto"}, {"tile-overlap", "32"},
        {"codec", "h264"}, {"crf", "18"}, {"preset", "slow"}}},
      {"old-compressed", "anime from 1990-2010, DVD or web sources with compression damage",
       "2x_AniToon_RPLKSR_197500",
       "a model trained on degraded sources recovers what compression lost; a little "
       "contrast compensates the washed-out look; held frames differ only by noise; NTSC "
       "DVDs are mostly telecined film: inverse telecine back to 23.976 (auto detects it)",
       {{"model", "realesr-animevideov3-x2"}, {"sharpen", "0.3"}, {"contrast", "1.1"},
        {"dedup", "near"}, {"deinterlace", "auto"}, {"codec", "h264"}, {"crf", "18"},
        {"preset", "slow"}}},
      {"cel-era", "cel anime from 1980-2000, film scans with grain",
       "2x_AniSD_AC_RealPLKSR_127500",
       "keep the grain and the period look: no sharpening, wide tile overlap, 10-bit HEVC "
       "for the archive",
       {{"model", "2x-AniScale"}, {"sharpen", "0"}, {"tile-overlap", "48"}, {"codec", "h265"},
        {"profile", "main10"}, {"crf", "20"}, {"preset", "slow"}, {"deinterlace", "auto"}}},
      {"fastest", "quick tests and very large batches",
       "2x_AniScale2S_Compact_i8_60K",
       "the smallest Compact model, fp16, large tiles with a small overlap, a faster encode",
       {{"model", "2x-AniScale"}, {"precision", "fp16"}, {"tile-overlap", "16"},
        {"codec", "h264"}, {"crf", "20"}, {"preset", "fast"}}},
  };
  return presets;
}

absl::Status ApplyJobPreset(CliArgs* args) {
  if (!args->Has("job-preset")) return absl::OkStatus();
  const std::string name = args->Get("job-preset");
  std::vector<std::string> names;
  for (const JobPreset& preset : JobPresets()) {
    if (preset.name == name) {
      for (const auto& [flag, value] : preset.flags) args->SetDefault(flag, value);
      return absl::OkStatus();
    }
    names.push_back(preset.name);
  }
  return absl::InvalidArgumentError(absl::StrCat("--job-preset '", name, "' is not one of ",
                                                 absl::StrJoin(names, ", "),
                                                 DidYouMean(name, names)));
}

namespace {

std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string DescribeJobPresets(bool json) {
  std::string out;
  if (json) {
    out = "[";
    for (const JobPreset& p : JobPresets()) {
      if (out.size() > 1) out += ",";
      absl::StrAppend(&out, "{\"name\":", JsonString(p.name), ",\"for\":", JsonString(p.for_what),
                      ",\"guide_model\":", JsonString(p.guide_model), ",\"why\":",
                      JsonString(p.why), ",\"flags\":{");
      bool first = true;
      for (const auto& [flag, value] : p.flags) {
        absl::StrAppend(&out, first ? "" : ",", JsonString(flag), ":", JsonString(value));
        first = false;
      }
      out += "}}";
    }
    return out + "]";
  }
  for (const JobPreset& p : JobPresets()) {
    std::string flags;
    for (const auto& [flag, value] : p.flags) absl::StrAppend(&flags, " --", flag, " ", value);
    absl::StrAppend(&out, p.name, "\n  for:   ", p.for_what, "\n  why:   ", p.why,
                    "\n  guide: ", p.guide_model, " (pass --model if you have it)\n  sets: ",
                    flags, "\n\n");
  }
  absl::StrAppend(&out, "Use: anifarm run INPUT -o OUTPUT --job-preset NAME (flags you give win)\n");
  return out;
}

}  // namespace anifarm
