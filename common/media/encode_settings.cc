#include "common/media/encode_settings.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "common/suggest.h"

namespace anifarm {
namespace {

enum class Container { kMp4, kMkv, kMov };

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

absl::StatusOr<Container> ContainerOf(const std::string& path) {
  const std::string ext = Lower(std::filesystem::path(path).extension().string());
  if (ext == ".mp4") return Container::kMp4;
  if (ext == ".mkv") return Container::kMkv;
  if (ext == ".mov") return Container::kMov;
  return absl::InvalidArgumentError(
      absl::StrCat("container '", ext.empty() ? std::string("(no extension)") : ext, "' of ", path,
                   " is not supported (use .mp4, .mkv or .mov)"));
}

const char* ContainerName(Container c) {
  switch (c) {
    case Container::kMp4:
      return ".mp4";
    case Container::kMkv:
      return ".mkv";
    case Container::kMov:
      return ".mov";
  }
  return "?";
}

// Strips a "prefix_" spelling ("dnxhr_hq" -> "hq") and lower-cases.
std::string CanonicalProfile(const std::string& profile, const std::string& prefix) {
  std::string p = Lower(profile);
  if (!prefix.empty() && p.rfind(prefix, 0) == 0) p = p.substr(prefix.size());
  return p;
}

absl::Status BadProfile(const std::string& codec, const std::string& profile,
                        const std::vector<std::string>& valid) {
  return absl::InvalidArgumentError(absl::StrCat("profile '", profile, "' is not valid for ", codec,
                                                 " (use ", absl::StrJoin(valid, ", "), ")"));
}

bool Near(AVRational rate, double fps) {
  return rate.num > 0 && rate.den > 0 && std::fabs(av_q2d(rate) - fps) < 0.01;
}

// Avid's DNxHD 1080p bitrates (Mb/s) by frame rate, for the families named by
// their 23.976 fps rate. Index: 36, 115, 175 (175x shares 175's column).
struct DnxhdRow {
  double fps;
  int rates[3];
};
constexpr DnxhdRow kDnxhdRates[] = {
    {24000.0 / 1001, {36, 115, 175}}, {24, {36, 115, 175}}, {25, {36, 120, 185}},
    {30000.0 / 1001, {45, 145, 220}}, {50, {75, 240, 365}}, {60000.0 / 1001, {90, 290, 440}},
};

// x264's and x265's presets, fastest first (`x264 --help`, `x265 --help`).
const std::vector<std::string>& X26xPresets() {
  static const std::vector<std::string> kPresets = {
      "ultrafast", "superfast", "veryfast", "faster", "fast",
      "medium",    "slow",      "slower",   "veryslow", "placebo"};
  return kPresets;
}

// NVENC's own p1..p7, then the x264 names it maps (NvencPreset below), so a
// preset works the same on the fallback software encoder.
const std::vector<std::string>& NvencPresets() {
  static const std::vector<std::string> kPresets = [] {
    std::vector<std::string> presets = {"p1", "p2", "p3", "p4", "p5", "p6", "p7"};
    presets.insert(presets.end(), X26xPresets().begin(), X26xPresets().end());
    return presets;
  }();
  return kPresets;
}

// x264/x265 preset names -> NVENC's p1 (fastest) .. p7 (best); other names
// (NVENC's own) pass through.
std::string NvencPreset(const std::string& preset) {
  const std::string p = Lower(preset);
  if (p == "ultrafast" || p == "superfast") return "p1";
  if (p == "veryfast") return "p2";
  if (p == "faster") return "p3";
  if (p == "fast") return "p4";
  if (p == "medium") return "p5";
  if (p == "slow") return "p6";
  if (p == "slower" || p == "veryslow" || p == "placebo") return "p7";
  return p;
}

absl::Status PlanH26x(const EncodeSettings& settings, const std::string& codec, int width,
                  int height, AVRational frame_rate, EncoderPlan& plan) {
  // Rate control for the CRF codecs.
  const bool is264 = codec == "h264" || codec == "h264_nvenc";
  const int default_crf = is264 ? 18 : 20;
  if (settings.crf > 51) {
    return absl::InvalidArgumentError(
        absl::StrCat("crf ", settings.crf, " is out of range for ", codec, " (0..51)"));
  }
  const int crf = settings.crf >= 0 ? settings.crf : default_crf;
  // CheckPreset (PlanEncoder) accepted it in any case; the encoders want lower case.
  const std::string preset = settings.preset.empty() ? "slow" : Lower(settings.preset);

  if (width % 2 || height % 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(codec, " (4:2:0) needs an even width and height, got ", width, "x", height));
  }
  const std::string profile = Lower(settings.profile);
  if (is264) {
    if (!profile.empty() && profile != "baseline" && profile != "main" && profile != "high") {
      return BadProfile(codec, settings.profile, {"baseline", "main", "high"});
    }
  } else if (!profile.empty() && profile != "main" && profile != "main10") {
    return BadProfile(codec, settings.profile, {"main", "main10"});
  }
  plan.profile = profile;
  const bool ten_bit = profile == "main10";
  const std::string software = is264 ? "libx264" : "libx265";
  auto software_options = [&]() {
    std::vector<std::pair<std::string, std::string>> o = {{"crf", std::to_string(crf)},
                                                          {"preset", preset}};
    if (!profile.empty()) o.emplace_back("profile", profile);
    if (!is264) o.emplace_back("x265-params", "log-level=error");
    return o;
  };
  if (codec == "h264" || codec == "h265") {
    plan.encoder = software;
    plan.pix_fmt = ten_bit ? AV_PIX_FMT_YUV420P10LE : AV_PIX_FMT_YUV420P;
    plan.options = software_options();
  } else {
    plan.encoder = codec;
    plan.pix_fmt = ten_bit ? AV_PIX_FMT_P010LE : AV_PIX_FMT_YUV420P;
    // Constant quality, the nvenc counterpart of CRF.
    plan.options = {{"rc", "vbr"}, {"cq", std::to_string(crf)}};
    plan.options.emplace_back("preset", NvencPreset(preset));
    if (!profile.empty()) plan.options.emplace_back("profile", profile);
    plan.fallback_encoder = software;
    plan.fallback_pix_fmt = ten_bit ? AV_PIX_FMT_YUV420P10LE : AV_PIX_FMT_YUV420P;
    plan.fallback_options = software_options();
  }
  return absl::OkStatus();
}

absl::Status PlanProres(const EncodeSettings& settings, const std::string& codec, int width,
                  int height, AVRational frame_rate, EncoderPlan& plan) {
  std::string profile = CanonicalProfile(settings.profile, "prores_");
  if (profile == "422") profile = "standard";
  if (profile.empty()) profile = "hq";
  static const std::vector<std::string> kProfiles = {"proxy", "lt",   "standard",
                                                     "hq",    "4444", "4444xq"};
  if (std::find(kProfiles.begin(), kProfiles.end(), profile) == kProfiles.end()) {
    return BadProfile(codec, settings.profile,
                      {"proxy", "lt", "standard (or 422)", "hq", "4444", "4444xq"});
  }
  const bool full = profile == "4444" || profile == "4444xq";
  if (!full && width % 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ProRes ", profile, " (4:2:2) needs an even width, got ", width, "x", height));
  }
  plan.encoder = "prores_ks";
  plan.profile = profile;
  // With a source alpha channel the encoder switches 4444 to yuva444p10le
  // (VideoEncoder).
  plan.pix_fmt = full ? AV_PIX_FMT_YUV444P10LE : AV_PIX_FMT_YUV422P10LE;
  plan.options = {{"profile", profile}};
  return absl::OkStatus();
}

absl::Status PlanDnxhd(const EncodeSettings& settings, const std::string& codec, int width,
                  int height, AVRational frame_rate, EncoderPlan& plan) {
  std::string profile = CanonicalProfile(settings.profile, "dnxhd_");
  if (profile.empty()) profile = "115";
  int column = -1;
  if (profile == "36") column = 0;
  if (profile == "115") column = 1;
  if (profile == "175" || profile == "175x") column = 2;
  if (column < 0) return BadProfile(codec, settings.profile, {"36", "115", "175", "175x"});
  if (width != 1920 || height != 1080) {
    return absl::InvalidArgumentError(absl::StrCat("DNxHD ", profile, " needs 1920x1080, got ",
                                                   width, "x", height, " (use dnxhr)"));
  }
  int mbps = 0;
  const bool known_rate = frame_rate.num > 0 && frame_rate.den > 0;
  for (const DnxhdRow& row : kDnxhdRates) {
    if (!known_rate || Near(frame_rate, row.fps)) {
      mbps = row.rates[column];
      break;
    }
  }
  if (mbps == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DNxHD ", profile, " has no bitrate at ", frame_rate.num, "/", frame_rate.den,
        " fps (DNxHD takes 23.976, 24, 25, 29.97, 50 or 59.94 fps; use dnxhr)"));
  }
  plan.encoder = "dnxhd";
  plan.profile = profile;
  plan.pix_fmt = profile == "175x" ? AV_PIX_FMT_YUV422P10LE : AV_PIX_FMT_YUV422P;
  plan.bit_rate = static_cast<int64_t>(mbps) * 1000000;
  plan.options = {{"profile", "dnxhd"}};
  return absl::OkStatus();
}

