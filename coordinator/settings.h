// Validation of a job's processing settings, shared by the coordinator (which
// must refuse bad jobs from any client) and the CLI (which refuses them
// before contacting anyone, as a usage error).
#ifndef ANIFARM_COORDINATOR_SETTINGS_H_
#define ANIFARM_COORDINATOR_SETTINGS_H_

#include "absl/status/status.h"
#include "protos/anifarm.pb.h"

namespace anifarm {

// Fills defaults (model, precision, codec) and refuses values that no part
// of the farm can honour; InvalidArgument names the flag and the value.
absl::Status NormalizeSettings(v1::ProcessingSettings* settings);

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_SETTINGS_H_
