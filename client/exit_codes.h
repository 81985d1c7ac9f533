// The `anifarm` CLI's exit statuses: a contract scripts rely on.
#ifndef ANIFARM_CLIENT_EXIT_CODES_H_
#define ANIFARM_CLIENT_EXIT_CODES_H_

#include "absl/status/status.h"

namespace anifarm {

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,        // anything else: an internal error here or on the coordinator
  kExitUsage = 2,        // bad command line
  kExitBadInput = 3,     // missing/unreadable file, not a video, unknown model, over a limit
  kExitJobFailed = 4,    // the job failed or was cancelled; nothing else exits 4
  kExitUnreachable = 5,  // cannot reach the coordinator
  kExitNotAllowed = 6,   // credentials missing, wrong or expired, the role may not, or the
                         // job's state refuses the action (pause a cancelled job)
  // 128 + the signal: stopped by SIGINT (130) or SIGTERM (143), as shells
  // report it. Remote commands: the jobs keep running on the coordinator;
  // `run`: its jobs are paused and the same command continues them.
  kExitSignalBase = 128,
  kExitInterrupted = 130,
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
    // A refused action (pause a finished job, retry a done one): the
    // request was fine but is not allowed now; the job did not fail.
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return kExitNotAllowed;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kResourceExhausted:  // over one of the coordinator's limits
      return kExitBadInput;
    default:
      // Internal, Unknown, DataLoss, ...: not the job's result (FollowJob
      // alone exits kExitJobFailed, from the job's final state).
      return kExitError;
  }
}

}  // namespace anifarm

#endif  // ANIFARM_CLIENT_EXIT_CODES_H_
