// Moving files to and from a coordinator that does not share the client's
// disk: `anifarm submit --upload` sends each input with UploadInput, and
// `--wait` (or `anifarm download`) fetches the output with DownloadOutput.
#ifndef ANIFARM_CLIENT_FILE_TRANSFER_H_
#define ANIFARM_CLIENT_FILE_TRANSFER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "protos/anifarm.grpc.pb.h"

namespace anifarm {

// Sends `local_path` in 1 MiB pieces; returns the path the coordinator
// stored it at (for SubmitJobRequest.input_path). NotFound names an
// unreadable file; the coordinator's refusals (size limit, role) come back
// as they are. `address` names the coordinator in errors.
absl::StatusOr<std::string> UploadFile(v1::Coordinator::Stub* stub, const std::string& address,
                                       const std::string& local_path);

// Writes job `job_id`'s output to `local_path`, through a temporary file
// renamed into place once every announced byte arrived: an interrupted
// download never leaves a truncated file under the final name.
absl::Status DownloadFile(v1::Coordinator::Stub* stub, const std::string& address,
                          const std::string& job_id, const std::string& local_path);

// Removes the temporary file of the download in progress, if any: for the
// CLI's Ctrl-C, which ends the process without unwinding DownloadFile.
void RemovePartialDownload();

}  // namespace anifarm

#endif  // ANIFARM_CLIENT_FILE_TRANSFER_H_
