// Validation of a job's processing settings, shared by the coordinator (which
// must refuse bad jobs from any client) and the CLI (which refuses them
// before contacting anyone, as a usage error).
#ifndef ANIFARM_COORDINATOR_SETTINGS_H_
#define ANIFARM_COORDINATOR_SETTINGS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/encoded_segment.h"
#include "common/media/encode_settings.h"
#include "common/media/image_writer.h"
#include "common/media/media_info.h"
#include "protos/anifarm.pb.h"

namespace anifarm {

// Fills defaults (model, precision, codec) and refuses values that no part
// of the farm can honour; InvalidArgument names the flag and the value.
absl::Status NormalizeSettings(v1::ProcessingSettings* settings);

// Whether nodes encode the job's video as segments (EncodeAt): yes for a
// video output unless the job asks for the coordinator; image outputs are
// always written by the coordinator.
bool EncodedByNodes(const v1::ProcessingSettings& settings, const std::string& output_path);

// The media layer's view of a job's settings (EncodeSettingsOf: see
// common/encoded_segment.h, nodes need it too).
ImageWriteOptions ImageOptionsOf(const v1::ProcessingSettings& settings);

// The output frame size a job asks for (PlanOutputGeometry: the --size box
// fitted with the display aspect kept, else the source times --scale, square
// pixels for anamorphic sources unless --keep-sar). The model's native scale
// is only known to nodes; 2x, the default models', stands in for it.
std::pair<int, int> OutputSizeOf(const v1::ProcessingSettings& settings, const MediaInfo& source);

// The sample aspect ratio the output's video stream signals: 1:1, or the
// source's with --keep-sar.
AVRational OutputSampleAspectOf(const v1::ProcessingSettings& settings, const MediaInfo& source);

// Refuses an output that cannot be written with these settings before any
// work starts: codec/profile/container/size for a video (DNxHD's frame size
// and rate need `source`; without it a size that passes is assumed), format
// and quality for an image. InvalidArgument names the value at fault.
// With `source`, a video output also gets the writer's own decision for
// each audio, subtitle and attachment stream of the source (PlanStreams,
// common/media/stream_plan.h): a stream the container refuses and nothing
// can transcode is refused here, naming the file and the stream, and the
// notices of what will be transcoded or dropped go to `notices` (if given),
// and one notice when a source deeper than 8 bits goes into an 8-bit
// profile (naming the --codec/--profile choices that write 10 bits).
absl::Status CheckOutputSettings(const v1::ProcessingSettings& settings,
                                 const std::string& output_path, const MediaInfo* source,
                                 std::vector<std::string>* notices = nullptr);

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_SETTINGS_H_
