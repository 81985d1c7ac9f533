// Logging for AniFarm's processes: spdlog, to stderr (stdout stays for
// what scripts read: job ids, paths, JSON).
//
// Daemons (the coordinator and nodes) stamp each line with the time and the
// level, for journald and container logs:
//
//   2026-11-25T16:20:00.123 info anifarm-node: job job-1 chunk 3: 12 frames upscaled in 4.1 s
//
// The CLI (`anifarm run` hosts a node worker) writes plain lines, as a user
// tool does:
//
//   anifarm: job job-1 chunk 3: 12 frames upscaled in 4.1 s
//
// After InitLogging, log with spdlog::info/warn/error("...{}...", value).
#ifndef ANIFARM_COMMON_LOGGING_H_
#define ANIFARM_COMMON_LOGGING_H_

#include <string>

namespace anifarm {

void InitLogging(const std::string& program, bool daemon);

}  // namespace anifarm

#endif  // ANIFARM_COMMON_LOGGING_H_
