// EncodeSettings: what the user chose for the output video, and the rules
// that say which choices go together. docs/formats.md is the user's version
// of this file.
//
//   codec        profiles (first = default)            pixel format        containers
//   -----------  -------------------------------------  ------------------  --------------
//   h264         "" (x264 picks: high), baseline,       yuv420p             .mp4 .mkv .mov
//                main, high
//   h265         "" / main, main10                      yuv420p /           .mp4 .mkv .mov
//                                                       yuv420p10le (main10)
//   prores       "" / hq, proxy, lt, standard (or       yuv422p10le;        .mov .mkv
//                "422"), 4444, 4444xq                   4444/4444xq:
//                                                       yuv444p10le
//   dnxhd        "" / 115, 36, 175, 175x                yuv422p (175x:      .mov
//                (also "dnxhd_115"...): 1920x1080 only  yuv422p10le)
//   dnxhr        "" / hq, lb, sq, hqx, 444              yuv422p; hqx:       .mov
//                (also "dnxhr_hq"...): 256x120 or more  yuv422p10le; 444:
//                                                       yuv444p10le
//   ffv1         "" (lossless, RGB kept as RGB)         bgr0                .mkv
//   h264_nvenc   as h264 (falls back to libx264)        yuv420p             .mp4 .mkv .mov
//   hevc_nvenc   as h265 (falls back to libx265)        yuv420p / p010le    .mp4 .mkv .mov
//
// CRF applies to h264/h265 (and their nvenc variants, as constant quality):
// 0..51, default 18 for h264 and 20 for h265; the preset defaults to "slow".
// ProRes, DNxHD/HR and FFV1 ignore both (their quality is the profile).
// DNxHD bitrates follow the frame rate (Avid's table: "115" is 115 Mb/s at
// 23.976/24 fps, 120 at 25, 145 at 29.97, 240 at 50, 290 at 59.94).
// 4:2:0 and 4:2:2 formats need an even width (4:2:0 also an even height).
// DNxHD/HR go in .mov only: libavformat 5.1 has no Matroska mapping for them.
// Alpha: a source with an alpha channel keeps it in ProRes 4444 / 4444 XQ
// (yuva444p10le) and FFV1 (bgra); other codecs drop it with a notice.
// h264_nvenc/hevc_nvenc fall back to libx264/libx265 (same profile and CRF)
// with a notice where no NVIDIA encoder can be opened.
#ifndef ANIFARM_COMMON_MEDIA_ENCODE_SETTINGS_H_
#define ANIFARM_COMMON_MEDIA_ENCODE_SETTINGS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

extern "C" {
#include <libavutil/pixfmt.h>
#include <libavutil/rational.h>
}

namespace anifarm {

struct EncodeSettings {
  // "h264", "h265", "prores", "dnxhd", "dnxhr", "ffv1", "h264_nvenc",
  // "hevc_nvenc" ("hevc" and "h265_nvenc" are accepted as aliases).
  std::string codec = "h264";
  int crf = -1;          // -1: codec default (h264 18, h265 20)
  std::string preset;    // empty: "slow" for x264/x265, as the guide
  std::string profile;   // empty: the codec's default (table above)
};

// Refuses, before any work, a codec, profile, container (from the extension
// of `output_path`: .mp4, .mkv or .mov) or size that cannot work together.
// InvalidArgumentError whose message names the value at fault and what to use
// instead, e.g. "codec prores cannot go in .mp4 (use .mov or .mkv)".
// `frame_rate` (optional, {0, 1} = unknown) lets DNxHD check that it has a
// bitrate at that rate (23.976, 24, 25, 29.97, 50 or 59.94 fps).
absl::Status ValidateEncodeSettings(const EncodeSettings& settings,
                                    const std::string& output_path, int width, int height,
                                    AVRational frame_rate = AVRational{0, 1});

// The codec table: one row per codec `--codec` takes (encode_settings.cc).
// It drives the checks and encoder plans below, the coordinator's name check,
// the default container of an output folder and the CLI's help. Adding a
// codec is one row there plus its planning function.
struct CodecInfo {
  std::string name;                     // canonical, as --codec takes it
  std::vector<std::string> aliases;     // other spellings accepted
  std::vector<std::string> containers;  // ".mp4", ".mkv", ".mov"; first = default
  bool takes_crf = false;               // --crf and --preset apply
  std::string help;                     // one line for --help
  // The --preset names the encoder takes (any case), checked at submit so a
  // typo fails there and not on a node; empty: the codec has no presets
  // (its quality is the profile) and --preset is ignored.
  std::vector<std::string> presets;
};
const std::vector<CodecInfo>& Codecs();
// The row of `name` or one of its aliases (any case); nullptr when none.
const CodecInfo* FindCodec(const std::string& name);
// "h264, h265, ...": the canonical names in table order.
std::string CodecNameList();
// Every name --codec takes: the canonical names and their aliases.
std::vector<std::string> CodecSpellings();
// InvalidArgument "unknown codec 'h246' (expected h264, h265, ...); did you
// mean 'h264'?" unless `name` is in the table.
absl::Status CheckCodecName(const std::string& name);
// InvalidArgument "preset 'ultrafastest' is not valid for h264 (use
// ultrafast, ..., placebo); did you mean 'ultrafast'?" unless `preset` is
// empty or one of the codec's presets (any case); OK for a codec without presets or an unknown
// codec (CheckCodecName reports that).
absl::Status CheckPreset(const std::string& codec, const std::string& preset);

// ---------------------------------------------------------------------------
// For the writer: how a validated choice maps onto libavcodec.
struct EncoderPlan {
  std::string canonical_codec;   // "h264", "h265", "prores", ... ("h264_nvenc" kept)
  std::string encoder;           // libavcodec encoder name ("libx264", "prores_ks", ...)
  std::string fallback_encoder;  // tried when `encoder` is missing or fails to open
  AVPixelFormat pix_fmt = AV_PIX_FMT_NONE;
  AVPixelFormat fallback_pix_fmt = AV_PIX_FMT_NONE;
  int64_t bit_rate = 0;          // AVCodecContext.bit_rate (DNxHD only)
  // Private options for avcodec_open2, in order; the fallback has its own.
  std::vector<std::pair<std::string, std::string>> options;
  std::vector<std::pair<std::string, std::string>> fallback_options;
  std::string profile;           // the profile chosen, canonical name ("" = none)
};

// The --codec/--profile choices whose pixel format stores 10 bits (per the
// table above; "" = every profile of the codec), for the notice a deeper
// source gets when its output is 8-bit. FFV1 is not one: it stays 8-bit RGB.
// Frames are upscaled as 8-bit RGB either way (common/image.h); a 10-bit
// output keeps the finer steps of the RGB -> YUV conversion, which HDR's PQ
// curve needs against banding.
const std::vector<std::pair<std::string, std::string>>& TenBitProfiles();

// Validates (as ValidateEncodeSettings) and returns the plan.
absl::StatusOr<EncoderPlan> PlanEncoder(const EncodeSettings& settings,
                                        const std::string& output_path, int width, int height,
                                        AVRational frame_rate = AVRational{0, 1});

}  // namespace anifarm

#endif  // ANIFARM_COMMON_MEDIA_ENCODE_SETTINGS_H_
