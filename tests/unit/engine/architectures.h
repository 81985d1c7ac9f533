// One network of each architecture and variant the engine routes to its own
// code path: the real model files of `anifarm models fetch` where the npm
// package has one, the committed random-weight fixtures of engine/reference
// otherwise. The tile-seam, precision and CUDA tests run every one of them.
#ifndef ANIFARM_TESTS_UNIT_ENGINE_ARCHITECTURES_H_
#define ANIFARM_TESTS_UNIT_ENGINE_ARCHITECTURES_H_

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

namespace anifarm::engine::testutil {

inline std::string ModelPath(const std::string& name) {
  return std::string(ANIFARM_TEST_MODEL_DIR) + "/" + name;
}

inline std::string FixturePath(const std::string& name) {
  return (std::filesystem::path(__FILE__).parent_path() / "reference" / name).string();
}

struct Architecture {
  const char* label;  // the test case's name
  std::string path;
};

// OmniSR is not listed: it runs frames whole (no tiling reproduces its grid
// attention), so it has no seams to test; OmniSrTest covers it.
inline std::vector<Architecture> Architectures() {
  return {
      {"SRVGGNetCompact_AniScale", ModelPath("2x-AniScale.pth")},
      {"Compact_ncnn_animevideov3", ModelPath("realesr-animevideov3-x2.param")},
      {"RRDBNet_legacy_YandereNeo", ModelPath("4x-NMKD-YandereNeo-Superlite.pth")},
      {"RRDBNet_new", FixturePath("rrdb_new_x2.pth")},
      {"SPAN", FixturePath("span_x2.pth")},
      {"RealPLKSR_LayerNorm", FixturePath("realplksr_ln_x3.pth")},
      {"RealPLKSR_GroupNorm", FixturePath("realplksr_x2.pth")},
      {"DAT", FixturePath("dat_x2.pth")},
      {"DAT_pixelshuffledirect", FixturePath("dat_direct_x2.pth")},
      {"waifu2x_upconv7_ncnn", ModelPath("waifu2x-upconv7-anime-noise0-x2.param")},
      {"RealCUGAN_up2x_ncnn", ModelPath("realcugan-up2x-conservative.param")},
      {"TorchScript", FixturePath("tiny_scripted_x2.pt")},
  };
}

// Every architecture, OmniSR included: for the tests that compare whole
// frames (precisions, devices).
inline std::vector<Architecture> AllArchitectures() {
  std::vector<Architecture> all = Architectures();
  all.push_back({"OmniSR_WTP_descreenton", ModelPath("4x_WTP_descreenton.pth")});
  return all;
}

// CTest and gtest name a case by its label, not by its bytes.
inline void PrintTo(const Architecture& arch, std::ostream* os) { *os << arch.label; }

}  // namespace anifarm::engine::testutil

#endif  // ANIFARM_TESTS_UNIT_ENGINE_ARCHITECTURES_H_
