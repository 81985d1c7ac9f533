#include "common/cli_args.h"

#include <CLI/CLI.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace anifarm {

absl::Status CliArgs::Parse(int argc, const char* const* argv, int first) {
  // CLI11 does the parsing (`--flag value`, `--flag=value`, `-o value`,
  // `--` before positionals, negative numbers as values); this class keeps
  // the small Has/Get interface the binaries and the config file use.
  CLI::App app;
  app.set_help_flag();  // --help is a switch of ours, answered per command
  app.allow_extras(false);
  app.positionals_at_end(false);
  std::map<std::string, std::string> given;
  std::map<std::string, CLI::Option*> options;
  auto spec = [](const std::string& name) { return (name.size() == 1 ? "-" : "--") + name; };
  for (const std::string& name : value_flags_) {
    // A flag given again wins: systemd units append /etc/default flags
    // after their own.
    options[name] = app.add_option(spec(name), given[name])
                        ->expected(1)
                        ->allow_extra_args(false)
                        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  std::map<std::string, bool> switched;
  for (const std::string& name : switches_) {
    options[name] = app.add_flag(spec(name), switched[name])->disable_flag_override();
  }
  std::vector<std::string> positional;
  app.add_option("positional", positional);
  std::vector<std::string> args;
  // CLI11 takes the arguments last first.
  for (int i = argc - 1; i >= first; --i) args.emplace_back(argv[i]);
  try {
    app.parse(args);
  } catch (const CLI::ParseError& error) {
    return absl::InvalidArgumentError(error.what());
  }
  for (const auto& [name, option] : options) {
    if (option->count() == 0) continue;
    values_[name] = value_flags_.count(name) ? given[name] : "true";
  }
  positional_ = std::move(positional);
  return absl::OkStatus();
}

std::string CliArgs::Get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

absl::StatusOr<int> CliArgs::GetInt(const std::string& name, int fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  int value = 0;
  if (!absl::SimpleAtoi(it->second, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " '", it->second, "' is not a whole number"));
  }
  return value;
}

absl::StatusOr<double> CliArgs::GetDouble(const std::string& name, double fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  double value = 0;
  if (!absl::SimpleAtod(it->second, &value)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " '", it->second, "' is not a number"));
  }
  return value;
}

absl::Status CliArgs::Attribute(const absl::Status& status) const {
  const absl::string_view message = status.message();
  for (const auto& [name, origin] : origins_) {
    const std::string flag = "--" + name;
    if (message.size() > flag.size() && message.substr(0, flag.size()) == flag &&
        (message[flag.size()] == ' ' || message[flag.size()] == '=')) {
      return absl::Status(status.code(),
                          absl::StrCat(origin, message.substr(flag.size())));
    }
  }
  return status;
}

}  // namespace anifarm
