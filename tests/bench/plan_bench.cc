// plan_bench: the planner's one decode pass, with and without the held-drawing
// detector (docs/benchmarks.md, "Planning").
//
//   plan_bench [--input FILE | --write FILE] [--width 1920 --height 1080 --frames 240 --crf 20]
//
// Without --input it writes a lossy x264 clip (the encoder's defaults,
// B-frames) of drawings held on twos and threes over a panning background,
// then plans it with --dedup exact and --dedup near and prints, for each,
// the planning rate in frames/s and how many frames would be upscaled.
// --write FILE keeps the generated clip there (for an end-to-end run).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "coordinator/planner.h"
#include "tests/corpus/lossy_clip.h"

namespace {

namespace fs = std::filesystem;

// A drawing every 2 or 3 frames: a box moved and the background panned.
void DrawHeldOnTwosAndThrees(int index, AVFrame& frame) {
  const int drawing = (index / 5) * 2 + (index % 5 >= 2 ? 1 : 0);
  const int box = frame.width / 8;
  const int box_x = (drawing * frame.width / 40) % (frame.width - box);
  for (int y = 0; y < frame.height; ++y) {
    uint8_t* row = frame.data[0] + static_cast<ptrdiff_t>(y) * frame.linesize[0];
    for (int x = 0; x < frame.width; ++x) {
      int value = 60 + 40 * (((x + drawing * 2) / (frame.width / 24 + 1)) % 3) + y * 40 / frame.height;
      if (x >= box_x && x < box_x + box && y >= frame.height / 3 && y < frame.height / 3 + box) {
        value = 225;
      }
      row[x] = static_cast<uint8_t>(value);
    }
  }
  for (int p = 1; p < 3; ++p) {
    for (int y = 0; y < frame.height / 2; ++y) {
      std::memset(frame.data[p] + static_cast<ptrdiff_t>(y) * frame.linesize[p],
                  p == 1 ? 110 + drawing % 7 : 150, frame.width / 2);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string input;
  std::string write_to;
  anifarm::LossyClipSpec spec;
  spec.width = 1920;
  spec.height = 1080;
  spec.frames = 240;
  spec.crf = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--input") input = value;
    else if (flag == "--write") write_to = value;
    else if (flag == "--width") spec.width = std::atoi(value);
    else if (flag == "--height") spec.height = std::atoi(value);
    else if (flag == "--frames") spec.frames = std::atoi(value);
    else if (flag == "--crf") spec.crf = std::atoi(value);
    else {
      std::fprintf(stderr, "plan_bench: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  const fs::path dir = fs::temp_directory_path() / ("anifarm-plan-bench-" + std::to_string(getpid()));
  fs::create_directories(dir / "chunks");
  if (input.empty()) {
    input = write_to.empty() ? (dir / "clip.mkv").string() : write_to;
    spec.draw = DrawHeldOnTwosAndThrees;
    const auto start = std::chrono::steady_clock::now();
    if (absl::Status written = anifarm::WriteLossyClip(input, spec); !written.ok()) {
      std::fprintf(stderr, "plan_bench: %s\n", std::string(written.message()).c_str());
      return 1;
    }
    std::printf("clip: %dx%d, %d frames, libx264 crf %d (written in %.1f s)\n", spec.width,
                spec.height, spec.frames, spec.crf,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  for (const auto& [name, mode] : {std::pair{"exact", anifarm::v1::DEDUP_EXACT},
                                   std::pair{"near", anifarm::v1::DEDUP_NEAR}}) {
    anifarm::PlanOptions options;
    options.dedup = mode;
    const auto start = std::chrono::steady_clock::now();
    auto plan = anifarm::PlanJob("bench", input, (dir / "chunks").string(), options);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!plan.ok()) {
      std::fprintf(stderr, "plan_bench: %s\n", std::string(plan.status().message()).c_str());
      return 1;
    }
    int64_t upscaled = 0;
    for (const anifarm::FrameRecord& frame : plan->frames) upscaled += frame.source_index == frame.index;
    std::printf("dedup %-5s: %zu frames planned in %.2f s (%.1f frames/s), %lld to upscale\n", name,
                plan->frames.size(), seconds, double(plan->frames.size()) / seconds,
                static_cast<long long>(upscaled));
  }
  fs::remove_all(dir);
  return 0;
}
