// The processing options shared by `anifarm run` and `anifarm submit`, and
// their translation into v1::ProcessingSettings.
#ifndef ANIFARM_CLIENT_JOB_OPTIONS_H_
#define ANIFARM_CLIENT_JOB_OPTIONS_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/cli_args.h"
#include "protos/anifarm.pb.h"

namespace anifarm {

// Flags taking a value / switches understood by run and submit.
std::set<std::string> JobValueFlags();
std::set<std::string> JobSwitches();

// InvalidArgument names the flag and value at fault.
absl::StatusOr<v1::ProcessingSettings> SettingsFromArgs(const CliArgs& args);

// One job's INPUT and OUTPUT as absolute paths (the coordinator may run in
// another working directory).
struct JobPaths {
  std::string input;
  std::string output;
};

// The jobs named on the command line. One INPUT file gives one job with
// -o as the output file. Several inputs, a folder or a quoted glob
// ('season1/*.mkv') give one job per video file, and -o is then a folder
// (created if missing) receiving <name>.mp4 for each input (a whole season
// in one command). InvalidArgument names what is wrong.
absl::StatusOr<std::vector<JobPaths>> JobPathsFromArgs(const CliArgs& args);

}  // namespace anifarm

#endif  // ANIFARM_CLIENT_JOB_OPTIONS_H_
