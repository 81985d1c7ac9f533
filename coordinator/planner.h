// Planner: turns an input video into the work of a job.
//
// One pass over the source: every compressed video packet is stored in the
// payload of the chunk it belongs to, and every packet is decoded once so
// that each frame's pixels can be hashed (MD5) and scene cuts found (see
// scene_cut.h). Chunks start on keyframes (a node decodes each one alone):
// a chunk ends at the first keyframe once it holds `chunk_frames` frames, or
// earlier, at a keyframe that is a scene cut, once it holds at least half as
// many. Frames are then numbered in presentation order and each duplicate is
// mapped to the first frame with the same pixels anywhere in the video, or
// (near) to the held drawing it shows (held_frames.h). A
// chunk's payload lists only the frames whose first occurrence it holds:
// those are the only ones a node upscales. With open GOPs a payload also
// carries the next chunk's keyframe and the leading pictures after it,
// frames of this chunk by pts (open_gop.h).
#ifndef ANIFARM_COORDINATOR_PLANNER_H_
#define ANIFARM_COORDINATOR_PLANNER_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/media/media_info.h"
#include "coordinator/job_store.h"
#include "coordinator/scene_cut.h"
#include "coordinator/series_cache.h"
#include "protos/anifarm.pb.h"

namespace anifarm {

struct PlanOptions {
  // Frames per chunk: a chunk ends at the first keyframe at or after this
  // many frames, or at a scene-cut keyframe from half as many.
  int chunk_frames = 48;
  // Scene-cut score (percent, see scene_cut.h) from which a frame starts a
  // new scene; 0 turns detection off (chunks then follow `chunk_frames` only).
  double scene_cut_threshold = kDefaultSceneCutThreshold;
  // Exact (MD5) dedup, the proto's zero value; off; or near: exact plus the
  // held-drawing detector (held_frames.h), which the CLI uses by default.
  v1::DedupMode dedup = v1::DEDUP_EXACT;
  // Near only: a reuse must also reach this whole-frame PSNR (dB); 0: no
  // such floor, the detector's own tolerance decides.
  double near_dedup_psnr = 0;
  // Near only, when set: the series cache (series_cache.h) and the job's
  // settings key in it. New pictures in the cache's window that it already
  // holds are not upscaled; the others are candidates to keep.
  SeriesCache* series_cache = nullptr;
  std::string series_key;
};

struct Plan {
  MediaInfo media;
  std::vector<ChunkRecord> chunks;
  std::vector<FrameRecord> frames;
  // Frames (indices, presentation order) that start a new scene, keyframes
  // or not; and how many chunks ended early (before `chunk_frames`) at one.
  std::vector<int64_t> scene_cuts;
  int chunks_ended_at_cuts = 0;
  // Series cache: first occurrences whose upscaled picture the cache holds
  // (frame index -> hit; not counted in any chunk's unique_count nor listed
  // in its payload), and the first occurrences it may keep once upscaled
  // (their CacheFeature).
  std::map<int64_t, SeriesCacheHit> cached;
  std::vector<std::pair<int64_t, PictureFeature>> cache_candidates;
};

// Path of chunk `index`'s serialized v1::ChunkPayload inside `chunk_dir`.
std::string ChunkPayloadPath(const std::string& chunk_dir, int index);
absl::StatusOr<v1::ChunkPayload> ReadChunkPayload(const std::string& path);

// Plans `input_path`, writing one payload file per chunk into `chunk_dir`
// (which must exist). Errors name the input file.
absl::StatusOr<Plan> PlanJob(const std::string& job_id, const std::string& input_path,
                             const std::string& chunk_dir, const PlanOptions& options);

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_PLANNER_H_