absl::Status PlanDnxhr(const EncodeSettings& settings, const std::string& codec, int width,
                  int height, AVRational frame_rate, EncoderPlan& plan) {
  std::string profile = CanonicalProfile(settings.profile, "dnxhr_");
  if (profile.empty()) profile = "hq";
  if (profile != "lb" && profile != "sq" && profile != "hq" && profile != "hqx" &&
      profile != "444") {
    return BadProfile(codec, settings.profile, {"lb", "sq", "hq", "hqx", "444"});
  }
  if (width < 256 || height < 120) {
    return absl::InvalidArgumentError(
        absl::StrCat("DNxHR ", profile, " needs at least 256x120, got ", width, "x", height));
  }
  if (profile != "444" && width % 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DNxHR ", profile, " (4:2:2) needs an even width, got ", width, "x", height));
  }
  plan.encoder = "dnxhd";
  plan.profile = profile;
  plan.pix_fmt = profile == "444"   ? AV_PIX_FMT_YUV444P10LE
                 : profile == "hqx" ? AV_PIX_FMT_YUV422P10LE
                                    : AV_PIX_FMT_YUV422P;
  plan.options = {{"profile", "dnxhr_" + profile}};
  return absl::OkStatus();
}

absl::Status PlanFfv1(const EncodeSettings& settings, const std::string& codec, int width,
                  int height, AVRational frame_rate, EncoderPlan& plan) {
  if (!settings.profile.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("profile '", settings.profile, "' is not valid for ffv1 (it has none)"));
  }
  plan.encoder = "ffv1";
  // FFV1 is the archival choice: keep it truly lossless by staying in RGB.
  plan.pix_fmt = AV_PIX_FMT_0RGB32;
  plan.options = {{"level", "3"},      // version 3: sliced, so it encodes in parallel
                  {"slicecrc", "1"}};  // and detects corruption on decode
  return absl::OkStatus();
}

