#include "client/job_options.h"

#include <glob.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>
#include <vector>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/media/encode_settings.h"
#include "common/status_macros.h"

namespace anifarm {

std::set<std::string> JobValueFlags() {
  return {"model", "scale", "precision", "tile", "tile-overlap", "codec",
          "crf",   "preset", "o",        "output", "coordinator", "state-dir",
          "models-dir", "device", "priority", "frame-map", "size",
          "sharpen", "contrast", "saturation", "profile",
          "fps", "dedup", "near-psnr", "cleanup", "job-preset", "encode-at",
          "format", "quality", "compression", "deinterlace"};
}

std::set<std::string> JobSwitches() {
  return {"no-audio", "wait", "help", "keep-intermediates", "lossless", "keep-sar"};
}

namespace {

// The value of a flag that takes one of a few names; InvalidArgument lists
// them in the order given.
template <typename Value>
absl::StatusOr<Value> Choice(const CliArgs& args, const std::string& flag,
                             const std::string& fallback,
                             const std::vector<std::pair<std::string, Value>>& choices) {
  const std::string given = args.Get(flag, fallback);
  std::vector<std::string> names;
  for (const auto& [name, value] : choices) {
    if (name == given) return value;
    names.push_back(name);
  }
  return absl::InvalidArgumentError(absl::StrCat("--", flag, " '", given, "' is not one of ",
                                                 absl::StrJoin(names, ", ")));
}

}  // namespace

absl::StatusOr<v1::ProcessingSettings> SettingsFromArgs(const CliArgs& args) {
  v1::ProcessingSettings settings;
  settings.set_model(args.Get("model"));
  ASSIGN_OR_RETURN(int scale, args.GetInt("scale", 0));
  settings.set_scale(scale);
  settings.set_precision(args.Get("precision", "auto"));
  const std::string tile = args.Get("tile", "auto");
  if (tile == "auto") {
    settings.set_tile(0);
  } else {
    ASSIGN_OR_RETURN(int tile_px, args.GetInt("tile", 0));
    if (tile_px <= 0) return absl::InvalidArgumentError(absl::StrCat("--tile '", tile, "' must be auto or a positive size"));
    settings.set_tile(tile_px);
  }
  ASSIGN_OR_RETURN(int overlap, args.GetInt("tile-overlap", 32));
  settings.set_tile_overlap(overlap);
  settings.set_codec(args.Get("codec", "h264"));
  ASSIGN_OR_RETURN(int crf, args.GetInt("crf", -1));
  settings.set_crf(crf);
  settings.set_preset(args.Get("preset"));
  settings.set_profile(args.Get("profile"));
  settings.set_no_audio(args.Has("no-audio"));
  if (args.Has("size")) {
    const std::string size = args.Get("size");
    std::vector<std::string> parts = absl::StrSplit(size, 'x');
    int width = 0, height = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &width) ||
        !absl::SimpleAtoi(parts[1], &height) || width < 16 || height < 16) {
      return absl::InvalidArgumentError(
          absl::StrCat("--size '", size, "' is not WxH with sizes of at least 16"));
    }
    settings.set_target_width(width);
    settings.set_target_height(height);
  }
  // Anamorphic sources: square pixels at the display aspect unless kept
  // (common/media/output_geometry.h).
  settings.set_keep_sar(args.Has("keep-sar"));
  ASSIGN_OR_RETURN(double sharpen, args.GetDouble("sharpen", 0));
  settings.set_sharpen(static_cast<float>(sharpen));
  if (args.Has("contrast")) {
    ASSIGN_OR_RETURN(double contrast, args.GetDouble("contrast", 1));
    settings.set_contrast(static_cast<float>(contrast));
  }
  if (args.Has("saturation")) {
    ASSIGN_OR_RETURN(double saturation, args.GetDouble("saturation", 1));
    settings.set_saturation(static_cast<float>(saturation));
  }
  ASSIGN_OR_RETURN(double fps, args.GetDouble("fps", 0));
  settings.set_fps(fps);
  ASSIGN_OR_RETURN(v1::DedupMode dedup,
                   Choice<v1::DedupMode>(args, "dedup", "near",
                                         {{"off", v1::DEDUP_OFF},
                                          {"exact", v1::DEDUP_EXACT},
                                          {"near", v1::DEDUP_NEAR}}));
  settings.set_dedup(dedup);
  ASSIGN_OR_RETURN(double near_psnr, args.GetDouble("near-psnr", 0));
  settings.set_near_dedup_psnr(near_psnr);
  ASSIGN_OR_RETURN(v1::Cleanup cleanup,
                   Choice<v1::Cleanup>(args, "cleanup", "all",
                                       {{"all", v1::CLEANUP_ALL},
                                        {"input", v1::CLEANUP_INPUT},
                                        {"none", v1::CLEANUP_NONE}}));
  settings.set_cleanup(cleanup);
  ASSIGN_OR_RETURN(v1::EncodeAt encode_at,
                   Choice<v1::EncodeAt>(args, "encode-at", "nodes",
                                        {{"nodes", v1::ENCODE_AT_NODES},
                                         {"coordinator", v1::ENCODE_AT_COORDINATOR}}));
  settings.set_encode_at(encode_at);
  ASSIGN_OR_RETURN(v1::Deinterlace deinterlace,
                   Choice<v1::Deinterlace>(args, "deinterlace", "auto",
                                           {{"auto", v1::DEINTERLACE_AUTO},
                                            {"ivtc", v1::DEINTERLACE_IVTC},
                                            {"bwdif", v1::DEINTERLACE_BWDIF},
                                            {"off", v1::DEINTERLACE_OFF}}));
  settings.set_deinterlace(deinterlace);
  if (args.Has("format")) {
    std::string format = args.Get("format");
    if (format == "jpg") format = "jpeg";
    if (format != "png" && format != "jpeg" && format != "webp") {
      return absl::InvalidArgumentError(
          absl::StrCat("--format '", args.Get("format"), "' is not one of png, jpeg, webp"));
    }
    settings.set_image_format(format);
  }
  if (args.Has("quality")) {
    ASSIGN_OR_RETURN(int quality, args.GetInt("quality", -1));
    settings.set_quality(quality);
  }
  if (args.Has("compression")) {
    ASSIGN_OR_RETURN(int compression, args.GetInt("compression", -1));
    settings.set_compression(compression);
  }
  settings.set_lossless(args.Has("lossless"));
  ASSIGN_OR_RETURN(int priority, args.GetInt("priority", 0));
  settings.set_priority(priority);
  if (args.Has("frame-map")) {
    std::error_code ec;
    settings.set_frame_map_path(
        std::filesystem::absolute(args.Get("frame-map"), ec).lexically_normal().string());
  }
  return settings;
}

