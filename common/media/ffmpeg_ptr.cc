#include "common/media/ffmpeg_ptr.h"

extern "C" {
#include <libavutil/error.h>
}

namespace anifarm {

std::string AvErrorString(int errnum) {
  char buffer[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(errnum, buffer, sizeof(buffer));
  return buffer;
}

}  // namespace anifarm
