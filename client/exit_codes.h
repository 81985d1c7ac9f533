// The `anifarm` CLI's exit statuses: a contract scripts rely on.
#ifndef ANIFARM_CLIENT_EXIT_CODES_H_
#define ANIFARM_CLIENT_EXIT_CODES_H_

#include "absl/status/status.h"

namespace anifarm {

enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 2,        // bad command line
  kExitBadInput = 3,     // missing/unreadable file, not a video, unknown model, over a limit
  kExitJobFailed = 4,    // the job failed or was cancelled
  kExitUnreachable = 5,  // cannot reach the coordinator
  kExitNotAllowed = 6,   // credentials missing, wrong or expired, or the role may not
  kExitInterrupted = 130,  // `run` stopped by Ctrl-C/SIGTERM; the same command continues it
};

// Maps an error from the coordinator (or the embedded one) onto an exit code.
inline ExitCode ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnreachable;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return kExitNotAllowed;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kResourceExhausted:  // over one of the coordinator's limits
      return kExitBadInput;
    default:
      return kExitJobFailed;
  }
}

}  // namespace anifarm

#endif  // ANIFARM_CLIENT_EXIT_CODES_H_