namespace {

std::string LowerExtension(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(c));
  return ext;
}

bool IsImageFile(const std::filesystem::path& path) {
  static const std::set<std::string> kExtensions = {".png", ".jpg", ".jpeg", ".webp", ".bmp",
                                                    ".tif", ".tiff", ".tga"};
  return kExtensions.count(LowerExtension(path)) > 0;
}

// Files a folder or glob submits: videos, and images (image jobs).
bool IsMediaFile(const std::filesystem::path& path) {
  static const std::set<std::string> kExtensions = {
      ".mkv", ".mp4", ".m4v", ".mov", ".avi", ".webm", ".ts", ".m2ts", ".flv", ".wmv", ".mpg",
      ".mpeg", ".ogv"};
  return kExtensions.count(LowerExtension(path)) > 0 || IsImageFile(path);
}

std::string Absolute(const std::string& path) {
  std::error_code ec;
  return std::filesystem::absolute(path, ec).lexically_normal().string();
}

}  // namespace

absl::StatusOr<std::vector<JobPaths>> JobPathsFromArgs(const CliArgs& args) {
  namespace fs = std::filesystem;
  if (args.positional().empty()) return absl::InvalidArgumentError("missing INPUT");
  const std::string output = args.Get("o", args.Get("output"));
  if (output.empty()) return absl::InvalidArgumentError("missing -o OUTPUT");

  std::vector<std::string> inputs;
  bool batch = args.positional().size() > 1;
  for (const std::string& arg : args.positional()) {
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      batch = true;
      std::vector<std::string> found;
      for (const fs::directory_entry& entry : fs::directory_iterator(arg, ec)) {
        if (entry.is_regular_file(ec) && IsMediaFile(entry.path())) found.push_back(entry.path());
      }
      if (found.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("folder ", arg, " has no video or image file"));
      }
      std::sort(found.begin(), found.end());
      inputs.insert(inputs.end(), found.begin(), found.end());
    } else if (arg.find_first_of("*?[") != std::string::npos && !fs::exists(arg, ec)) {
      batch = true;
      glob_t matches{};
      if (glob(arg.c_str(), 0, nullptr, &matches) != 0 || matches.gl_pathc == 0) {
        globfree(&matches);
        return absl::InvalidArgumentError(absl::StrCat("no file matches ", arg));
      }
      for (size_t i = 0; i < matches.gl_pathc; ++i) inputs.push_back(matches.gl_pathv[i]);
      globfree(&matches);
    } else {
      // A missing single file is reported by the coordinator, naming it.
      inputs.push_back(arg);
    }
  }
  std::vector<JobPaths> jobs;
  if (!batch) {
    jobs.push_back({Absolute(inputs.front()), Absolute(output)});
    return jobs;
  }
  std::error_code ec;
  fs::create_directories(output, ec);
  if (!fs::is_directory(output, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("-o ", output, " must be a folder when there are several inputs"));
  }
  std::set<std::string> seen;
  for (const std::string& input : inputs) {
    // Videos become .mp4 (or .mkv/.mov per --codec); images keep an image
    // format: --format, else PNG (lossless, as the guide's default).
    std::string extension = ".mp4";
    if (IsImageFile(input)) {
      const std::string format = args.Get("format", "png");
      extension = format == "jpeg" || format == "jpg" ? ".jpg" : "." + format;
    } else if (const CodecInfo* codec = FindCodec(args.Get("codec", "h264"))) {
      extension = codec->containers.front();  // the codec table's default container
    }
    const std::string target =
        (fs::path(output) / (fs::path(input).stem().string() + extension)).string();
    if (!seen.insert(target).second) {
      return absl::InvalidArgumentError(absl::StrCat("two inputs would both write ", target));
    }
    jobs.push_back({Absolute(input), Absolute(target)});
  }
  return jobs;
}

}  // namespace anifarm
