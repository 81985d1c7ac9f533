// libFuzzer harness for what the coordinator does first with a submitted
// file: probe it (SourceReader::Open, i.e. ProbeMedia), read its video
// packets and decode a few frames to RGB, as the planner does. The bytes
// are also handed to DecodePng (node results and image inputs). Any byte
// string must give a result or an error, never a crash, a hang, a leak or a
// read out of bounds (built with -fsanitize=fuzzer,address,undefined by
// tests/fuzz/run_fuzzers.sh).
//
// Work per input is capped (packets read, frames decoded, frame size) so a
// hostile header cannot make one input take seconds.
//
// Seeds: `ANIFARM_FUZZ_WRITE_SEEDS=DIR ./media_probe_fuzzer` writes tiny real
// files (MP4, MKV, PNG made with WriteTestClip / EncodePng) into DIR and
// exits; tests/fuzz/media_seeds/ keeps the ones it wrote.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/media/ffmpeg_ptr.h"
#include "common/media/frame_convert.h"
#include "common/media/media_info.h"
#include "common/media/png_codec.h"
#include "common/media/source_reader.h"
#include "common/media/test_clip.h"
#include "common/media/video_decoder.h"

extern "C" {
#include <libavutil/cpu.h>
#include <libavutil/log.h>
}

namespace {

constexpr int kMaxPackets = 48;
constexpr int kMaxFrames = 4;
// Frames larger than this are not decoded (the probe and packet reading
// still run): a forged header may claim any size.
constexpr int64_t kMaxPixels = 512 * 512;

std::string g_input;  // the temp file each input is written to

int WriteSeeds(const std::string& dir) {
  std::filesystem::create_directories(dir);
  anifarm::TestClipSpec spec;
  spec.width = 16;
  spec.height = 16;
  spec.content = {0, 0, 1, 1, 2, 0};
  spec.gop = 3;
  spec.audio = false;
  int failures = 0;
  auto report = [&](const absl::Status& s, const char* what) {
    if (!s.ok()) {
      std::fprintf(stderr, "%s: %s\n", what, std::string(s.message()).c_str());
      ++failures;
    }
  };
  report(anifarm::WriteTestClip(dir + "/clip16.mp4", spec), "clip16.mp4");
  report(anifarm::WriteTestClip(dir + "/clip16.mkv", spec), "clip16.mkv");
  anifarm::TestClipSpec with_audio = spec;
  with_audio.content = {0, 1};
  with_audio.audio = true;
  report(anifarm::WriteTestClip(dir + "/clip16_audio.mkv", with_audio), "clip16_audio.mkv");
  anifarm::RgbImage image(16, 16);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>(i * 7);
  absl::StatusOr<std::string> png = anifarm::EncodePng(image);
  if (png.ok()) {
    std::ofstream(dir + "/image16.png", std::ios::binary) << *png;
  } else {
    report(png.status(), "image16.png");
  }
  return failures == 0 ? 0 : 1;
}

void DecodeSome(const anifarm::MediaInfo& info, anifarm::SourceReader* reader) {
  const bool decode = static_cast<int64_t>(info.video.width) * info.video.height <= kMaxPixels;
  std::unique_ptr<anifarm::VideoDecoder> decoder;
  if (decode) {
    auto created = anifarm::VideoDecoder::Create(info.video);
    if (created.ok()) decoder = std::move(*created);
  }
  std::vector<anifarm::FramePtr> frames;
  int converted = 0;
  auto convert = [&] {
    for (const anifarm::FramePtr& frame : frames) {
      if (converted >= kMaxFrames) break;
      if (static_cast<int64_t>(frame->width) * frame->height > kMaxPixels) continue;
      ++converted;
      (void)anifarm::FrameToRgb(*frame);
      (void)anifarm::FramePixelsMd5(*frame);
    }
    frames.clear();
  };
  for (int i = 0; i < kMaxPackets && converted < kMaxFrames; ++i) {
    absl::StatusOr<anifarm::PacketPtr> packet = reader->NextVideoPacket();
    if (!packet.ok() || !*packet) break;
    if (!decoder) continue;
    if (!decoder->Decode(**packet, &frames).ok()) break;
    convert();
  }
  if (decoder && converted < kMaxFrames && decoder->Flush(&frames).ok()) convert();
}

}  // namespace

// Decoders allocate and free megabytes per input; with ASan's default
// 256 MiB quarantine none of it is reused and page faults dominate.
extern "C" const char* __asan_default_options() { return "quarantine_size_mb=16"; }

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  av_log_set_level(AV_LOG_QUIET);
  // Decoders open with one thread per core; one thread keeps an input's
  // run deterministic and spares a thread start-up per input.
  av_cpu_force_count(1);
  if (const char* dir = std::getenv("ANIFARM_FUZZ_WRITE_SEEDS")) std::exit(WriteSeeds(dir));
  char tmpl[] = "/tmp/anifarm_media_fuzz.XXXXXX";
  if (!mkdtemp(tmpl)) std::abort();
  // No extension: the format is found from the content, as for a file a
  // user named anything.
  g_input = std::string(tmpl) + "/input";
  static const std::string dir = tmpl;
  std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)anifarm::DecodePng(bytes);
  {
    std::ofstream out(g_input, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  absl::StatusOr<std::unique_ptr<anifarm::SourceReader>> reader =
      anifarm::SourceReader::Open(g_input);
  if (reader.ok()) DecodeSome((*reader)->info(), reader->get());
  return 0;
}
