#include "common/media/field_analysis.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/media/source_reader.h"
#include "common/media/video_decoder.h"
#include "common/status_macros.h"

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace anifarm {
namespace {

// Luma row `y` as 8-bit values (high bit depths shifted down), so one
// threshold fits every depth.
void LumaRow(const AVFrame& frame, int y, int shift, bool wide, std::vector<int>* row) {
  const uint8_t* line = frame.data[0] + static_cast<ptrdiff_t>(y) * frame.linesize[0];
  for (int x = 0; x < frame.width; ++x) {
    (*row)[x] = wide ? (reinterpret_cast<const uint16_t*>(line)[x] >> shift) : line[x];
  }
}

// Adds the frames of one decode run to `samples`; stops after `limit`.
absl::Status SampleRun(SourceReader& reader, VideoDecoder& decoder, int window, int limit,
                       std::vector<FieldSample>* samples) {
  int taken = 0;
  std::vector<FramePtr> frames;
  auto take = [&]() {
    for (FramePtr& frame : frames) {
      if (taken >= limit) break;
      FieldSample sample;
      sample.comb = CombFraction(*frame);
      sample.interlaced_flag = frame->interlaced_frame != 0;
      sample.top_field_first = frame->top_field_first != 0;
      sample.repeat_pict = frame->repeat_pict;
      sample.window = window;
      sample.position = taken++;
      samples->push_back(sample);
    }
    frames.clear();
  };
  while (taken < limit) {
    ASSIGN_OR_RETURN(PacketPtr packet, reader.NextVideoPacket());
    if (!packet) break;
    RETURN_IF_ERROR(decoder.Decode(*packet, &frames));
    take();
  }
  // Flushing also resets the decoder for the next window's keyframe.
  RETURN_IF_ERROR(decoder.Flush(&frames));
  take();
  return absl::OkStatus();
}

}  // namespace

const char* FieldStructureName(FieldStructure structure) {
  switch (structure) {
    case FieldStructure::kProgressive: return "progressive";
    case FieldStructure::kTelecined: return "telecined";
    case FieldStructure::kInterlaced: return "interlaced";
  }
  return "?";
}

double CombFraction(const AVFrame& frame) {
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(frame.format));
  if (!desc || (desc->flags & AV_PIX_FMT_FLAG_RGB) || frame.height < 5 || frame.width < 1) {
    return 0;
  }
  const int depth = desc->comp[0].depth;
  const bool wide = depth > 8;
  const int shift = wide ? depth - 8 : 0;
  // Five rows in flight: y-2 .. y+2.
  std::vector<std::vector<int>> rows(5, std::vector<int>(frame.width));
  for (int i = 0; i < 4; ++i) LumaRow(frame, i, shift, wide, &rows[i + 1]);
  int64_t combed = 0;
  const int t = kCombPixelThreshold;
  std::vector<char> combs(frame.width);
  for (int y = 2; y + 2 < frame.height; ++y) {
    std::rotate(rows.begin(), rows.begin() + 1, rows.end());
    LumaRow(frame, y + 2, shift, wide, &rows[4]);
    const std::vector<int>&above2 = rows[0], &above = rows[1], &row = rows[2], &below = rows[3],
                      &below2 = rows[4];
    for (int x = 0; x < frame.width; ++x) {
      const int up = row[x] - above[x], down = row[x] - below[x];
      const bool other_field = (up > t && down > t) || (up < -t && down < -t);
      const bool own_field = std::abs(row[x] - above2[x]) <= t && std::abs(row[x] - below2[x]) <= t;
      combs[x] = other_field && own_field;
    }
    // Combing is a band as wide as the motion along each moving edge; grain
    // and noise comb single pixels. Counted: runs of at least kCombRun.
    int run = 0;
    for (int x = 0; x < frame.width; ++x) {
      run = combs[x] ? run + 1 : 0;
      if (run == kCombRun) combed += kCombRun;
      else if (run > kCombRun) ++combed;
    }
  }
  return double(combed) / (double(frame.width) * double(frame.height - 4));
}

