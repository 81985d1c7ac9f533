#include "coordinator/planner.h"

#include <algorithm>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/chunk_payload.h"
#include "common/file_util.h"
#include "common/media/frame_convert.h"
#include "common/media/source_reader.h"
#include "common/media/video_decoder.h"
#include "common/status_macros.h"
#include "coordinator/held_frames.h"
#include "coordinator/open_gop.h"
#include "coordinator/scene_cut.h"
#include "protos/anifarm.pb.h"

namespace anifarm {
namespace {

struct DecodedFrame {
  int64_t pts;
  std::string md5;
  // Near-dedup only: the presentation time of the kept picture this frame
  // shows (held_frames.h), or -1.
  int64_t near_anchor_pts = -1;
  bool scene_cut = false;
};

absl::Status WritePayload(const std::string& path, const v1::ChunkPayload& payload) {
  std::string bytes;
  if (!payload.SerializeToString(&bytes)) {
    return absl::InternalError(absl::StrCat("cannot serialize chunk payload ", path));
  }
  return WriteFileAtomically(path, bytes);
}

// "12.345 s" for a timestamp of the source's video stream.
std::string SourceTime(const MediaInfo& media, int64_t pts) {
  if (pts == AV_NOPTS_VALUE) return "the start";
  return absl::StrFormat("%.3f s", double(pts) * av_q2d(media.video.time_base));
}

int64_t PacketPts(const AVPacket& packet) {
  return packet.pts != AV_NOPTS_VALUE ? packet.pts : packet.dts;
}

// How many packets past a keyframe the decoder may be before that keyframe's
// picture is out (B-frame reordering plus one frame per decoding thread).
// Beyond it the keyframe is taken as no scene cut rather than buffering on,
// which bounds memory even for a stream whose timestamps never match.
constexpr int kMaxDecoderLag = 64;

// Cuts the packet stream into chunks, a GOP (a keyframe and the packets up to
// the next one, in decode order) at a time. Whether a chunk ends at a keyframe
// may depend on that keyframe's picture being a scene cut, which is known
// only once the decoder has output it, a few packets later: until then the
// GOP waits here. Only what the decoder has not caught up with waits, so the
// planner holds about one GOP, not the video.
class ChunkCutter {
 public:
  // Writes chunk `index`'s packets (the payload is cleared afterwards).
  using WriteFn = std::function<absl::Status(int index, v1::ChunkPayload& payload)>;

  ChunkCutter(const PlanOptions& options, WriteFn write)
      : chunk_frames_(options.chunk_frames),
        use_cuts_(options.scene_cut_threshold > 0),
        write_(std::move(write)) {}

  // The next packet, in decode order (before the decoder gets it).
  absl::Status AddPacket(const AVPacket& packet) {
    const bool keyframe = packet.flags & AV_PKT_FLAG_KEY;
    if (!seen_packet_ || keyframe) pending_.push_back(PendingGop{PacketPts(packet)});
    seen_packet_ = true;
    v1::SourcePacket stored;
    stored.set_data(packet.data, packet.size);
    stored.set_pts(packet.pts);
    stored.set_dts(packet.dts);
    stored.set_keyframe(keyframe);
    if (pending_.empty()) {  // the GOP in progress is already placed
      *current_.add_packets() = std::move(stored);
      ++current_frames_;
    } else {
      pending_.back().packets.push_back(std::move(stored));
      ++pending_packets_;
    }
    return PlaceReady(/*at_end=*/false);
  }

  // The decoder output the frame presented at `pts` (frames come out in
  // presentation order, so a waiting keyframe it has passed is no cut).
  absl::Status FrameDecoded(int64_t pts, bool scene_cut) {
    for (PendingGop& gop : pending_) {
      if (!gop.cut.has_value() && gop.start_pts <= pts) {
        gop.cut = gop.start_pts == pts && scene_cut;
      }
    }
    return PlaceReady(/*at_end=*/false);
  }

  // After the decoder is flushed: places what still waits, writes the last chunk.
  absl::Status Finish() {
    RETURN_IF_ERROR(PlaceReady(/*at_end=*/true));
    return CloseChunk();
  }

  const std::vector<int64_t>& chunk_start_pts() const { return starts_; }
  int chunks_ended_at_cuts() const { return ended_at_cuts_; }

 private:
  struct PendingGop {
    int64_t start_pts = 0;
    std::vector<v1::SourcePacket> packets;
    // Whether the keyframe's picture starts a new scene; unset until the
    // decoder has output it.
    std::optional<bool> cut;
  };
  enum class Decision { kSameChunk, kNewChunk, kNewChunkAtCut, kWait };

