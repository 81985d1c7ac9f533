#include "coordinator/open_gop.h"

extern "C" {
#include <libavutil/avutil.h>
}

namespace anifarm {

std::vector<v1::SourcePacket> OpenGopTail(const v1::ChunkPayload& next) {
  std::vector<v1::SourcePacket> tail;
  if (next.packets_size() < 2) return tail;
  const v1::SourcePacket& keyframe = next.packets(0);
  if (!keyframe.keyframe() || keyframe.pts() == AV_NOPTS_VALUE) return tail;
  int leading = 0;
  for (int i = 1; i < next.packets_size(); ++i) {
    const v1::SourcePacket& packet = next.packets(i);
    // Without a pts a packet cannot be told to be shown before the keyframe:
    // the run ends there.
    if (packet.keyframe() || packet.pts() == AV_NOPTS_VALUE || packet.pts() >= keyframe.pts()) {
      break;
    }
    ++leading;
  }
  if (leading == 0) return tail;
  tail.assign(next.packets().begin(), next.packets().begin() + 1 + leading);
  return tail;
}

}  // namespace anifarm
