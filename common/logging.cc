#include "common/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace anifarm {

void InitLogging(const std::string& program, bool daemon) {
  // Not the colour sink: logs mostly go to files and journald.
  auto logger = spdlog::stderr_logger_mt(program);
  logger->set_pattern(daemon ? "%Y-%m-%dT%H:%M:%S.%e %l %n: %v" : "%n: %v");
  // Every line reaches the log even if the process is killed right after.
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace anifarm
