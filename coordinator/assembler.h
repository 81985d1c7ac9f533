// Assembler: the last step of a job. Walks the frame map in presentation
// order, takes each frame's upscaled picture from its first occurrence (so a
// duplicate costs a PNG decode, never an upscale), encodes the video with the
// job's codec at the source timestamps and copies the source's audio.
//
// The output is written under a temporary name beside the target and renamed
// only when complete, so a failed or interrupted encode never leaves a
// truncated file where the user expects a result.
#ifndef ANIFARM_COORDINATOR_ASSEMBLER_H_
#define ANIFARM_COORDINATOR_ASSEMBLER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/media/image_writer.h"
#include "common/media/media_info.h"
#include "common/media/video_writer.h"
#include "coordinator/job_store.h"

namespace anifarm {

struct AssemblyRequest {
  std::string source_path;
  std::string output_path;
  // Holds <frame index>.png for every unique frame.
  std::string frames_dir;
  std::vector<FrameRecord> frames;
  MediaInfo media;
  EncodeSettings encode;
  bool keep_audio = true;
  // 0: every frame keeps its source timestamp (VFR kept). Otherwise frames
  // are renumbered at this fixed rate (the guide warns audio may drift).
  double fixed_fps = 0;
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

absl::StatusOr<AssemblyResult> AssembleOutput(const AssemblyRequest& request);

// The guide's frame_mapping.json for a frame map.
std::string FrameMappingJson(const std::vector<FrameRecord>& frames);

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_ASSEMBLER_H_
