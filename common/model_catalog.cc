#include "common/model_catalog.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace anifarm {
namespace fs = std::filesystem;

namespace {

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::string(value) : fallback;
}

// Classifies one file; returns false for files that are not model weights
// (the .param half of an ncnn pair is described through its .bin).
bool Describe(const fs::path& path, ModelFile* out) {
  const std::string ext = path.extension().string();
  if (ext == ".pth" || ext == ".pt" || ext == ".safetensors" || ext == ".ckpt") {
    out->format = "pytorch";
  } else if (ext == ".bin") {
    fs::path param = path;
    param.replace_extension(".param");
    std::error_code ec;
    if (!fs::exists(param, ec)) return false;
    out->format = "ncnn";
  } else {
    return false;
  }
  std::error_code ec;
  out->name = path.stem().string();
  out->path = path.string();
  out->size_bytes = static_cast<int64_t>(fs::file_size(path, ec));
  return !ec;
}

}  // namespace

std::vector<std::string> ModelFilePaths(const ModelFile& model) {
  if (model.format != "ncnn") return {model.path};
  fs::path param = model.path;
  param.replace_extension(".param");
  return {param.string(), model.path};
}

std::string DefaultModelsDir() {
  std::string data_home = EnvOr("XDG_DATA_HOME", EnvOr("HOME", "/root") + "/.local/share");
  return EnvOr("ANIFARM_MODELS_DIR", data_home + "/anifarm/models");
}

std::vector<ModelFile> ListModels(const std::string& models_dir) {
  std::vector<ModelFile> models;
  std::error_code ec;
  for (fs::directory_iterator it(models_dir, ec), end; !ec && it != end; it.increment(ec)) {
    ModelFile model;
    if (it->is_regular_file(ec) && Describe(it->path(), &model)) models.push_back(model);
  }
  std::sort(models.begin(), models.end(),
            [](const ModelFile& a, const ModelFile& b) { return a.name < b.name; });
  return models;
}

absl::StatusOr<ModelFile> ResolveModel(const std::string& name_or_path,
                                       const std::string& models_dir) {
  std::error_code ec;
  const bool looks_like_path = name_or_path.find('/') != std::string::npos ||
                               fs::path(name_or_path).has_extension();
  if (looks_like_path && fs::is_regular_file(name_or_path, ec)) {
    ModelFile model;
    fs::path path = fs::absolute(name_or_path, ec);
    if (path.extension() == ".param") path.replace_extension(".bin");
    if (!Describe(path, &model)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model file '", name_or_path,
          "' is not a model (expected .pth, .pt, .safetensors or an ncnn .param/.bin pair)"));
    }
    return model;
  }
  if (!looks_like_path) {
    for (const ModelFile& model : ListModels(models_dir)) {
      if (model.name == name_or_path) return model;
    }
  }
  return absl::NotFoundError(absl::StrCat("unknown model '", name_or_path, "' (looked in ",
                                          models_dir, "; run `anifarm models fetch`)"));
}

}  // namespace anifarm
