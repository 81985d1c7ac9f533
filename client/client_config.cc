#include "client/client_config.h"

#include <toml++/toml.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "client/job_options.h"

namespace anifarm {
namespace {

// A TOML scalar as the command line would spell it; false for a non-scalar.
bool ScalarText(const toml::node& node, std::string* out) {
  if (auto s = node.value<std::string>()) {
    *out = *s;
  } else if (auto b = node.value<bool>(); b && node.is_boolean()) {
    *out = *b ? "true" : "false";
  } else if (node.is_integer()) {
    *out = std::to_string(*node.value<int64_t>());
  } else if (node.is_floating_point()) {
    *out = absl::StrCat(*node.value<double>());
  } else {
    return false;
  }
  return true;
}

}  // namespace

std::string ClientConfigPath() {
  if (const char* explicit_path = std::getenv("ANIFARM_CONFIG"); explicit_path && *explicit_path) {
    return explicit_path;
  }
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  const char* home = std::getenv("HOME");
  const std::string base = xdg && *xdg ? xdg : absl::StrCat(home && *home ? home : "/root", "/.config");
  return base + "/anifarm/config.toml";
}

absl::Status ApplyClientConfig(const std::string& path, const std::set<std::string>& value_flags,
                               const std::set<std::string>& switches, CliArgs* args) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return absl::OkStatus();
  toml::table config;
  try {
    config = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrCat("config ", path, ":", e.source().begin.line,
                                                   ": ", std::string(e.description())));
  }
  auto apply = [&](const std::string& key, const toml::node& node, bool job_flag) -> absl::Status {
    const std::string flag = absl::StrReplaceAll(key, {{"_", "-"}});
    std::string text;
    if (!ScalarText(node, &text)) {
      return absl::InvalidArgumentError(
          absl::StrCat("config ", path, ": '", key, "' must be a string, number or boolean"));
    }
    const bool known = job_flag ? (JobValueFlags().count(flag) || JobSwitches().count(flag))
                                : (flag == "coordinator" || flag == "models-dir" ||
                                   flag == "state-dir" || flag == "device" ||
                                   flag == "tls-ca" || flag == "token-file");
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat("config ", path, ": unknown setting '", key,
                                                     "'", job_flag ? " in [defaults]" : ""));
    }
    if (switches.count(flag)) {
      if (text == "true") args->SetDefault(flag, "");
      return absl::OkStatus();
    }
    if (!value_flags.count(flag)) return absl::OkStatus();  // not for this command
    // The environment wins over the config file (address, token, CA).
    for (const auto& [overridden, variable] :
         {std::pair<const char*, const char*>{"coordinator", "ANIFARM_COORDINATOR"},
          {"token-file", "ANIFARM_TOKEN"},
          {"tls-ca", "ANIFARM_TLS_CA"}}) {
      const char* value = std::getenv(variable);
      if (flag == overridden && value && *value) return absl::OkStatus();
    }
    // Named by its file and key, so that a bad value is not reported as a
    // flag the user never typed (CliArgs::Attribute).
    args->SetDefault(flag, text,
                     absl::StrCat("config ", path, ": ", job_flag ? "[defaults] " : "", key));
    return absl::OkStatus();
  };
  for (const auto& [key, node] : config) {
    const std::string name(key.str());
    if (name == "defaults") {
      const toml::table* defaults = node.as_table();
      if (!defaults) {
        return absl::InvalidArgumentError(absl::StrCat("config ", path, ": [defaults] must be a table"));
      }
      for (const auto& [job_key, value] : *defaults) {
        if (absl::Status s = apply(std::string(job_key.str()), value, true); !s.ok()) return s;
      }
      continue;
    }
    if (absl::Status s = apply(name, node, false); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace anifarm