// How one codec's choice maps onto libavcodec (validating it first).
using CodecPlanner = absl::Status (*)(const EncodeSettings& settings, const std::string& codec,
                                      int width, int height, AVRational frame_rate,
                                      EncoderPlan& plan);

struct CodecEntry {
  CodecInfo info;
  CodecPlanner plan;
};

// The codec table: one row per codec --codec takes. What libavformat 5.1 can
// mux decides the containers: DNxHD/HR only in QuickTime (Matroska has no
// tag for them), FFV1 only in Matroska, ProRes in QuickTime or Matroska.
const std::vector<CodecEntry>& CodecEntries() {
  static const std::vector<CodecEntry> kTable = {
      {{"h264", {"avc", "x264", "libx264"}, {".mp4", ".mkv", ".mov"}, true,
        "H.264 (libx264), 8-bit 4:2:0", X26xPresets()},
       PlanH26x},
      {{"h265", {"hevc", "x265", "libx265"}, {".mp4", ".mkv", ".mov"}, true,
        "H.265/HEVC (libx265), main or main10", X26xPresets()},
       PlanH26x},
      {{"prores", {"prores_ks"}, {".mov", ".mkv"}, false,
        "Apple ProRes 422/4444 (prores_ks), 10-bit"},
       PlanProres},
      {{"dnxhd", {}, {".mov"}, false, "Avid DNxHD, 1920x1080 only"}, PlanDnxhd},
      {{"dnxhr", {}, {".mov"}, false, "Avid DNxHR, any size from 256x120"}, PlanDnxhr},
      {{"ffv1", {}, {".mkv"}, false, "FFV1, lossless RGB (archival)"}, PlanFfv1},
      {{"h264_nvenc", {}, {".mp4", ".mkv", ".mov"}, true,
        "H.264 on NVIDIA's encoder, libx264 where there is none", NvencPresets()},
       PlanH26x},
      {{"hevc_nvenc", {"h265_nvenc"}, {".mp4", ".mkv", ".mov"}, true,
        "HEVC on NVIDIA's encoder, libx265 where there is none", NvencPresets()},
       PlanH26x},
  };
  return kTable;
}

