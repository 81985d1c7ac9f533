// Protobuf messages as JSON for people and scripts (the CLI's --json, the
// dashboard's /api): the protobuf JSON mapping with the .proto's field
// names and every non-optional field printed, except that 64-bit integers
// are plain numbers. protobuf's printer quotes them ("frames_upscaled":
// "40") so that JavaScript cannot lose precision past 2^53; no count, size
// or time of AniFarm's comes near that, and `jq '.total_frames > 100'` or
// a dashboard's sum must not compare strings.
#ifndef ANIFARM_COMMON_PROTO_JSON_H_
#define ANIFARM_COMMON_PROTO_JSON_H_

#include <string>

#include "google/protobuf/message.h"

namespace anifarm {

// One line of JSON. Enums by name, bytes base64, floats shortest round-trip
// (NaN and infinities as the strings "NaN", "Infinity", "-Infinity", as
// protobuf prints them); messages, oneof members and `optional` fields only
// when set; repeated fields always (possibly []); maps as objects.
std::string ProtoToJson(const google::protobuf::Message& message);

}  // namespace anifarm

#endif  // ANIFARM_COMMON_PROTO_JSON_H_
