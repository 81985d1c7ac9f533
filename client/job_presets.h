// Job presets: the feature guide's advice on which model and settings suit
// which kind of anime, as named bundles of flag values. `--job-preset NAME`
// fills the flags the user did not give; `anifarm presets` lists them.
//
// The guide recommends models that are not redistributable (Ani4K v2,
// AniToon, AniSD); each preset names the guide's pick and uses the closest
// model that `anifarm models fetch` installs, so it works out of the box.
// `--model` still overrides it.
#ifndef ANIFARM_CLIENT_JOB_PRESETS_H_
#define ANIFARM_CLIENT_JOB_PRESETS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/cli_args.h"

namespace anifarm {

struct JobPreset {
  std::string name;         // "modern-hd"
  std::string for_what;     // one line: which sources it is for
  std::string guide_model;  // the guide's recommended model
  std::string why;          // the guide's reasoning, one line
  // Flag values (without dashes) it sets unless given on the command line.
  std::vector<std::pair<std::string, std::string>> flags;
};

const std::vector<JobPreset>& JobPresets();

// Applies `--job-preset` if present. InvalidArgument names an unknown preset
// and lists the known ones.
absl::Status ApplyJobPreset(CliArgs* args);

// The `anifarm presets` listing (human text, or JSON with `json`).
std::string DescribeJobPresets(bool json);

}  // namespace anifarm

#endif  // ANIFARM_CLIENT_JOB_PRESETS_H_
