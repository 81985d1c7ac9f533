// Early-return helpers for absl::Status / absl::StatusOr, in the style of
// Abseil-internal code: keep error propagation one line per call.
#ifndef ANIFARM_COMMON_STATUS_MACROS_H_
#define ANIFARM_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ANIFARM_CONCAT_INNER(a, b) a##b
#define ANIFARM_CONCAT(a, b) ANIFARM_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                \
  do {                                       \
    ::absl::Status _status = (expr);         \
    if (!_status.ok()) return _status;       \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(ANIFARM_CONCAT(_statusor_, __LINE__), lhs, expr)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

#endif  // ANIFARM_COMMON_STATUS_MACROS_H_
