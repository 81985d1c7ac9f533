// Source prepass: interlaced and telecined sources are made progressive at
// the coordinator, before planning, so that nodes (which have no
// libavfilter, and decode chunks alone) only ever see progressive frames.
//
//   source ──▶ AnalyzeFields (field_analysis.h) ──▶ kActions[mode][structure]
//     none:  the source is planned as it is (no file written)
//     ivtc / bwdif: decode ──▶ FieldFilter ──▶ FFV1 intermediate
//                   <job dir>/progressive.mkv, timestamps as the filter gave
//                   them (to the millisecond) ──▶ planned instead of the source
//
// The assembler still takes audio, subtitles, chapters and metadata from the
// original input (AssemblyRequest::source_path): the intermediate starts at
// the source's first video timestamp and keeps its times, so the audio stays
// in sync. Whatever is done is one notice line, e.g.
//   in.vob: telecined (3:2 pulldown, ...) → inverse telecine to 23.976 frames/s
#ifndef ANIFARM_COORDINATOR_SOURCE_PREPASS_H_
#define ANIFARM_COORDINATOR_SOURCE_PREPASS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/media/field_analysis.h"
#include "protos/anifarm.pb.h"

namespace anifarm {

struct PrepassResult {
  std::string video_path;  // what to plan: the input, or the intermediate
  std::string notice;      // one line; empty when there is nothing to say
  FieldAnalysis analysis;  // default (progressive, 0 frames) with --deinterlace off
  int64_t frames_in = 0;   // decoded (only when filtered)
  int64_t frames_out = 0;  // written to the intermediate
  AVRational frame_rate{0, 1};  // of the intermediate
};

// <job dir>/progressive.mkv.
std::string IntermediatePath(const std::string& job_dir);

// The video the job's chunks, segment spec and assembly read: the
// intermediate where the prepass wrote one, the input otherwise.
std::string VideoSourceOf(const std::string& input_path, const std::string& job_dir);

// Analyses `input_path` (unless mode is OFF), filters it into
// IntermediatePath(job_dir) where the decision says so (written under a
// temporary name and renamed, so a half-written file is never planned), and
// removes a stale intermediate otherwise.
absl::StatusOr<PrepassResult> PrepareVideoSource(const std::string& input_path,
                                                 const std::string& job_dir,
                                                 v1::Deinterlace mode);

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_SOURCE_PREPASS_H_
