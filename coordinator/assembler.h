// Assembler: the last step of a job. Either joins the segments the nodes
// encoded (one per chunk, in chunk order, without re-encoding), or walks the
// frame map in presentation order, takes each frame's upscaled picture from
// its first occurrence (so a duplicate costs a PNG decode, never an upscale)
// and encodes the video with the job's codec at the source timestamps. Both
// then copy the source's audio, subtitles, fonts, chapters and metadata.
//
// The written file is read back before it is accepted: its video stream
// must hold one packet per frame of the frame map.
//
// The output is written under a temporary name beside the target and renamed
// only when complete, so a failed or interrupted encode never leaves a
// truncated file where the user expects a result.
#ifndef ANIFARM_COORDINATOR_ASSEMBLER_H_
#define ANIFARM_COORDINATOR_ASSEMBLER_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/media/image_writer.h"
#include "common/media/media_info.h"
#include "common/media/video_writer.h"
#include "coordinator/job_store.h"
#include "coordinator/series_cache.h"

namespace anifarm {

struct AssemblyRequest {
  std::string source_path;
  std::string output_path;
  // Holds <frame index>.png for every unique frame (coordinator encode).
  std::string frames_dir;
  // Set when nodes encoded the video: <chunk index>.segment for chunks
  // 0 .. chunk_count - 1 (serialized v1::EncodedSegment).
  std::string segments_dir;
  int chunk_count = 0;
  std::vector<FrameRecord> frames;
  MediaInfo media;
  EncodeSettings encode;
  bool keep_audio = true;
  // 0: every frame keeps its source timestamp (VFR kept). Otherwise frames
  // are renumbered at this fixed rate (the guide warns audio may drift).
  double fixed_fps = 0;
  // The sample aspect ratio the frames are shown with (1:1 unless the job
  // keeps an anamorphic source's: OutputSampleAspectOf). Encoded segments
  // carry their own.
  AVRational sample_aspect_ratio{1, 1};
  // Image jobs (output .png/.jpg/.webp): the image format's options.
  ImageWriteOptions image;
};

struct AssemblyResult {
  int width = 0;
  int height = 0;
  int64_t frames_written = 0;
  int64_t frames_reused = 0;  // written from an earlier identical frame
};

// Path of the upscaled picture of frame `index`.
std::string UpscaledFramePath(const std::string& frames_dir, int64_t index);
// Path of the encoded segment of chunk `index`.
std::string SegmentPath(const std::string& segments_dir, int64_t index);

absl::StatusOr<AssemblyResult> AssembleOutput(const AssemblyRequest& request);

// The guide's frame_mapping.json for a frame map. Pictures that came from
// the series cache are also listed under "series_cache": the job and frame
// that upscaled them.
std::string FrameMappingJson(const std::vector<FrameRecord>& frames,
                             const std::map<int64_t, SeriesCacheHit>& from_cache = {});

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_ASSEMBLER_H_
