// Shared pieces of the end-to-end tests: each test's scratch folder, and
// running a command to its end with what it printed.
#ifndef ANIFARM_TESTS_E2E_E2E_UTIL_H_
#define ANIFARM_TESTS_E2E_E2E_UTIL_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/e2e/subprocess.h"

namespace anifarm::testing {

// <tmp>/anifarm-<suite>-<pid>-<test name>, emptied and created: each test
// (and each concurrent run) gets its own folder for state, logs and files.
inline std::filesystem::path FreshTestDir(const std::string& suite) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("anifarm-" + suite + "-" + std::to_string(getpid()) + "-" +
       ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// A finished command: its exit code (-1 on timeout) and what it printed.
struct CommandResult {
  int code;
  std::string out;
  std::string err;
};

inline CommandResult RunToEnd(std::vector<std::string> argv, const std::string& log_prefix,
                              std::chrono::seconds timeout = std::chrono::seconds(300)) {
  Subprocess command(std::move(argv), log_prefix);
  const int code = command.Wait(timeout);
  return {code, command.Stdout(), command.Stderr()};
}

}  // namespace anifarm::testing

#endif  // ANIFARM_TESTS_E2E_E2E_UTIL_H_
