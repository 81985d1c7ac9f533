#include "common/cli_args.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace anifarm {

absl::Status CliArgs::Parse(int argc, const char* const* argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      for (++i; i < argc; ++i) positional_.push_back(argv[i]);
      break;
    }
    if (arg.size() < 2 || arg[0] != '-' || arg == "-") {
      positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(arg[1] == '-' ? 2 : 1);
    std::optional<std::string> inline_value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (switches_.count(name)) {
      if (inline_value) return absl::InvalidArgumentError(absl::StrCat(arg, " takes no value"));
      values_[name] = "true";
    } else if (value_flags_.count(name)) {
      if (inline_value) {
        values_[name] = *inline_value;
      } else if (i + 1 < argc) {
        values_[name] = argv[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat(arg, " needs a value"));
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown option ", arg));
    }
  }
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

int64_t ParseByteSize(const std::string& text) {
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
  return value * unit;
}

}  // namespace anifarm
