// The processing options shared by `anifarm run` and `anifarm submit`, and
// their translation into v1::ProcessingSettings.
#ifndef ANIFARM_CLIENT_JOB_OPTIONS_H_
#define ANIFARM_CLIENT_JOB_OPTIONS_H_

#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "common/cli_args.h"
#include "protos/anifarm.pb.h"

namespace anifarm {

// Flags taking a value / switches understood by run and submit.
std::set<std::string> JobValueFlags();
std::set<std::string> JobSwitches();

// InvalidArgument names the flag and value at fault.
absl::StatusOr<v1::ProcessingSettings> SettingsFromArgs(const CliArgs& args);

// INPUT and -o OUTPUT as absolute paths (the coordinator may run elsewhere
// in the file system's view, e.g. another working directory).
struct JobPaths {
  std::string input;
  std::string output;
};
absl::StatusOr<JobPaths> JobPathsFromArgs(const CliArgs& args);

}  // namespace anifarm

#endif  // ANIFARM_CLIENT_JOB_OPTIONS_H_
