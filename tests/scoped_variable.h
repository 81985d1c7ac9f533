// An environment variable set for a scope's duration and unset at its end,
// for tests of code that reads a variable when it starts (an engine, a
// network at load, a child process).
#ifndef ANIFARM_TESTS_SCOPED_VARIABLE_H_
#define ANIFARM_TESTS_SCOPED_VARIABLE_H_

#include <cstdlib>

namespace anifarm::testing_util {

class ScopedVariable {
 public:
  ScopedVariable(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~ScopedVariable() { unsetenv(name_); }
  ScopedVariable(const ScopedVariable&) = delete;
  ScopedVariable& operator=(const ScopedVariable&) = delete;

 private:
  const char* name_;
};

}  // namespace anifarm::testing_util

#endif  // ANIFARM_TESTS_SCOPED_VARIABLE_H_
