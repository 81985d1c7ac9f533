// ModelCatalog: where model files live on a machine and how a user's
// `--model NAME|PATH` resolves to one.
//
// A model's name is its file name without the extension ("2x-AniScale",
// "realesr-animevideov3-x4"). PyTorch checkpoints are one file (.pth, .pt,
// .safetensors); ncnn models are a .param/.bin pair sharing the name.
#ifndef ANIFARM_COMMON_MODEL_CATALOG_H_
#define ANIFARM_COMMON_MODEL_CATALOG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace anifarm {

inline constexpr char kDefaultModelName[] = "2x-AniScale";

struct ModelFile {
  std::string name;
  std::string format;  // "pytorch" | "ncnn"
  // The weights file: the checkpoint, or the ncnn .bin (the .param sits
  // beside it with the same stem).
  std::string path;
  int64_t size_bytes = 0;
};

// The files that make up a model, in a fixed order: the checkpoint alone, or
// the ncnn .param then the .bin. A model's identity on the farm is the
// sha256 of these files' bytes concatenated in this order (the ncnn x2/x3/x4
// graphs share one .bin, so the .bin alone would not tell them apart).
std::vector<std::string> ModelFilePaths(const ModelFile& model);

// $ANIFARM_MODELS_DIR, else $XDG_DATA_HOME/anifarm/models, else
// ~/.local/share/anifarm/models.
std::string DefaultModelsDir();

// Resolves a name (looked up in `models_dir`) or a path. NotFoundError with
// the name, the folder searched and the hint to run `anifarm models fetch`.
absl::StatusOr<ModelFile> ResolveModel(const std::string& name_or_path,
                                       const std::string& models_dir);

// Every model in `models_dir`, sorted by name. A missing folder is empty.
std::vector<ModelFile> ListModels(const std::string& models_dir);

}  // namespace anifarm

#endif  // ANIFARM_COMMON_MODEL_CATALOG_H_
