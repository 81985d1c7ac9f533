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
// "[#########-----------]  45%  chunks 2/5  upscaled 40/80 (12 reused)"
// "[####----]  40%  running  chunks 2/5  upscaled 40/100  reused 20  3.1 fps  ETA 0:19"
// (fps and ETA shown once known: fps > 0, eta_seconds >= 0; a running job's
// waiting line, e.g. "waiting: no live node", last).
std::string ProgressBar(const v1::JobStatus& job, double fps = 0, int64_t eta_seconds = -1);
// One line for a chunk event: "chunk 3 started on node-ab12 (attempt 1)".
std::string ChunkEventLine(const v1::JobEvent& event);
std::string ToJson(const google::protobuf::Message& message);

}  // namespace anifarm

#endif  // ANIFARM_CLIENT_JOB_VIEW_H_
