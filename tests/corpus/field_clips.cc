#include "tests/corpus/field_clips.h"

#include <algorithm>
#include <cstring>

#include "common/media/ffmpeg_ptr.h"

namespace anifarm {
namespace {

// Copies the rows of one parity (0 top, 1 bottom) of every plane of `from`.
void CopyField(const AVFrame& from, int parity, AVFrame& to) {
  for (int plane = 0; plane < 3; ++plane) {
    const int rows = plane == 0 ? to.height : (to.height + 1) / 2;
    const int bytes = plane == 0 ? to.width : (to.width + 1) / 2;
    for (int y = parity; y < rows; y += 2) {
      std::memcpy(to.data[plane] + static_cast<ptrdiff_t>(y) * to.linesize[plane],
                  from.data[plane] + static_cast<ptrdiff_t>(y) * from.linesize[plane], bytes);
    }
  }
}

// Draws moments `top` and `bottom` and weaves their fields into `frame`.
void Weave(int top, int bottom, int step, AVFrame& frame) {
  FramePtr picture = MakeFrame();
  picture->format = frame.format;
  picture->width = frame.width;
  picture->height = frame.height;
  if (av_frame_get_buffer(picture.get(), 0) < 0) return;
  DrawMoment(top, step, *picture);
  CopyField(*picture, 0, frame);
  DrawMoment(bottom, step, *picture);
  CopyField(*picture, 1, frame);
}

LossyClipSpec Base(int width, int height, int frames) {
  LossyClipSpec spec;
  spec.encoder = "mpeg2video";
  spec.width = width;
  spec.height = height;
  spec.frames = frames;
  spec.crf = 8;  // qscale 2: a good DVD
  spec.audio = true;
  return spec;
}

}  // namespace

void DrawMoment(int t, int step, AVFrame& frame) {
  const int w = frame.width, h = frame.height;
  const int shift = step * t;
  const int box = std::max(16, h / 4);
  const int box_x = (2 * shift) % std::max(1, w - box);
  const int box_y = h / 2;
  for (int y = 0; y < h; ++y) {
    uint8_t* row = frame.data[0] + static_cast<ptrdiff_t>(y) * frame.linesize[0];
    for (int x = 0; x < w; ++x) {
      uint8_t v;
      if (y < h / 4) {
        v = ((y / 4) % 2) ? 200 : 40;  // still horizontal stripes: no combing
      } else if (x >= box_x && x < box_x + box && y >= box_y && y < box_y + box) {
        v = 235;
      } else {
        v = (((x + shift) / 16) % 2) ? 170 : 60;  // panning vertical bars
      }
      row[x] = v;
    }
  }
  for (int plane = 1; plane < 3; ++plane) {
    for (int y = 0; y < (h + 1) / 2; ++y) {
      std::memset(frame.data[plane] + static_cast<ptrdiff_t>(y) * frame.linesize[plane],
                  plane == 1 ? 118 : 138, (w + 1) / 2);
    }
  }
}

PulldownFields PulldownOf(int index) {
  const int base = 4 * (index / 5);
  static constexpr PulldownFields kCycle[5] = {{0, 0}, {1, 1}, {1, 2}, {2, 3}, {3, 3}};
  const PulldownFields f = kCycle[index % 5];
  return {base + f.top, base + f.bottom};
}

LossyClipSpec TelecinedClip(int width, int height, int film_frames) {
  LossyClipSpec spec = Base(width, height, film_frames * 5 / 4);
  spec.rate = AVRational{30000, 1001};
  spec.interlaced = true;
  spec.sample_aspect_ratio = AVRational{8, 9};  // 4:3 at 720x480
  spec.draw = [](int index, AVFrame& frame) {
    const PulldownFields f = PulldownOf(index);
    Weave(f.top, f.bottom, 6, frame);
  };
  return spec;
}

LossyClipSpec InterlacedVideoClip(int width, int height, int frames) {
  LossyClipSpec spec = Base(width, height, frames);
  spec.rate = AVRational{30000, 1001};
  spec.interlaced = true;
  spec.draw = [](int index, AVFrame& frame) { Weave(2 * index, 2 * index + 1, 3, frame); };
  return spec;
}

LossyClipSpec ProgressiveClip(int width, int height, int frames) {
  LossyClipSpec spec = Base(width, height, frames);
  spec.fps = 24;
  spec.draw = [](int index, AVFrame& frame) { DrawMoment(index, 6, frame); };
  return spec;
}

}  // namespace anifarm
