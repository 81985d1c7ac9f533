// RgbImage: the one pixel container that crosses module boundaries.
//
// Packed 8-bit RGB, row-major, no padding: pixel (x, y) channel c lives at
// pixels[(y * width + x) * 3 + c]. An optional alpha plane rides along
// (alpha[y * width + x]); empty means opaque. The engine sees RGB only: the
// node upscales the alpha plane separately (the guide's "alpha restore"). Media code converts to and from it with
// libswscale; the engine turns it into a tensor. Keeping it plain lets the
// coordinator and the client stay free of LibTorch.
#ifndef ANIFARM_COMMON_IMAGE_H_
#define ANIFARM_COMMON_IMAGE_H_

#include <cstdint>
#include <vector>

namespace anifarm {

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3 bytes
  std::vector<uint8_t> alpha;   // width * height bytes, or empty (opaque)

  RgbImage() = default;
  RgbImage(int w, int h) : width(w), height(h), pixels(size_t(w) * h * 3) {}

  uint8_t* row(int y) { return pixels.data() + size_t(y) * width * 3; }
  const uint8_t* row(int y) const { return pixels.data() + size_t(y) * width * 3; }
  bool has_alpha() const { return !alpha.empty(); }
};

}  // namespace anifarm

#endif  // ANIFARM_COMMON_IMAGE_H_
