#include "coordinator/planner.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <fstream>
#include <map>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "common/chunk_payload.h"
#include "common/media/frame_convert.h"
#include "common/media/source_reader.h"
#include "common/media/video_decoder.h"
#include "common/status_macros.h"
#include "protos/anifarm.pb.h"

extern "C" {
#include <libavutil/imgutils.h>
}

namespace anifarm {
namespace {

struct DecodedFrame {
  int64_t pts;
  std::string md5;
  // Near-dedup only: the presentation time of the kept frame this one is
  // close enough to, or -1.
  int64_t near_anchor_pts = -1;
};

// The first plane's visible bytes (luma for YUV, packed pixels for RGB):
// what near-duplicate detection compares.
struct Plane {
  int row_bytes = 0;
  int height = 0;
  std::vector<uint8_t> bytes;
};

Plane CopyFirstPlane(const AVFrame& frame) {
  Plane plane;
  plane.row_bytes =
      av_image_get_linesize(static_cast<AVPixelFormat>(frame.format), frame.width, 0);
  plane.height = frame.height;
  if (plane.row_bytes <= 0) return plane;
  plane.bytes.resize(static_cast<size_t>(plane.row_bytes) * plane.height);
  for (int y = 0; y < plane.height; ++y) {
    std::memcpy(&plane.bytes[static_cast<size_t>(y) * plane.row_bytes],
                frame.data[0] + static_cast<ptrdiff_t>(y) * frame.linesize[0], plane.row_bytes);
  }
  return plane;
}

// PSNR in dB between two planes of the same shape (infinity when equal,
// -1 when they cannot be compared).
double PlanePsnr(const Plane& a, const Plane& b) {
  if (a.bytes.empty() || a.row_bytes != b.row_bytes || a.height != b.height) return -1;
  uint64_t squared = 0;
  for (size_t i = 0; i < a.bytes.size(); ++i) {
    const int d = int(a.bytes[i]) - int(b.bytes[i]);
    squared += static_cast<uint64_t>(d * d);
  }
  if (squared == 0) return std::numeric_limits<double>::infinity();
  const double mse = double(squared) / double(a.bytes.size());
  return 10.0 * std::log10(255.0 * 255.0 / mse);
}

absl::Status WritePayload(const std::string& path, const v1::ChunkPayload& payload) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out || !payload.SerializeToOstream(&out)) {
      return absl::InternalError(absl::StrCat("cannot write chunk payload ", tmp));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot write chunk payload ", path));
  }
  return absl::OkStatus();
}

int64_t PacketPts(const AVPacket& packet) {
  return packet.pts != AV_NOPTS_VALUE ? packet.pts : packet.dts;
}

}  // namespace

absl::StatusOr<v1::ChunkPayload> ReadChunkPayload(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  v1::ChunkPayload payload;
  if (!in || !payload.ParseFromIstream(&in)) {
    return absl::InternalError(absl::StrCat("cannot read chunk payload ", path));
  }
  return payload;
}

std::string ChunkPayloadPath(const std::string& chunk_dir, int index) {
  return absl::StrCat(chunk_dir, "/", index, ".chunk");
}

