// How the CLI shows jobs, nodes and models: one-line text, a progress bar,
// or JSON (the protobuf JSON mapping, field names as in the .proto).
#ifndef ANIFARM_CLIENT_JOB_VIEW_H_
#define ANIFARM_CLIENT_JOB_VIEW_H_

#include <string>

#include "google/protobuf/message.h"
#include "protos/anifarm.pb.h"

namespace anifarm {

std::string JobStateName(v1::JobState state);
bool IsFinished(v1::JobState state);
// "job-1a2b  RUNNING  chunks 2/5  frames 40/96 upscaled 40 reused 0  in.mp4 -> out.mp4"
std::string JobLine(const v1::JobStatus& job);
// "[########------------]  40%  running  chunks 2/5  upscaled 40/100  ETA 0:19"
// "[--------------------]   0%  waiting: no live node  chunks 0/1  upscaled 0/6"
// fits in kProgressBarColumns: a running job's waiting line stands in for
// its state (cut to fit, the bar narrowed to half for it); after the frame
// counters come the ETA (once known: eta_seconds >= 0), fps (> 0), the
// reused count and busy nodes, each only while it fits.
inline constexpr size_t kProgressBarColumns = 79;  // an 80-column terminal, less the cursor
std::string ProgressBar(const v1::JobStatus& job, double fps = 0, int64_t eta_seconds = -1);
// One line for a chunk event: "chunk 3 started on node-ab12 (attempt 1)".
std::string ChunkEventLine(const v1::JobEvent& event);
// How long ago a Unix-seconds time was, for people: "12 s ago", "5 min ago",
// "3 h ago", then the local date and time ("2026-12-07 23:33"); "never"
// for 0. `now` is Unix seconds too; a time after it (clock skew between
// machines) reads "just now".
std::string AgoText(int64_t unix_seconds, int64_t now);
// The protobuf JSON mapping (field names as in the .proto), with 64-bit
// integers as plain numbers (ProtoToJson, common/proto_json.h).
std::string ToJson(const google::protobuf::Message& message);

}  // namespace anifarm

#endif  // ANIFARM_CLIENT_JOB_VIEW_H_