const CodecEntry* FindEntry(const std::string& name) {
  const std::string wanted = Lower(name);
  for (const CodecEntry& entry : CodecEntries()) {
    if (entry.info.name == wanted) return &entry;
    for (const std::string& alias : entry.info.aliases) {
      if (alias == wanted) return &entry;
    }
  }
  return nullptr;
}

}  // namespace

const std::vector<CodecInfo>& Codecs() {
  static const std::vector<CodecInfo> kInfos = [] {
    std::vector<CodecInfo> infos;
    for (const CodecEntry& entry : CodecEntries()) infos.push_back(entry.info);
    return infos;
  }();
  return kInfos;
}

const CodecInfo* FindCodec(const std::string& name) {
  const CodecEntry* entry = FindEntry(name);
  return entry ? &entry->info : nullptr;
}

std::string CodecNameList() {
  std::vector<std::string> names;
  for (const CodecInfo& info : Codecs()) names.push_back(info.name);
  return absl::StrJoin(names, ", ");
}

std::vector<std::string> CodecSpellings() {
  std::vector<std::string> names;
  for (const CodecInfo& info : Codecs()) {
    names.push_back(info.name);
    names.insert(names.end(), info.aliases.begin(), info.aliases.end());
  }
  return names;
}

absl::Status CheckCodecName(const std::string& name) {
  if (FindEntry(name)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("unknown codec '", name, "' (expected ",
                                                 CodecNameList(), ")",
                                                 DidYouMean(name, CodecSpellings())));
}

absl::Status CheckPreset(const std::string& codec, const std::string& preset) {
  const CodecEntry* entry = FindEntry(codec);
  if (!entry || preset.empty() || entry->info.presets.empty()) return absl::OkStatus();
  const std::vector<std::string>& presets = entry->info.presets;
  if (std::find(presets.begin(), presets.end(), Lower(preset)) != presets.end()) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("preset '", preset, "' is not valid for ", entry->info.name, " (use ",
                   absl::StrJoin(presets, ", "), ")", DidYouMean(preset, presets)));
}

absl::StatusOr<EncoderPlan> PlanEncoder(const EncodeSettings& settings,
                                        const std::string& output_path, int width, int height,
                                        AVRational frame_rate) {
  RETURN_IF_ERROR(CheckCodecName(settings.codec));
  RETURN_IF_ERROR(CheckPreset(settings.codec, settings.preset));
  const CodecEntry* entry = FindEntry(settings.codec);
  EncoderPlan plan;
  plan.canonical_codec = entry->info.name;
  ASSIGN_OR_RETURN(const Container container, ContainerOf(output_path));
  const std::vector<std::string>& containers = entry->info.containers;
  if (std::find(containers.begin(), containers.end(), ContainerName(container)) ==
      containers.end()) {
    return absl::InvalidArgumentError(absl::StrCat("codec ", entry->info.name, " cannot go in ",
                                                   ContainerName(container), " (use ",
                                                   absl::StrJoin(containers, " or "), ")"));
  }
  if (width <= 0 || height <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid output size ", width, "x", height, " for ", output_path));
  }
  RETURN_IF_ERROR(
      entry->plan(settings, entry->info.name, width, height, frame_rate, plan));
  return plan;
}

absl::Status ValidateEncodeSettings(const EncodeSettings& settings, const std::string& output_path,
                                    int width, int height, AVRational frame_rate) {
  return PlanEncoder(settings, output_path, width, height, frame_rate).status();
}

const std::vector<std::pair<std::string, std::string>>& TenBitProfiles() {
  static const std::vector<std::pair<std::string, std::string>> kTenBit = {
      {"h265", "main10"}, {"hevc_nvenc", "main10"}, {"prores", ""},
      {"dnxhr", "hqx"},   {"dnxhr", "444"},         {"dnxhd", "175x"}};
  return kTenBit;
}

}  // namespace anifarm