  // A full chunk ends at any keyframe; one under half full at none; in
  // between, at a keyframe that is a scene cut, so the next shot starts a
  // chunk of its own instead of being split at an arbitrary keyframe.
  Decision Decide(const PendingGop& gop, bool at_end) const {
    if (starts_.empty() || current_frames_ >= chunk_frames_) return Decision::kNewChunk;
    if (!use_cuts_ || 2 * current_frames_ < chunk_frames_) return Decision::kSameChunk;
    if (gop.cut.has_value()) return *gop.cut ? Decision::kNewChunkAtCut : Decision::kSameChunk;
    if (at_end || pending_packets_ > kMaxDecoderLag) return Decision::kSameChunk;
    return Decision::kWait;
  }

  // Places waiting GOPs in order, as far as they can be decided.
  absl::Status PlaceReady(bool at_end) {
    while (!pending_.empty()) {
      PendingGop& gop = pending_.front();
      const Decision decision = Decide(gop, at_end);
      if (decision == Decision::kWait) break;
      if (decision != Decision::kSameChunk) {
        RETURN_IF_ERROR(CloseChunk());
        starts_.push_back(gop.start_pts);
        if (decision == Decision::kNewChunkAtCut) ++ended_at_cuts_;
      }
      for (v1::SourcePacket& packet : gop.packets) *current_.add_packets() = std::move(packet);
      current_frames_ += static_cast<int>(gop.packets.size());
      pending_packets_ -= static_cast<int>(gop.packets.size());
      pending_.pop_front();
    }
    return absl::OkStatus();
  }

  absl::Status CloseChunk() {
    if (current_frames_ == 0) return absl::OkStatus();
    RETURN_IF_ERROR(write_(static_cast<int>(starts_.size()) - 1, current_));
    current_.Clear();
    current_frames_ = 0;
    return absl::OkStatus();
  }

  const int chunk_frames_;
  const bool use_cuts_;
  WriteFn write_;
  bool seen_packet_ = false;
  std::deque<PendingGop> pending_;
  int pending_packets_ = 0;
  v1::ChunkPayload current_;  // the chunk being filled, starting at starts_.back()
  int current_frames_ = 0;
  std::vector<int64_t> starts_;
  int ended_at_cuts_ = 0;
};

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

  ChunkCutter cutter(options, [&](int index, v1::ChunkPayload& payload) {
    *payload.mutable_decoder() = decoder_config;
    return WritePayload(ChunkPayloadPath(chunk_dir, index), payload);
  });
  SceneCutDetector scenes(options.scene_cut_threshold);
  std::vector<DecodedFrame> decoded;
  std::vector<FramePtr> frames;

  // Decoders hand frames out in presentation order, which is the order the
  // held-drawing detector and the scene-cut detector want.
  HeldFrameOptions held_options;
  held_options.min_psnr = options.near_dedup_psnr;
  HeldFrameDetector held(held_options);
  std::map<int64_t, SeriesCacheHit> cached_by_pts;
  std::map<int64_t, PictureFeature> candidates_by_pts;
  auto collect = [&]() -> absl::Status {
    for (FramePtr& frame : frames) {
      int64_t pts = frame->best_effort_timestamp != AV_NOPTS_VALUE ? frame->best_effort_timestamp
                                                                   : frame->pts;
      DecodedFrame entry{pts, FramePixelsMd5(*frame)};
      entry.scene_cut = scenes.IsCut(*frame);
      if (options.dedup == v1::DEDUP_NEAR) {
        entry.near_anchor_pts = held.Match(*frame, pts, entry.scene_cut);
        if (entry.near_anchor_pts < 0 && held.last_kept_feature() && options.series_cache &&
            options.series_cache->enabled() &&
            InCacheWindow(double(pts) * av_q2d(plan.media.video.time_base),
                          plan.media.duration_seconds)) {
          PictureFeature feature = CacheFeature(*held.last_kept_feature());
          if (auto hit = options.series_cache->Find(options.series_key, feature)) {
            cached_by_pts.emplace(pts, *hit);
          } else {
            candidates_by_pts.emplace(pts, std::move(feature));
          }
        }
      }
      RETURN_IF_ERROR(cutter.FrameDecoded(pts, entry.scene_cut));
      decoded.push_back(std::move(entry));
    }
    frames.clear();
    return absl::OkStatus();
  };

