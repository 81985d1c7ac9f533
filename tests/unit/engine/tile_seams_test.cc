// Tiles are invisible: for every architecture the engine runs, a frame
// upscaled in tiles equals the same frame upscaled whole, in fp32, to at
// least 50 dB PSNR, for tile edges from 64 to 512 px and overlaps from 8 to
// 64 px. Each network is loaded through the engine's own loader (the real
// model files where the npm package has one, the committed random-weight
// fixtures of engine/reference otherwise) and run through TiledUpscaler's
// Network overload, which is what the engine runs.
//
// Two frames per network keep the CPU cost small while every tile edge
// really splits a frame: 160x136 (2x2 tiles of 128, 3x3 of 64) for the
// small tiles, and a 40x540 strip (2 rows of 512, 3 of 256) for the large
// ones, whose seams are then horizontal only (the tiler treats both axes
// alike). OmniSR is not here: no tiling reproduces its grid attention, so
// the tiler runs its frames whole (OmniSrTest checks both facts).
#include <c10/core/InferenceMode.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "node/engine/network.h"
#include "node/engine/network_loader.h"
#include "node/engine/tiled_inference.h"
#include "tests/unit/engine/architectures.h"
#include "tests/unit/engine/engine_test_util.h"

namespace anifarm::engine {
namespace {

using testutil::Architecture;
using testutil::Architectures;
using testutil::TexturedInput;
using testutil::Psnr;

constexpr double kMinPsnr = 50.0;

class TileSeamsTest : public testing::TestWithParam<Architecture> {};

TEST_P(TileSeamsTest, TiledEqualsWholeFrame) {
  const Architecture& arch = GetParam();
  absl::StatusOr<std::unique_ptr<Network>> net = LoadNetwork(arch.path, torch::kCPU, torch::kFloat32);
  ASSERT_TRUE(net.ok()) << net.status();
  c10::InferenceMode guard;
  struct Case {
    torch::Tensor input;
    std::vector<std::pair<int, int>> tiles;  // (tile edge, overlap) in px
  };
  std::vector<Case> cases = {
      {TexturedInput(160, 136), {{64, 8}, {64, 16}, {64, 32}, {128, 8}, {128, 64}}},
      {TexturedInput(40, 540), {{256, 8}, {256, 64}, {512, 8}, {512, 64}}},
  };
  for (Case& c : cases) {
    // In the layout the engine hands the network.
    c.input = c.input.contiguous((*net)->input_memory_format());
    const torch::Tensor whole = (*net)->Forward(c.input).to(torch::kFloat32).clamp(0, 1);
    for (const auto& [tile, overlap] : c.tiles) {
      // The frame really is cut: more than one tile along its long side.
      ASSERT_GT(SplitAxis(static_cast<int>(std::max(c.input.size(2), c.input.size(3))), tile, overlap).size(), 1u);
      const torch::Tensor tiled = TiledUpscaler((*net)->scale(), tile, overlap).Run(c.input, **net);
      ASSERT_EQ(tiled.sizes(), whole.sizes());
      const double psnr = Psnr(tiled.clamp(0, 1), whole, 1.0);
      std::printf("%s %ldx%ld tile %d overlap %d vs whole frame: %.2f dB\n", arch.label,
                  static_cast<long>(c.input.size(3)), static_cast<long>(c.input.size(2)), tile, overlap, psnr);
      EXPECT_GE(psnr, kMinPsnr) << arch.label << " tile " << tile << " overlap " << overlap;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryArchitecture, TileSeamsTest, testing::ValuesIn(Architectures()),
                         [](const testing::TestParamInfo<Architecture>& info) { return info.param.label; });

}  // namespace
}  // namespace anifarm::engine
