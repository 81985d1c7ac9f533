#include "coordinator/client_api.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace anifarm {

absl::Status ClientApi::Refuse(const std::string& what) const {
  return absl::PermissionDeniedError(absl::StrCat(
      caller_.name, " (", RoleName(caller_.role), ") may not ", what));
}

absl::Status ClientApi::CheckCanView() const {
  return caller_.CanView() ? absl::OkStatus() : Refuse("use the client API");
}

absl::StatusOr<std::string> ClientApi::SubmitJob(const v1::SubmitJobRequest& request) {
  if (!caller_.CanSubmit()) return Refuse("submit jobs");
  return coordinator_->SubmitJob(request, caller_.name);
}

absl::StatusOr<v1::JobStatus> ClientApi::GetJob(const std::string& job_id) {
  RETURN_IF_ERROR(CheckCanView());
  ASSIGN_OR_RETURN(v1::JobStatus job, coordinator_->GetJob(job_id));
  if (!caller_.CanSee(job.owner())) {
    return Refuse(absl::StrCat("see job ", job_id, ", which belongs to another user"));
  }
  return job;
}

absl::StatusOr<std::vector<v1::JobStatus>> ClientApi::ListJobs() {
  RETURN_IF_ERROR(CheckCanView());
  ASSIGN_OR_RETURN(std::vector<v1::JobStatus> jobs, coordinator_->ListJobs());
  std::vector<v1::JobStatus> visible;
  for (v1::JobStatus& job : jobs) {
    if (caller_.CanSee(job.owner())) visible.push_back(std::move(job));
  }
  return visible;
}

absl::StatusOr<v1::JobState> ClientApi::Act(const std::string& action, const std::string& job_id) {
  absl::StatusOr<v1::JobState> (Coordinator::*method)(const std::string&) = nullptr;
  if (action == "cancel") method = &Coordinator::CancelJob;
  if (action == "pause") method = &Coordinator::PauseJob;
  if (action == "resume") method = &Coordinator::ResumeJob;
  if (action == "retry") method = &Coordinator::RetryJob;
  if (method == nullptr) return absl::InvalidArgumentError(absl::StrCat("no action '", action, "'"));
  RETURN_IF_ERROR(CheckCanView());
  ASSIGN_OR_RETURN(v1::JobStatus job, coordinator_->GetJob(job_id));
  if (!caller_.CanChange(job.owner())) {
    return Refuse(absl::StrCat(action, " job ", job_id,
                               caller_.role == Role::kViewer ? "" : ", which belongs to another user"));
  }
  return (coordinator_->*method)(job_id);
}

absl::StatusOr<std::vector<v1::ChunkInfo>> ClientApi::ListChunks(const std::string& job_id) {
  RETURN_IF_ERROR(GetJob(job_id).status());
  return coordinator_->ListChunks(job_id);
}

absl::StatusOr<std::string> ClientApi::Preview(const std::string& job_id, bool before) {
  RETURN_IF_ERROR(GetJob(job_id).status());
  return coordinator_->Preview(job_id, before);
}

absl::StatusOr<std::unique_ptr<UploadWriter>> ClientApi::BeginUpload(const std::string& file_name,
                                                                     int64_t size_bytes) {
  if (!caller_.CanSubmit()) return Refuse("upload files");
  RETURN_IF_ERROR(CheckUploadSize(coordinator_->limits(), size_bytes));
  return UploadWriter::Begin(coordinator_->uploads_dir(), file_name, size_bytes);
}

absl::StatusOr<std::string> ClientApi::OutputFile(const std::string& job_id) {
  RETURN_IF_ERROR(GetJob(job_id).status());
  return coordinator_->OutputFile(job_id);
}

absl::StatusOr<std::vector<v1::NodeInfo>> ClientApi::ListNodes() {
  RETURN_IF_ERROR(CheckCanView());
  return coordinator_->ListNodes();
}

absl::StatusOr<v1::SeriesCacheInfo> ClientApi::SeriesCache(bool clear) {
  RETURN_IF_ERROR(CheckCanView());
  if (clear && !caller_.IsAdmin()) return Refuse("clear the series cache");
  return coordinator_->SeriesCacheInfo(clear);
}

absl::StatusOr<std::vector<v1::ModelInfo>> ClientApi::ListModels() {
  RETURN_IF_ERROR(CheckCanView());
  return coordinator_->ListModels();
}

}  // namespace anifarm
