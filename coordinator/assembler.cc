#include "coordinator/assembler.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/encoded_segment.h"
#include "common/media/image_writer.h"
#include "common/media/png_codec.h"
#include "common/media/source_reader.h"
#include "common/scoped_file.h"
#include "common/status_macros.h"

extern "C" {
#include <libavutil/rational.h>
}

namespace anifarm {
namespace fs = std::filesystem;

namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("missing upscaled frame ", path));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// "dir/name.ext" -> "dir/.name.partial.ext": same folder (rename is atomic),
// same extension (the muxer picks the container from it).
std::string PartialPath(const std::string& output_path) {
  fs::path path(output_path);
  return (path.parent_path() / ("." + path.stem().string() + ".partial" +
                                path.extension().string()))
      .string();
}

std::string FrameName(int64_t index) { return absl::StrFormat("frame_%06d.png", index + 1); }

// The writer's options shared by both kinds of video input.
VideoWriterOptions WriterOptions(const AssemblyRequest& request, const std::string& path) {
  VideoWriterOptions options;
  options.output_path = path;
  options.display_name = request.output_path;  // notices name the user's file
  options.encode = request.encode;
  options.time_base = request.media.video.time_base;
  options.frame_rate = request.media.frame_rate;
  if (request.fixed_fps > 0) {
    options.frame_rate = av_d2q(request.fixed_fps, 100000);
    options.time_base = av_inv_q(options.frame_rate);
    spdlog::warn("notice: {}: fixed frame rate {} fps instead of the source's timestamps; "
                 "audio may drift",
                 request.output_path, request.fixed_fps);
  }
  // The source also gives subtitles, fonts, chapters and metadata, so it
  // is passed even when its audio is dropped.
  options.audio_source_path = request.source_path;
  options.copy_audio = request.keep_audio;
  // Keep the source's colour description; unspecified values stay -1
  // (the writer then picks from the picture size).
  const DecoderParams& video = request.media.video;
  if (video.color_space != 2) options.color_space = video.color_space;
  if (video.color_range != 0) options.color_range = video.color_range;
  if (video.color_primaries != 2) options.color_primaries = video.color_primaries;
  if (video.color_trc != 2) options.color_trc = video.color_trc;
  options.alpha = PixelFormatHasAlpha(video.pixel_format);
  options.sample_aspect_ratio = request.sample_aspect_ratio;
  return options;
}

// Encodes the frame map's pictures (PNGs in frames_dir) into `path`.
absl::Status EncodeFrames(const AssemblyRequest& request, const std::string& path,
                          AssemblyResult* result) {
  // Duplicates are usually runs (held frames), so keeping the last decoded
  // picture avoids most repeated PNG decodes.
  int64_t cached_index = -1;
  RgbImage cached;
  std::unique_ptr<VideoWriter> writer;
  for (const FrameRecord& frame : request.frames) {
    if (frame.source_index != cached_index) {
      ASSIGN_OR_RETURN(std::string png,
                       ReadFile(UpscaledFramePath(request.frames_dir, frame.source_index)));
      ASSIGN_OR_RETURN(cached, DecodePng(png));
      cached_index = frame.source_index;
    }
    if (!writer) {
      VideoWriterOptions options = WriterOptions(request, path);
      options.width = cached.width;
      options.height = cached.height;
      ASSIGN_OR_RETURN(writer, VideoWriter::Create(options));
      result->width = cached.width;
      result->height = cached.height;
    }
    if (cached.width != result->width || cached.height != result->height) {
      return absl::InternalError(absl::StrCat("upscaled frame ", frame.source_index, " is ",
                                              cached.width, "x", cached.height, ", expected ",
                                              result->width, "x", result->height));
    }
    RETURN_IF_ERROR(writer->WriteFrame(cached, request.fixed_fps > 0 ? frame.index : frame.pts));
    ++result->frames_written;
  }
  return writer->Finish();
}

// Joins the nodes' segments, in chunk order, into `path`.
absl::Status JoinSegments(const AssemblyRequest& request, const std::string& path,
                          AssemblyResult* result) {
  std::unique_ptr<VideoWriter> writer;
  v1::VideoStreamParams first;
  AVRational time_base{1, 1};
  for (int chunk = 0; chunk < request.chunk_count; ++chunk) {
    const std::string segment_path = SegmentPath(request.segments_dir, chunk);
    std::ifstream in(segment_path, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat("missing segment ", segment_path));
    v1::EncodedSegment segment;
    if (!segment.ParseFromIstream(&in)) {
      return absl::DataLossError(absl::StrCat("segment ", segment_path, " cannot be read"));
    }
    if (!writer) {
      first = segment.stream();
      CodecParametersPtr params(avcodec_parameters_alloc());
      if (!params) return absl::ResourceExhaustedError("out of memory");
      RETURN_IF_ERROR(ToCodecParameters(first, params.get()));
      time_base = AVRational{first.time_base_num(), first.time_base_den()};
      ASSIGN_OR_RETURN(writer, VideoWriter::CreateForEncodedVideo(WriterOptions(request, path),
                                                                  *params, time_base));
      result->width = first.width();
      result->height = first.height();
    } else if (absl::Status same = SameStream(first, segment.stream()); !same.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("segment ", segment_path, ": ", same.message()));
    }
    RETURN_IF_ERROR(AppendSegment(segment, time_base, *writer));
    result->frames_written += segment.packets_size();
  }
  if (!writer) return absl::InvalidArgumentError("the job has no segments");
  return writer->Finish();
}

