#include "client/job_options.h"

#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace anifarm {

std::set<std::string> JobValueFlags() {
  return {"model", "scale", "precision", "tile", "tile-overlap", "codec",
          "crf",   "preset", "o",        "output", "coordinator", "state-dir",
          "models-dir", "device", "priority", "frame-map", "size"};
}

std::set<std::string> JobSwitches() { return {"no-audio", "wait", "help", "keep-intermediates"}; }

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
  ASSIGN_OR_RETURN(int priority, args.GetInt("priority", 0));
  settings.set_priority(priority);
  if (args.Has("frame-map")) {
    std::error_code ec;
    settings.set_frame_map_path(
        std::filesystem::absolute(args.Get("frame-map"), ec).lexically_normal().string());
  }
  return settings;
}

absl::StatusOr<JobPaths> JobPathsFromArgs(const CliArgs& args) {
  if (args.positional().size() != 1) {
    return absl::InvalidArgumentError(args.positional().empty()
                                          ? "missing INPUT"
                                          : absl::StrCat("unexpected argument ",
                                                         args.positional()[1]));
  }
  std::string output = args.Get("o", args.Get("output"));
  if (output.empty()) return absl::InvalidArgumentError("missing -o OUTPUT");
  std::error_code ec;
  JobPaths paths;
  paths.input = std::filesystem::absolute(args.positional()[0], ec).lexically_normal().string();
  paths.output = std::filesystem::absolute(output, ec).lexically_normal().string();
  return paths;
}

}  // namespace anifarm