absl::StatusOr<Plan> PlanJob(const std::string& job_id, const std::string& input_path,
                             const std::string& chunk_dir, const PlanOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<SourceReader> reader, SourceReader::Open(input_path));
  Plan plan;
  plan.media = reader->info();
  ASSIGN_OR_RETURN(std::unique_ptr<VideoDecoder> decoder,
                   VideoDecoder::Create(plan.media.video));
  const v1::DecoderConfig decoder_config = ToDecoderConfig(plan.media.video);

  // Chunks as they are cut: the presentation time where each one starts.
  std::vector<int64_t> chunk_start_pts;
  v1::ChunkPayload current;
  int current_packets = 0;
  std::vector<DecodedFrame> decoded;
  std::vector<FramePtr> frames;

  auto close_chunk = [&]() -> absl::Status {
    if (current_packets == 0) return absl::OkStatus();
    *current.mutable_decoder() = decoder_config;
    RETURN_IF_ERROR(WritePayload(
        ChunkPayloadPath(chunk_dir, static_cast<int>(chunk_start_pts.size()) - 1), current));
    current.Clear();
    current_packets = 0;
    return absl::OkStatus();
  };
  // Decoders hand frames out in presentation order, so the last kept frame
  // is the one a held picture repeats.
  Plane anchor;
  int64_t anchor_pts = -1;
  auto collect = [&]() {
    for (FramePtr& frame : frames) {
      int64_t pts = frame->best_effort_timestamp != AV_NOPTS_VALUE ? frame->best_effort_timestamp
                                                                   : frame->pts;
      DecodedFrame entry{pts, FramePixelsMd5(*frame)};
      if (options.dedup == v1::DEDUP_NEAR) {
        Plane plane = CopyFirstPlane(*frame);
        if (anchor_pts >= 0 && PlanePsnr(plane, anchor) >= options.near_dedup_psnr) {
          entry.near_anchor_pts = anchor_pts;
        } else {
          anchor = std::move(plane);
          anchor_pts = pts;
        }
      }
      decoded.push_back(std::move(entry));
    }
    frames.clear();
  };

  while (true) {
    ASSIGN_OR_RETURN(PacketPtr packet, reader->NextVideoPacket());
    if (!packet) break;
    const bool keyframe = packet->flags & AV_PKT_FLAG_KEY;
    if (chunk_start_pts.empty() || (keyframe && current_packets >= options.chunk_frames)) {
      RETURN_IF_ERROR(close_chunk());
      chunk_start_pts.push_back(PacketPts(*packet));
    }
    v1::SourcePacket* stored = current.add_packets();
    stored->set_data(packet->data, packet->size);
    stored->set_pts(packet->pts);
    stored->set_dts(packet->dts);
    stored->set_keyframe(keyframe);
    ++current_packets;
    absl::Status decoded_ok = decoder->Decode(*packet, &frames);
    if (!decoded_ok.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot decode video of ", input_path, ": ", decoded_ok.message()));
    }
    collect();
  }
  RETURN_IF_ERROR(close_chunk());
  RETURN_IF_ERROR(decoder->Flush(&frames));
  collect();
  if (decoded.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(input_path, " has no decodable video frame"));
  }

  // Presentation order, global dedup, chunk membership.
  std::stable_sort(decoded.begin(), decoded.end(),
                   [](const DecodedFrame& a, const DecodedFrame& b) { return a.pts < b.pts; });
  std::unordered_map<std::string, int64_t> first_by_hash;
  plan.chunks.resize(chunk_start_pts.size());
  for (size_t c = 0; c < plan.chunks.size(); ++c) {
    plan.chunks[c].job_id = job_id;
    plan.chunks[c].index = static_cast<int32_t>(c);
    plan.chunks[c].first_frame = -1;
  }
  std::map<int, v1::ChunkPayload> frame_lists;
  std::unordered_map<int64_t, int64_t> index_by_pts;
  for (size_t i = 0; i < decoded.size(); ++i) {
    FrameRecord frame;
    frame.index = static_cast<int64_t>(i);
    frame.pts = decoded[i].pts;
    frame.md5 = decoded[i].md5;
    index_by_pts.emplace(frame.pts, frame.index);
    bool inserted = true;
    frame.source_index = frame.index;
    if (options.dedup != v1::DEDUP_OFF) {
      auto [it, is_new] = first_by_hash.emplace(frame.md5, frame.index);
      frame.source_index = it->second;
      inserted = is_new;
      auto anchor_it = index_by_pts.find(decoded[i].near_anchor_pts);
      if (is_new && decoded[i].near_anchor_pts >= 0 && anchor_it != index_by_pts.end()) {
        // Near-duplicate of a kept frame: reuse that frame's picture (and
        // through it, its own first occurrence).
        frame.source_index = plan.frames[anchor_it->second].source_index;
        inserted = false;
      }
    }
    // The chunk whose start is the last one at or before this frame.
    auto start = std::upper_bound(chunk_start_pts.begin(), chunk_start_pts.end(), frame.pts);
    frame.chunk_index =
        start == chunk_start_pts.begin() ? 0 : static_cast<int32_t>(start - chunk_start_pts.begin() - 1);
    ChunkRecord& chunk = plan.chunks[frame.chunk_index];
    if (chunk.first_frame < 0) chunk.first_frame = frame.index;
    ++chunk.frame_count;
    if (inserted) {
      ++chunk.unique_count;
      v1::FrameToUpscale* wanted = frame_lists[frame.chunk_index].add_frames();
      wanted->set_frame_index(frame.index);
      wanted->set_pts(frame.pts);
    }
    plan.frames.push_back(std::move(frame));
  }
  for (auto& [index, list] : frame_lists) {
    const std::string path = ChunkPayloadPath(chunk_dir, index);
    ASSIGN_OR_RETURN(v1::ChunkPayload payload, ReadChunkPayload(path));
    *payload.mutable_frames() = list.frames();
    RETURN_IF_ERROR(WritePayload(path, payload));
  }
  for (ChunkRecord& chunk : plan.chunks) {
    if (chunk.first_frame < 0) chunk.first_frame = 0;
  }
  return plan;
}

}  // namespace anifarm