// Reads the written file back: its video stream must hold `frames` packets.
absl::Status VerifyOutput(const std::string& path, int64_t frames) {
  ASSIGN_OR_RETURN(std::unique_ptr<SourceReader> reader, SourceReader::Open(path));
  int64_t packets = 0;
  while (true) {
    ASSIGN_OR_RETURN(PacketPtr packet, reader->NextVideoPacket());
    if (!packet) break;
    ++packets;
  }
  if (packets != frames) {
    return absl::DataLossError(absl::StrCat("the written output ", path, " holds ", packets,
                                            " video frames, expected ", frames));
  }
  return absl::OkStatus();
}

}  // namespace

std::string UpscaledFramePath(const std::string& frames_dir, int64_t index) {
  return absl::StrCat(frames_dir, "/", index, ".png");
}

std::string SegmentPath(const std::string& segments_dir, int64_t index) {
  return absl::StrCat(segments_dir, "/", index, ".segment");
}

absl::StatusOr<AssemblyResult> AssembleOutput(const AssemblyRequest& request) {
  if (request.frames.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(request.source_path, " has no frames"));
  }
  AssemblyResult result;
  if (IsImageOutputPath(request.output_path)) {
    // An image job: one picture in, one picture out, in the chosen format
    // (WriteImageFile writes beside the target and renames).
    if (request.frames.size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          request.source_path, " has ", request.frames.size(),
          " frames; an image output (", request.output_path, ") takes a single image"));
    }
    ASSIGN_OR_RETURN(std::string png, ReadFile(UpscaledFramePath(
                                          request.frames_dir, request.frames[0].source_index)));
    ASSIGN_OR_RETURN(RgbImage image, DecodePng(png));
    RETURN_IF_ERROR(WriteImageFile(image, request.output_path, request.image));
    result.width = image.width;
    result.height = image.height;
    result.frames_written = 1;
    return result;
  }
  const std::string partial = PartialPath(request.output_path);
  // Whatever fails from here (encoding, the read-back, the rename), the
  // hidden file goes with it.
  ScopedFile partial_file(partial);
  if (request.segments_dir.empty()) {
    RETURN_IF_ERROR(EncodeFrames(request, partial, &result));
  } else {
    RETURN_IF_ERROR(JoinSegments(request, partial, &result));
  }
  if (result.frames_written != static_cast<int64_t>(request.frames.size())) {
    return absl::DataLossError(absl::StrCat("the output holds ", result.frames_written,
                                            " frames; the source has ", request.frames.size()));
  }
  for (const FrameRecord& frame : request.frames) {
    if (frame.source_index != frame.index) ++result.frames_reused;
  }
  RETURN_IF_ERROR(VerifyOutput(partial, result.frames_written));
  std::error_code ec;
  fs::rename(partial, request.output_path, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot move ", partial, " to ", request.output_path, ": ", ec.message()));
  }
  partial_file.Keep();
  return result;
}

std::string FrameMappingJson(const std::vector<FrameRecord>& frames,
                             const std::map<int64_t, SeriesCacheHit>& from_cache) {
  int64_t unique = 0;
  for (const FrameRecord& frame : frames) unique += frame.source_index == frame.index;
  const double duplicate_percentage =
      frames.empty() ? 0.0 : 100.0 * double(frames.size() - unique) / double(frames.size());
  std::string json = absl::StrFormat(
      "{\n  \"total_frames\": %d,\n  \"unique_frames\": %d,\n  \"duplicate_percentage\": %.1f,\n"
      "  \"frame_mapping\": {\n",
      frames.size(), unique, duplicate_percentage);
  for (size_t i = 0; i < frames.size(); ++i) {
    absl::StrAppend(&json, "    \"", FrameName(frames[i].index), "\": \"",
                    FrameName(frames[i].source_index), "\"", i + 1 < frames.size() ? "," : "",
                    "\n");
  }
  absl::StrAppend(&json, "  }");
  if (!from_cache.empty()) {
    absl::StrAppend(&json, ",\n  \"series_cache\": {\n");
    size_t i = 0;
    for (const auto& [index, hit] : from_cache) {
      absl::StrAppend(&json, "    \"", FrameName(index), "\": {\"job\": \"", hit.origin_job,
                      "\", \"frame\": \"", FrameName(hit.origin_frame), "\"}",
                      ++i < from_cache.size() ? "," : "", "\n");
    }
    absl::StrAppend(&json, "  }");
  }
  absl::StrAppend(&json, "\n}\n");
  return json;
}

}  // namespace anifarm
