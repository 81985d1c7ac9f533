// Sizes as users write them ("6G", "512M", "100K", plain bytes; powers of
// 1024), for flags (--max-memory, --max-upload-size) and environment
// variables (ANIFARM_MODEL_CACHE). Header-only, so that the LibTorch engine
// library shares it without linking the binaries' helpers.
#ifndef ANIFARM_COMMON_BYTE_SIZE_H_
#define ANIFARM_COMMON_BYTE_SIZE_H_

#include <cstdint>
#include <limits>
#include <string>

#include "absl/strings/numbers.h"

namespace anifarm {

// The size `text` names; -1 when it is none of these, not positive, or
// too large for 64 bits.
inline int64_t ParseByteSize(const std::string& text) {
  if (text.empty()) return -1;
  int64_t unit = 1;
  std::string digits = text;
  switch (text.back()) {
    case 'G': case 'g': unit = int64_t{1} << 30; digits.pop_back(); break;
    case 'M': case 'm': unit = int64_t{1} << 20; digits.pop_back(); break;
    case 'K': case 'k': unit = int64_t{1} << 10; digits.pop_back(); break;
    default: break;
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(digits, &value) || value <= 0) return -1;
  if (value > std::numeric_limits<int64_t>::max() / unit) return -1;
  return value * unit;
}

}  // namespace anifarm

#endif  // ANIFARM_COMMON_BYTE_SIZE_H_
