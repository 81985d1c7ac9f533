// Command-line parsing shared by the three binaries: `--flag value`,
// `--flag=value`, boolean switches and positional arguments. Unknown flags
// and missing values are errors (the binaries exit 2 on them).
#ifndef ANIFARM_COMMON_CLI_ARGS_H_
#define ANIFARM_COMMON_CLI_ARGS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/byte_size.h"  // ParseByteSize, for size flags

namespace anifarm {

class CliArgs {
 public:
  // `value_flags` take a value, `switches` do not; names without dashes.
  CliArgs(std::set<std::string> value_flags, std::set<std::string> switches)
      : value_flags_(std::move(value_flags)), switches_(std::move(switches)) {}

  // Parses argv[first..argc). InvalidArgument names the offending argument.
  absl::Status Parse(int argc, const char* const* argv, int first);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  // InvalidArgument "--name 'x' is not a whole number".
  absl::StatusOr<int> GetInt(const std::string& name, int fallback) const;
  // InvalidArgument "--name 'x' is not a number".
  absl::StatusOr<double> GetDouble(const std::string& name, double fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }
  // Gives `name` a value unless the command line already did (presets, the
  // config file). `origin` says where the value came from, e.g.
  // "config /home/me/.config/anifarm/config.toml: [defaults] codec", for
  // Attribute.
  void SetDefault(const std::string& name, const std::string& value,
                  const std::string& origin = "") {
    if (values_.emplace(name, value).second && !origin.empty()) origins_[name] = origin;
  }
  // Errors name flags as "--codec 'x' ..."; when that value came from
  // SetDefault with an origin, the user never typed --codec, so the message
  // is reworded to start with the origin instead ("config F: [defaults]
  // codec 'x' ..."). Other statuses pass unchanged.
  absl::Status Attribute(const absl::Status& status) const;

 private:
  std::set<std::string> value_flags_;
  std::set<std::string> switches_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::string> origins_;  // flag -> where SetDefault's value came from
  std::vector<std::string> positional_;
};


}  // namespace anifarm

#endif  // ANIFARM_COMMON_CLI_ARGS_H_