std::string FieldAnalysis::Describe() const {
  const std::string counts = absl::StrCat(combed, " of ", frames, " sampled frames combed");
  switch (structure) {
    case FieldStructure::kTelecined:
      return absl::StrCat("telecined (3:2 pulldown, ", counts, ", ", combed_in_cadence,
                          " of them in its cadence)");
    case FieldStructure::kInterlaced:
      return absl::StrCat("interlaced (", top_field_first ? "top" : "bottom", " field first, ",
                          counts, ")");
    case FieldStructure::kProgressive:
      if (soft_telecine) {
        return absl::StrCat("soft telecine (repeat-field flags on ", repeat_flagged, " of ",
                            frames, " frames; the frames are progressive film)");
      }
      return absl::StrCat("progressive (", counts, ")");
  }
  return "";
}

FieldAnalysis ClassifyFields(const std::vector<FieldSample>& samples, int header_field_order) {
  FieldAnalysis a;
  a.frames = static_cast<int>(samples.size());
  int tff = 0;
  for (const FieldSample& s : samples) {
    a.combed += s.comb > kCombedFrameFraction;
    a.flagged_interlaced += s.interlaced_flag;
    tff += s.interlaced_flag && s.top_field_first;
    a.repeat_flagged += s.repeat_pict > 0;
    a.max_comb = std::max(a.max_comb, s.comb);
  }
  // The frames' own flags first; the headers where no frame says; top
  // field first otherwise (NTSC DVDs, and libavfilter's own default).
  if (a.flagged_interlaced > 0) {
    a.top_field_first = 2 * tff >= a.flagged_interlaced;
  } else {
    a.top_field_first = header_field_order != AV_FIELD_BB && header_field_order != AV_FIELD_BT;
  }
  // Cadence: per window, the combed frames on the best pair of adjacent
  // positions modulo 5.
  int window_start = 0;
  while (window_start < a.frames) {
    int window_end = window_start;
    while (window_end < a.frames && samples[window_end].window == samples[window_start].window) {
      ++window_end;
    }
    int by_phase[5] = {0, 0, 0, 0, 0};
    for (int i = window_start; i < window_end; ++i) {
      if (samples[i].comb > kCombedFrameFraction) ++by_phase[samples[i].position % 5];
    }
    int best = 0;
    for (int p = 0; p < 5; ++p) best = std::max(best, by_phase[p] + by_phase[(p + 1) % 5]);
    a.combed_in_cadence += best;
    window_start = window_end;
  }
  if (a.combed < kMinCombedFrames || a.combed < kCombedSourceFraction * a.frames) {
    a.structure = FieldStructure::kProgressive;
    a.soft_telecine = a.frames > 0 && a.repeat_flagged >= kRepeatFlagShare * a.frames;
  } else if (a.combed_in_cadence >= kCadenceShare * a.combed) {
    a.structure = FieldStructure::kTelecined;
  } else {
    a.structure = FieldStructure::kInterlaced;
  }
  return a;
}

absl::StatusOr<FieldAnalysis> AnalyzeFields(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<SourceReader> reader, SourceReader::Open(path));
  const MediaInfo info = reader->info();
  ASSIGN_OR_RETURN(std::unique_ptr<VideoDecoder> decoder, VideoDecoder::Create(info.video));
  std::vector<FieldSample> samples;
  if (info.duration_seconds <= kWholeSourceSeconds) {
    RETURN_IF_ERROR(SampleRun(*reader, *decoder, 0, kMaxWholeFrames, &samples));
  } else {
    for (int w = 0; w < kWindows; ++w) {
      // Window centres at 5 %, 15 % ... 95 %: openings and end credits
      // weigh no more than the episode.
      RETURN_IF_ERROR(reader->SeekToSeconds(info.duration_seconds * (w + 0.5) / kWindows));
      RETURN_IF_ERROR(SampleRun(*reader, *decoder, w, kWindowFrames, &samples));
    }
  }
  if (samples.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " has no decodable video frame"));
  }
  return ClassifyFields(samples, info.field_order);
}

}  // namespace anifarm