  // Damage is named by file and place: the last timestamp that decoded.
  int64_t last_good_pts = AV_NOPTS_VALUE;
  auto damaged = [&](const absl::Status& status) {
    return absl::InvalidArgumentError(absl::StrCat(
        input_path, ": damaged video after ",
        SourceTime(plan.media, last_good_pts), ": ", status.message()));
  };
  while (true) {
    absl::StatusOr<PacketPtr> packet = reader->NextVideoPacket();
    if (!packet.ok()) return damaged(packet.status());
    if (!*packet) break;
    RETURN_IF_ERROR(cutter.AddPacket(**packet));
    if (absl::Status decoded_ok = decoder->Decode(**packet, &frames); !decoded_ok.ok()) {
      return damaged(decoded_ok);
    }
    if (!frames.empty()) last_good_pts = frames.back()->best_effort_timestamp;
    RETURN_IF_ERROR(collect());
  }
  if (absl::Status flushed = decoder->Flush(&frames); !flushed.ok()) return damaged(flushed);
  if (!frames.empty()) last_good_pts = frames.back()->best_effort_timestamp;
  RETURN_IF_ERROR(collect());
  RETURN_IF_ERROR(cutter.Finish());
  if (decoded.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(input_path, " has no decodable video frame"));
  }
  // A file cut after its index (an interrupted download, a full disk) opens
  // and reads to its end without an error: only the count tells.
  if (plan.media.declared_frames > 0 &&
      static_cast<int64_t>(decoded.size()) < plan.media.declared_frames) {
    return absl::InvalidArgumentError(absl::StrCat(
        input_path, ": damaged video: ", decoded.size(), " of the ", plan.media.declared_frames,
        " frames its index lists decode (nothing after ", SourceTime(plan.media, last_good_pts),
        ")"));
  }
  // A container without a frame index (Matroska) whose data turns to
  // garbage reads to "the end" early: its header still says how long it
  // is. Audio may outlast the video a little, so only a gap of seconds
  // counts.
  if (plan.media.duration_seconds > 0) {
    int64_t first = decoded.front().pts, last = decoded.front().pts;
    for (const DecodedFrame& frame : decoded) {
      first = std::min(first, frame.pts);
      last = std::max(last, frame.pts);
    }
    const double frame_seconds =
        plan.media.frame_rate.num > 0 ? av_q2d(av_inv_q(plan.media.frame_rate)) : 0;
    const double video_seconds =
        double(last - first) * av_q2d(plan.media.video.time_base) + frame_seconds;
    const double slack = std::max(2.0, 0.05 * plan.media.duration_seconds);
    if (video_seconds + slack < plan.media.duration_seconds) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: damaged video: the file says it lasts %.3f s but its video stops at %.3f s "
          "(remux or repair it first)",
          input_path, plan.media.duration_seconds, video_seconds));
    }
  }
  const std::vector<int64_t>& chunk_start_pts = cutter.chunk_start_pts();
  plan.chunks_ended_at_cuts = cutter.chunks_ended_at_cuts();

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
    if (decoded[i].scene_cut) plan.scene_cuts.push_back(frame.index);
    index_by_pts.emplace(frame.pts, frame.index);
    // Every frame maps onto a picture that is itself upscaled (a first
    // occurrence), never onto a frame that shows another one: an exact
    // match of a held frame, or a held match of an exact duplicate, is
    // followed to the picture at the end of it here, once.
    frame.source_index = frame.index;
    if (options.dedup != v1::DEDUP_OFF) {
      auto [it, is_new] = first_by_hash.emplace(frame.md5, frame.index);
      if (!is_new) {
        frame.source_index = plan.frames[it->second].source_index;
      } else if (auto anchor_it = index_by_pts.find(decoded[i].near_anchor_pts);
                 decoded[i].near_anchor_pts >= 0 && anchor_it != index_by_pts.end()) {
        frame.source_index = plan.frames[anchor_it->second].source_index;
      }
    }
    bool inserted = frame.source_index == frame.index;
    if (inserted) {
      if (auto hit = cached_by_pts.find(frame.pts); hit != cached_by_pts.end()) {
        plan.cached.emplace(frame.index, hit->second);
        inserted = false;  // a picture of its own, upscaled by an earlier job
      } else if (auto candidate = candidates_by_pts.find(frame.pts);
                 candidate != candidates_by_pts.end()) {
        plan.cache_candidates.emplace_back(frame.index, std::move(candidate->second));
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
  // Each payload gets its frames to upscale and, with an open GOP, the next
  // chunk's keyframe and leading pictures (open_gop.h), taken from the next
  // payload before that one is rewritten. A payload with neither is left as
  // the cutter wrote it.
  const int chunk_count = static_cast<int>(plan.chunks.size());
  std::optional<v1::ChunkPayload> next;
  for (int index = 0; index < chunk_count; ++index) {
    const std::string path = ChunkPayloadPath(chunk_dir, index);
    v1::ChunkPayload payload;
    if (next) {
      payload = *std::move(next);
    } else {
      ASSIGN_OR_RETURN(payload, ReadChunkPayload(path));
    }
    next.reset();
    bool changed = false;
    if (index + 1 < chunk_count) {
      ASSIGN_OR_RETURN(next, ReadChunkPayload(ChunkPayloadPath(chunk_dir, index + 1)));
      for (v1::SourcePacket& packet : OpenGopTail(*next)) {
        *payload.add_packets() = std::move(packet);
        changed = true;
      }
    }
    if (auto list = frame_lists.find(index); list != frame_lists.end()) {
      *payload.mutable_frames() = list->second.frames();
      changed = true;
    }
    if (changed) RETURN_IF_ERROR(WritePayload(path, payload));
  }
  for (ChunkRecord& chunk : plan.chunks) {
    if (chunk.first_frame < 0) chunk.first_frame = 0;
  }
  return plan;
}

}  // namespace anifarm
