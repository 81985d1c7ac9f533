#include "coordinator/access_control.h"

#include <fstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/hashing.h"

namespace anifarm {
namespace {

std::optional<Role> ParseRole(absl::string_view text) {
  if (text == "viewer") return Role::kViewer;
  if (text == "submitter") return Role::kSubmitter;
  if (text == "admin") return Role::kAdmin;
  if (text == "node") return Role::kNode;
  return std::nullopt;
}

bool IsSha256Hex(absl::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kViewer: return "viewer";
    case Role::kSubmitter: return "submitter";
    case Role::kAdmin: return "admin";
    case Role::kNode: return "node";
  }
  return "?";
}

absl::StatusOr<AccessControl> AccessControl::FromTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--tokens ", path, ": cannot read"));
  AccessControl access;
  access.enabled_ = true;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string where = absl::StrCat("--tokens ", path, ":", number, ": ");
    absl::string_view content = line;
    if (size_t hash = content.find('#'); hash != absl::string_view::npos) {
      content = content.substr(0, hash);
    }
    std::vector<absl::string_view> fields =
        absl::StrSplit(content, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (fields.empty()) continue;
    if (fields.size() < 3 || fields.size() > 4) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "expected `ROLE NAME TOKEN [EXPIRES]`"));
    }
    std::optional<Role> role = ParseRole(fields[0]);
    if (!role) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "unknown role '", fields[0], "' (viewer, submitter, admin or node)"));
    }
    Entry entry{std::string(fields[1]), *role, 0};
    absl::string_view token = fields[2];
    std::string digest;
    if (absl::ConsumePrefix(&token, "sha256:")) {
      if (!IsSha256Hex(token)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "sha256: must be followed by 64 hex digits"));
      }
      digest = absl::AsciiStrToLower(token);
    } else {
      if (token.size() < 16) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, "token of ", entry.name, " is shorter than 16 characters; use a random one"));
      }
      digest = Sha256Hex(std::string_view(token.data(), token.size()));
    }
    if (fields.size() == 4) {
      absl::Time expires;
      std::string error;
      if (!absl::ParseTime(absl::RFC3339_full, fields[3], &expires, &error)) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, "expiry '", fields[3], "' is not a time like 2027-03-31T00:00:00Z"));
      }
      entry.expires_at = absl::ToUnixSeconds(expires);
    }
    if (!access.by_token_sha256_.emplace(digest, std::move(entry)).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, "this token is listed twice"));
    }
  }
  return access;
}

absl::StatusOr<Principal> AccessControl::Authenticate(
    std::optional<std::string_view> bearer, std::optional<std::string_view> certificate_name,
    int64_t now) const {
  if (!enabled_) return Principal{"", Role::kAdmin, /*unrestricted=*/true};
  if (bearer) {
    // Compared by digest: the map never holds a usable token, and the
    // lookup does not leak a prefix match through timing.
    auto it = by_token_sha256_.find(Sha256Hex(std::string_view(bearer->data(), bearer->size())));
    if (it == by_token_sha256_.end()) return absl::UnauthenticatedError("unknown token");
    const Entry& entry = it->second;
    if (entry.expires_at != 0 && now >= entry.expires_at) {
      return absl::UnauthenticatedError(absl::StrCat(
          "the token of ", entry.name, " expired at ",
          absl::FormatTime(absl::RFC3339_sec, absl::FromUnixSeconds(entry.expires_at),
                           absl::UTCTimeZone())));
    }
    return Principal{entry.name, entry.role, false};
  }
  if (certificate_name && !certificate_name->empty()) {
    return Principal{std::string(*certificate_name), Role::kNode, false};
  }
  return absl::UnauthenticatedError(
      // Each client's own way to pass a token: there is no --token flag
      // (a token on the command line would show in `ps`).
      "no credentials: give a token (anifarm --token-file FILE or $ANIFARM_TOKEN; "
      "anifarm-node --token-file FILE or $ANIFARM_NODE_TOKEN; the dashboard's sign-in), "
      "or a node certificate");
}

std::optional<std::string_view> BearerToken(std::string_view authorization_header) {
  absl::string_view value = absl::StripAsciiWhitespace(
      absl::string_view(authorization_header.data(), authorization_header.size()));
  if (!absl::StartsWithIgnoreCase(value, "bearer ")) return std::nullopt;
  value = absl::StripAsciiWhitespace(value.substr(7));
  if (value.empty()) return std::nullopt;
  return std::string_view(value.data(), value.size());
}

}  // namespace anifarm
