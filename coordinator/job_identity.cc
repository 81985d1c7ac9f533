#include "coordinator/job_identity.h"

#include <sys/stat.h>

#include <filesystem>
#include <map>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/hashing.h"

namespace anifarm {
namespace fs = std::filesystem;

namespace {

std::string AbsolutePath(const std::string& path) {
  std::error_code ec;
  fs::path absolute = fs::absolute(path, ec);
  return (ec ? fs::path(path) : absolute).lexically_normal().string();
}

// Proto serialization is only stable with the deterministic flag (map
// order); the key must be the same from one run to the next.
std::string SettingsDigest(const v1::ProcessingSettings& settings) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.SetSerializationDeterministic(true);
    settings.SerializeToCodedStream(&out);
  }
  return Sha256Hex(bytes);
}

// A key's fields ("input", "size", "mtime", "output", "settings").
std::map<std::string, std::string> Fields(const std::string& key) {
  std::map<std::string, std::string> fields;
  for (absl::string_view line : absl::StrSplit(key, '\n')) {
    std::pair<std::string, std::string> field = absl::StrSplit(line, absl::MaxSplits('=', 1));
    fields[field.first] = field.second;
  }
  return fields;
}

// Why a job with key `old_key` (same output) is not the one `key` asks for.
std::string WhyNotResumed(const std::string& old_key, const std::string& key) {
  std::map<std::string, std::string> was = Fields(old_key), now = Fields(key);
  if (was["input"] != now["input"]) return absl::StrCat("its input was ", was["input"]);
  if (was["size"] != now["size"] || was["mtime"] != now["mtime"]) {
    return "the input file changed since (size or modification time)";
  }
  if (was["settings"] != now["settings"]) return "the settings changed";
  return "it was made by another version of AniFarm";  // a key format we do not know
}

}  // namespace

bool IsUnfinished(const JobRecord& job) {
  return job.state == v1::JOB_PLANNING || job.state == v1::JOB_RUNNING ||
         job.state == v1::JOB_PAUSED || job.state == v1::JOB_ASSEMBLING;
}

absl::StatusOr<std::string> ResumeKeyFor(const v1::SubmitJobRequest& request) {
  struct stat info;
  if (stat(request.input_path().c_str(), &info) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot read ", request.input_path()));
  }
  const int64_t mtime_ns = int64_t{info.st_mtim.tv_sec} * 1000000000 + info.st_mtim.tv_nsec;
  return absl::StrCat("input=", AbsolutePath(request.input_path()), "\nsize=", info.st_size,
                      "\nmtime=", mtime_ns, "\noutput=", AbsolutePath(request.output_path()),
                      "\nsettings=", SettingsDigest(request.settings()));
}

RunDecision DecideRun(const std::string& key, const std::vector<JobRecord>& jobs, bool restart,
                      bool batch) {
  RunDecision decision;
  const std::string output = Fields(key)["output"];
  std::vector<std::string> reasons;
  // Newest first: of several jobs with the same key, the latest is continued.
  for (auto job = jobs.rbegin(); job != jobs.rend(); ++job) {
    if (job->resume_key.empty() || Fields(job->resume_key)["output"] != output) continue;
    if (batch && !restart && job->state == v1::JOB_DONE && job->resume_key == key &&
        decision.done_job.empty() && decision.resume_job.empty()) {
      std::error_code ec;
      if (fs::exists(output, ec)) decision.done_job = job->id;
      continue;
    }
    if (!IsUnfinished(*job)) continue;
    if (restart) {
      decision.discard.push_back(job->id);
      reasons.push_back(absl::StrCat("job ", job->id, " deleted (--restart)"));
    } else if (job->resume_key == key && decision.resume_job.empty() &&
               decision.done_job.empty()) {
      decision.resume_job = job->id;
    } else {
      decision.discard.push_back(job->id);
      reasons.push_back(absl::StrCat(
          "job ", job->id, " for the same output not continued: ",
          job->resume_key == key ? "a newer job has the same command"
                                 : WhyNotResumed(job->resume_key, key)));
    }
  }
  if (!reasons.empty()) {
    decision.notice = absl::StrCat(absl::StrJoin(reasons, "; "),
                                   decision.resume_job.empty() ? "; starting a new job" : "");
  }
  return decision;
}

std::string ResumedLine(const JobRecord& job) {
  if (job.state == v1::JOB_PLANNING) return absl::StrCat(job.id, ": planning again");
  return absl::StrCat(job.id, ": ", job.chunks_done, " of ", job.chunks_total,
                      " chunks already done (", job.frames_upscaled, " frames upscaled)",
                      job.state == v1::JOB_ASSEMBLING ? ", assembling again" : "");
}

std::string OtherUnfinishedLine(const std::vector<JobRecord>& jobs,
                                const std::set<std::string>& ours) {
  std::vector<std::string> others;
  for (const JobRecord& job : jobs) {
    if (!IsUnfinished(job) || ours.count(job.id)) continue;
    others.push_back(absl::StrCat(job.id, " (", fs::path(job.input_path).filename().string(),
                                  ", ", job.chunks_done, "/", job.chunks_total, " chunks)"));
  }
  if (others.empty()) return "";
  return absl::StrCat(others.size(), " other unfinished job", others.size() == 1 ? "" : "s",
                      ", not worked on by this run (the command that made one continues it): ",
                      absl::StrJoin(others, ", "));
}

}  // namespace anifarm
