// The client's config file: where the coordinator is and the job settings a
// user always wants, so that scripts and people type less.
//
//   $ANIFARM_CONFIG, else $XDG_CONFIG_HOME/anifarm/config.toml, else
//   ~/.config/anifarm/config.toml (a missing file is fine):
//
//     coordinator = "farm.lan:50051"
//     models_dir = "/srv/models"
//     state_dir = "/srv/anifarm-state"
//     tls_ca = "/etc/anifarm/ca.pem"          # the coordinator uses TLS
//     token_file = "~/.config/anifarm/token"   # for a coordinator with --tokens
//
//     [defaults]          # job flags, by their names (- or _ alike)
//     codec = "h265"
//     crf = 20
//     no_audio = false
//
// Precedence: the command line, then --job-preset, then $ANIFARM_COORDINATOR
// (for the address), then this file.
#ifndef ANIFARM_CLIENT_CLIENT_CONFIG_H_
#define ANIFARM_CLIENT_CLIENT_CONFIG_H_

#include <set>
#include <string>

#include "absl/status/status.h"
#include "common/cli_args.h"

namespace anifarm {

std::string ClientConfigPath();

// Fills flags of `args` not given on the command line from the config file.
// `value_flags` and `switches` are those the command accepts; keys for other
// commands are ignored, unknown keys are an error. InvalidArgument names the
// file (and line) and the key or value at fault. Values are checked later,
// with the command line's; each one set here carries its file and key as
// its origin, so that CliArgs::Attribute names them in that error.
absl::Status ApplyClientConfig(const std::string& path, const std::set<std::string>& value_flags,
                               const std::set<std::string>& switches, CliArgs* args);

}  // namespace anifarm

#endif  // ANIFARM_CLIENT_CLIENT_CONFIG_H_
