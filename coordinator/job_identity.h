// Job identity for `anifarm run`: which stored job a run command continues.
// A run killed (SIGKILL, a crash, a power cut) or stopped with Ctrl-C leaves
// its job unfinished in the state dir; the same command run again must find
// it and continue, keeping its done chunks, and anything else must not be
// mistaken for it. This file is the one home of that policy.
//
// The identity (the job's resume key, stored with it: JobRecord::resume_key)
// is the input file by absolute path, size and modification time (as make
// and rsync judge a file changed; hashing a whole episode on every start
// would cost more than the check is worth), the output by absolute path, and
// the normalized settings (the SHA-256 of their deterministic serialization;
// the model is in them by name).
//
// The rule, per request of a run:
//   - an unfinished job with the same key is continued (the newest if
//     several); other unfinished jobs writing the same output can never be
//     continued by this command and are discarded, with one line saying why
//     (another input file, the input changed, the settings changed);
//   - --restart discards every unfinished job writing that output;
//   - in a batch (a folder of images), an input whose job with the same key
//     is done and whose output is still there is skipped;
//   - jobs of other outputs are left alone (listed, not worked on).
#ifndef ANIFARM_COORDINATOR_JOB_IDENTITY_H_
#define ANIFARM_COORDINATOR_JOB_IDENTITY_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/job_store.h"
#include "protos/anifarm.pb.h"

namespace anifarm {

// The resume key of a request (settings as the CLI normalized them).
// NotFound when the input cannot be read (SubmitJob then says why).
absl::StatusOr<std::string> ResumeKeyFor(const v1::SubmitJobRequest& request);

struct RunDecision {
  std::string resume_job;            // the job to continue; "" submits a new one
  std::string done_job;              // batch: the input is done already (skip it)
  std::vector<std::string> discard;  // jobs to cancel and delete first
  std::string notice;                // why a new job starts ("" when nothing to say)
};

// What to do with a request whose key is `key`, given every stored job.
RunDecision DecideRun(const std::string& key, const std::vector<JobRecord>& jobs, bool restart,
                      bool batch);

// "JOB: 3 of 5 chunks already done (144 frames upscaled)": what a
// continued job brings along.
std::string ResumedLine(const JobRecord& job);

// The unfinished jobs of the state dir that this run does not work on, in
// one line ("" when none).
std::string OtherUnfinishedLine(const std::vector<JobRecord>& jobs,
                                const std::set<std::string>& ours);

// Whether a job is PLANNING, RUNNING, PAUSED or ASSEMBLING.
bool IsUnfinished(const JobRecord& job);

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_JOB_IDENTITY_H_
