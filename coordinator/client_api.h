// ClientApi: the client-facing operations of a Coordinator as one caller may
// use them. The gRPC service and the dashboard both go through it, so the
// rules of access_control.h are enforced in one place:
//
//   - viewers read everything and change nothing;
//   - submitters submit, and read or act on their own jobs only;
//   - admins (and everyone when access control is off) do anything;
//   - nodes use none of this.
//
// A refused call returns PermissionDenied naming what was refused, before
// anything changes.
#ifndef ANIFARM_COORDINATOR_CLIENT_API_H_
#define ANIFARM_COORDINATOR_CLIENT_API_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/access_control.h"
#include "coordinator/coordinator.h"
#include "coordinator/transfers.h"
#include "protos/anifarm.pb.h"

namespace anifarm {

class ClientApi {
 public:
  ClientApi(Coordinator* coordinator, Principal caller)
      : coordinator_(coordinator), caller_(std::move(caller)) {}

  absl::StatusOr<std::string> SubmitJob(const v1::SubmitJobRequest& request);
  absl::StatusOr<v1::JobStatus> GetJob(const std::string& job_id);
  // The jobs the caller may see.
  absl::StatusOr<std::vector<v1::JobStatus>> ListJobs();
  // `action`: "cancel", "pause", "resume" or "retry" (the CLI's and the
  // dashboard's names). InvalidArgument for another name.
  absl::StatusOr<v1::JobState> Act(const std::string& action, const std::string& job_id);
  absl::StatusOr<std::vector<v1::ChunkInfo>> ListChunks(const std::string& job_id);
  absl::StatusOr<std::string> Preview(const std::string& job_id, bool before);
  absl::StatusOr<std::vector<v1::NodeInfo>> ListNodes();
  absl::StatusOr<std::vector<v1::ModelInfo>> ListModels();
  // The series cache's figures (viewers); `clear` empties it first (admins).
  absl::StatusOr<v1::SeriesCacheInfo> SeriesCache(bool clear);
  // Starts receiving an input file (submitters and admins; ResourceExhausted
  // over --max-upload-size).
  absl::StatusOr<std::unique_ptr<UploadWriter>> BeginUpload(const std::string& file_name,
                                                            int64_t size_bytes);
  // The output file of a finished job the caller may see.
  absl::StatusOr<std::string> OutputFile(const std::string& job_id);
  // OK when the caller may follow the job (WatchJob).
  absl::Status CheckCanWatch(const std::string& job_id) { return GetJob(job_id).status(); }
  // OK when the caller may read farm-wide figures (/metrics).
  absl::Status CheckCanView() const;

 private:
  absl::Status Refuse(const std::string& what) const;

  Coordinator* coordinator_;
  Principal caller_;
};

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_CLIENT_API_H_
