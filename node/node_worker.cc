#include "node/node_worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <iterator>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/chunk_payload.h"
#include "common/encoded_segment.h"
#include "common/hashing.h"
#include "common/media/frame_convert.h"
#include "common/media/image_resize.h"
#include "common/media/png_codec.h"
#include "common/status_macros.h"
#include "node/bounded_queue.h"
#include "node/post_process.h"
#include "node/scale_plan.h"
#include "node/worker_threads.h"

namespace anifarm {
namespace fs = std::filesystem;

NodeWorker::NodeWorker(WorkSource* source, UpscalerEngine* engine, NodeWorkerOptions options)
    : source_(source), engine_(engine), options_(std::move(options)) {}

absl::Status NodeWorker::Register() {
  v1::RegisterNodeRequest request;
  request.set_hostname(options_.hostname);
  request.set_device(engine_->device());
  request.set_device_name(engine_->device_name());
  int64_t memory = engine_->memory_bytes();
  if (options_.max_memory_bytes > 0 && (memory == 0 || memory > options_.max_memory_bytes)) {
    memory = options_.max_memory_bytes;
  }
  request.set_memory_bytes(memory);
  for (const std::string& format : engine_->model_formats()) request.add_model_formats(format);
  for (const std::string& precision : engine_->precisions()) request.add_precisions(precision);
  for (const std::string& name : engine_->architectures()) request.add_architectures(name);
  ASSIGN_OR_RETURN(v1::RegisterNodeResponse response, source_->RegisterNode(request));
  node_id_ = response.node_id();
  return absl::OkStatus();
}

namespace {

// Where a model's files live in the node's cache: <sha>.pth for a checkpoint
// (the engine reads the format from the bytes), <sha>.param + <sha>.bin for
// ncnn. The first path is the one the engine loads.
std::vector<fs::path> CachedModelFiles(const fs::path& dir, const std::string& sha,
                                       const std::string& format) {
  if (format == "ncnn") return {dir / (sha + ".param"), dir / (sha + ".bin")};
  return {dir / (sha + ".pth")};
}


// TEST-ONLY FAULT INJECTION. Never set this in production.
//
// ANIFARM_TEST_CORRUPT_RESULTS=N makes this node corrupt the results of its
// first N completed chunks: one byte of the chunk's segment (or, when the
// coordinator encodes, of the PNG of its first frame) is flipped AFTER its
// sha256 was computed, as a truncated or damaged
// upload would arrive. The coordinator must refuse such a result (sha256
// mismatch) and requeue the chunk; tests/e2e/farm_ops_e2e_test.cc relies on
// this. Unset, empty or 0: no effect. The count is per process.
int CorruptResultsBudget() {
  static const int budget = [] {
    const char* value = std::getenv("ANIFARM_TEST_CORRUPT_RESULTS");
    return value && *value ? std::max(0, std::atoi(value)) : 0;
  }();
  return budget;
}
std::atomic<int> corrupted_results{0};

void MaybeCorruptResultForTest(v1::CompleteChunkRequest* result) {
  if (corrupted_results >= CorruptResultsBudget()) return;
  // A chunk encoded here: its segment; otherwise its first frame's PNG.
  std::string* bytes = !result->segment().empty() ? result->mutable_segment()
                       : result->frames_size() > 0 ? result->mutable_frames(0)->mutable_png()
                                                   : nullptr;
  if (!bytes || bytes->empty()) return;
  ++corrupted_results;
  (*bytes)[bytes->size() / 2] ^= 0x5a;  // after the sha256: the checksum no longer matches
  spdlog::warn("TEST HOOK ANIFARM_TEST_CORRUPT_RESULTS: corrupted the result of chunk {}",
               result->chunk_index());
}

}  // namespace

absl::StatusOr<std::string> NodeWorker::EnsureModel(const v1::ChunkLease& lease) {
  const std::string& sha = lease.model_sha256();
  const fs::path dir = fs::path(options_.cache_dir) / "models";
  const std::vector<fs::path> files = CachedModelFiles(dir, sha, lease.model_format());
  std::error_code ec;
  if (verified_models_.count(sha) && fs::exists(files[0], ec)) return files[0].string();
  const std::vector<std::string> paths(files.begin(), files.end());
  if (absl::StatusOr<std::string> on_disk = Sha256OfFiles(paths); on_disk.ok() && *on_disk == sha) {
    verified_models_.insert(sha);
    return files[0].string();
  }
  v1::FetchModelRequest request;
  request.set_sha256(sha);
  ASSIGN_OR_RETURN(v1::FetchModelResponse response, source_->FetchModel(request));
  std::string joined;
  for (const std::string& file : response.files()) joined += file;
  if (static_cast<size_t>(response.files_size()) != files.size() || Sha256Hex(joined) != sha) {
    return absl::DataLossError(
        absl::StrCat("model ", lease.model_name(), " arrived corrupted (sha256 mismatch)"));
  }
  fs::create_directories(dir, ec);
  for (size_t i = 0; i < files.size(); ++i) {
    // Written beside the final name and renamed, so a crash never leaves a
    // half-written model that looks cached.
    // The temporary name is this worker's own: workers of one process (one
    // per GPU) share the cache and may fetch the same model at once.
    const fs::path tmp = fs::path(files[i]).concat(".tmp-" + node_id_);
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out.write(response.files(i).data(), static_cast<std::streamsize>(response.files(i).size()));
      if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp.string()));
    }
    fs::rename(tmp, files[i], ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot write ", files[i].string()));
  }
  verified_models_.insert(sha);
  return files[0].string();
}

absl::StatusOr<v1::CompleteChunkRequest> NodeWorker::ProcessChunk(const v1::ChunkLease& lease,
                                                                  ChunkControl* control,
                                                                  bool* permanent) {
  *permanent = true;
  ASSIGN_OR_RETURN(std::string model_path, EnsureModel(lease));
  const v1::ProcessingSettings& settings = lease.settings();
  const v1::DecoderConfig& source = lease.payload().decoder();
  UpscaleOptions options;
  options.scale = 0;  // the engine runs single native passes; the plan chains them
  options.precision = settings.precision();
  options.tile = settings.tile();
  if (settings.tile_overlap() > 0) options.tile_overlap = settings.tile_overlap();
  ASSIGN_OR_RETURN(std::shared_ptr<Upscaler> upscaler,
                   engine_->GetUpscaler(model_path, lease.model_sha256(), options));
  ASSIGN_OR_RETURN(ScalePlan plan,
                   PlanScale(source.width(), source.height(), upscaler->native_scale(),
                             settings.scale(), settings.target_width(), settings.target_height(),
                             AVRational{source.sample_aspect_num(), source.sample_aspect_den()},
                             settings.keep_sar()));
  if (plan.tile_factor < 1.0 && options.tile > 0) {
    options.tile = std::max(32, static_cast<int>(options.tile * plan.tile_factor));
    ASSIGN_OR_RETURN(upscaler, engine_->GetUpscaler(model_path, lease.model_sha256(), options));
  }
  PostProcessOptions post;
  post.sharpen = settings.sharpen();
  if (settings.has_contrast()) post.contrast = settings.contrast();
  if (settings.has_saturation()) post.saturation = settings.saturation();
  RETURN_IF_ERROR(ValidatePostProcess(post));
  // One source frame through the scale plan and post-processing.
  auto upscale = [&](RgbImage upscaled) -> absl::StatusOr<RgbImage> {
    // The network sees RGB; the alpha plane is resized to the result last
    // (the guide's order: ... saturation -> alpha restore).
    const std::vector<uint8_t> alpha = std::move(upscaled.alpha);
    upscaled.alpha.clear();
    const int source_width = upscaled.width, source_height = upscaled.height;
    // Post-processing comes after the last pass and the final resize. When
    // no resize follows and the engine can, it runs on the device within the
    // last pass (same bytes); otherwise the host reference does it below.
    bool post_done = post.IsIdentity();
    for (int pass = 0; pass < plan.passes; ++pass) {
      if (control->Interrupted()) return absl::CancelledError("interrupted");
      const int s = upscaler->native_scale();
      if (!post_done && pass + 1 == plan.passes && upscaler->post_processes_on_device() &&
          upscaled.width * s == plan.output_width && upscaled.height * s == plan.output_height) {
        ASSIGN_OR_RETURN(upscaled, upscaler->UpscaleAndPostProcess(upscaled, post));
        post_done = true;
      } else {
        ASSIGN_OR_RETURN(upscaled, upscaler->Upscale(upscaled));
      }
    }
    // Only when the plan ends in a resize: ResizeRgb to the same size is a
    // copy, 25 MB a frame at 4K.
    if (upscaled.width != plan.output_width || upscaled.height != plan.output_height) {
      ASSIGN_OR_RETURN(upscaled, ResizeRgb(upscaled, plan.output_width, plan.output_height));
    }
    if (!post_done) RETURN_IF_ERROR(ApplyPostProcess(post, upscaled));
    if (!alpha.empty()) {
      ASSIGN_OR_RETURN(upscaled.alpha, ResizePlane(alpha, source_width, source_height,
                                                   upscaled.width, upscaled.height));
    }
    return upscaled;
  };
  *permanent = false;
  ASSIGN_OR_RETURN(v1::CompleteChunkRequest result,
                   RunPipeline(lease, plan.output_width, plan.output_height, upscale,
                               upscaler->frames_in_flight(), control, permanent));
  result.set_model_architecture(upscaler->architecture());
  return result;
}

namespace {

// What becomes of one frame of a chunk.
struct FrameTask {
  int64_t frame_index = 0;
  int64_t source_index = 0;  // the frame whose picture it shows
  int64_t output_pts = 0;    // segments only
  bool png = false;          // returned as PNG too
  // A first occurrence this node upscales (not one an earlier job did:
  // those prefilled pictures are fetched like other chunks').
  bool upscale = false;
};

// Decode stage -> upscale stage: the frame, and its RGB picture when it is
// a first occurrence (duplicates need no conversion).
struct DecodedFrame {
  FrameTask task;
  RgbImage rgb;
};

// Upscale stage -> encode stage.
struct UpscaledPicture {
  FrameTask task;
  std::shared_ptr<const RgbImage> picture;
};

// The first error of the pipeline's stages; the others stop when it is set.
class FirstError {
 public:
  void Set(absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    if (status_.ok()) status_ = std::move(status);
  }
  absl::Status Get() {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }

 private:
  std::mutex mu_;
  absl::Status status_;
};

// Busy time of one stage (waiting on a queue excluded), for the stage rates.
class StageClock {
 public:
  template <typename Work>
  auto Time(Work&& work) {
    const auto start = std::chrono::steady_clock::now();
    auto result = work();
    busy_ += std::chrono::steady_clock::now() - start;
    return result;
  }
  void Add(std::chrono::steady_clock::duration busy) { busy_ += busy; }
  double seconds() const { return std::chrono::duration<double>(busy_).count(); }

 private:
  std::chrono::steady_clock::duration busy_{};
};

double Rate(int64_t frames, double seconds) { return seconds > 0 ? frames / seconds : 0.0; }

}  // namespace

// Three stages with small bounded queues between them, so that decoding
// and encoding (CPU) overlap the upscale (the GPU) and the node runs at the
// speed of its slowest stage:
//   decode thread:  packets -> frames of the chunk -> RGB (first occurrences)
//   this thread:    upscale (itself, or on frames_in_flight worker threads,
//                   taking their results in frame order), or the picture of
//                   an earlier frame (kept until its last use) or of an
//                   earlier chunk (FetchFrames)
//   encode thread:  PNG + sha256 of the frames to return, and the segment
absl::StatusOr<v1::CompleteChunkRequest> NodeWorker::RunPipeline(
    const v1::ChunkLease& lease, int width, int height,
    const std::function<absl::StatusOr<RgbImage>(RgbImage)>& upscale, int frames_in_flight,
    ChunkControl* control, bool* permanent) {
  v1::CompleteChunkRequest result;
  result.set_node_id(node_id_);
  result.set_job_id(lease.job_id());
  result.set_chunk_index(lease.chunk_index());
  result.set_attempt(lease.attempt());

  // Every frame the chunk must deliver, by source pts.
  std::map<int64_t, FrameTask> by_pts;
  std::map<int64_t, int> uses;  // picture -> frames of this chunk still to show it
  std::set<int64_t> local;
  const bool segment = lease.has_segment();
  if (segment) {
    const std::set<int64_t> shared(lease.segment().shared_frames().begin(),
                                   lease.segment().shared_frames().end());
    for (const v1::ChunkFrame& frame : lease.segment().frames()) {
      FrameTask task;
      task.frame_index = frame.frame_index();
      task.source_index = frame.source_index();
      task.output_pts = frame.output_pts();
      task.upscale = task.source_index == task.frame_index && !frame.prefilled();
      task.png = task.upscale && shared.count(task.frame_index);
      by_pts[frame.pts()] = task;
      ++uses[task.source_index];
      if (!frame.prefilled()) local.insert(task.frame_index);
    }
  } else {
    for (const v1::FrameToUpscale& frame : lease.payload().frames()) {
      FrameTask task;
      task.frame_index = task.source_index = frame.frame_index();
      task.png = true;
      task.upscale = true;
      by_pts[frame.pts()] = task;
      ++uses[task.source_index];
      local.insert(task.frame_index);
    }
  }
  const int64_t total = static_cast<int64_t>(by_pts.size());

  // Pictures of earlier chunks that frames of this one show: fetched from
  // the coordinator (it leased this chunk only once they were done).
  std::vector<int64_t> external;
  for (const auto& [picture, count] : uses) {
    if (!local.count(picture)) external.push_back(picture);
  }
  std::map<int64_t, std::string> fetched;  // frame index -> PNG
  for (size_t i = 0; i < external.size(); i += kFramesPerFetch) {
    v1::FetchFramesRequest request;
    request.set_node_id(node_id_);
    request.set_job_id(lease.job_id());
    for (size_t k = i; k < std::min(external.size(), i + kFramesPerFetch); ++k) {
      request.add_frame_indices(external[k]);
    }
    ASSIGN_OR_RETURN(v1::FetchFramesResponse response, source_->FetchFrames(request));
    for (v1::UpscaledFrame& frame : *response.mutable_frames()) {
      if (Sha256Hex(frame.png()) != frame.sha256()) {
        return absl::DataLossError(absl::StrCat("upscaled frame ", frame.frame_index(),
                                                " arrived corrupted (sha256 mismatch)"));
      }
      fetched[frame.frame_index()] = std::move(*frame.mutable_png());
    }
  }

  std::unique_ptr<SegmentEncoder> encoder;
  if (segment) {
    *permanent = true;  // the job's settings, not this node, decide whether it can encode
    ASSIGN_OR_RETURN(encoder, SegmentEncoder::Create(EncodeSettingsOf(lease.settings()),
                                                     lease.segment(), width, height));
    *permanent = false;
  }

  BoundedQueue<DecodedFrame> decoded(kQueueFrames);
  BoundedQueue<UpscaledPicture> upscaled(kQueueFrames);
  FirstError error;
  auto fail = [&](absl::Status status) {
    error.Set(std::move(status));
    decoded.Cancel();
    upscaled.Cancel();
  };
  StageClock decode_clock, upscale_clock, encode_clock;
  std::atomic<int64_t> missing{0};
  std::atomic<int64_t> first_missing_pts{0};

  std::thread decode_thread([&] {
    std::set<int64_t> seen;
    absl::Status status = DecodeChunk(lease.payload(), [&](const AVFrame& frame, int64_t pts) {
      if (control->Interrupted()) {
        return absl::CancelledError(*control->stop ? "node stopping" : "lease lost");
      }
      auto it = by_pts.find(pts);
      if (it == by_pts.end() || !seen.insert(pts).second) return absl::OkStatus();
      DecodedFrame item;
      item.task = it->second;
      if (item.task.upscale) {
        ASSIGN_OR_RETURN(item.rgb, decode_clock.Time([&] { return FrameToRgb(frame); }));
      }
      if (!decoded.Push(std::move(item))) return absl::CancelledError("pipeline stopped");
      return absl::OkStatus();
    });
    if (!status.ok()) return fail(status);
    for (const auto& [pts, task] : by_pts) {
      if (!seen.count(pts)) {
        if (missing++ == 0) first_missing_pts = pts;
      }
    }
    decoded.Close();
  });

  std::thread encode_thread([&] {
    while (std::optional<UpscaledPicture> item = upscaled.Pop()) {
      absl::Status status = encode_clock.Time([&]() -> absl::Status {
        if (item->task.png) {
          ASSIGN_OR_RETURN(std::string png, EncodePng(*item->picture));
          v1::UpscaledFrame* out = result.add_frames();
          out->set_frame_index(item->task.frame_index);
          out->set_sha256(Sha256Hex(png));
          out->set_png(std::move(png));
        }
        if (encoder) RETURN_IF_ERROR(encoder->Add(*item->picture, item->task.output_pts));
        return absl::OkStatus();
      });
      if (!status.ok()) return fail(status);
    }
  });

  // The upscale stage: this thread takes the decoded frames in order and
  // hands the pictures on in order. With one frame in flight it upscales
  // them itself; with more, `workers` upscale first occurrences side by side
  // (on a GPU one frame's copies overlap another's kernels) and this thread
  // waits for them in frame order. Duplicates and fetched pictures resolve
  // here, behind the frames they show.
  std::optional<WorkerThreads> workers;
  if (frames_in_flight > 1) workers.emplace(frames_in_flight);
  struct InFlight {
    DecodedFrame frame;
    std::future<absl::StatusOr<RgbImage>> upscaled;  // valid while a worker has it
  };
  std::deque<InFlight> in_flight;
  int upscales_in_flight = 0;
  std::map<int64_t, std::shared_ptr<const RgbImage>> pictures;
  int64_t upscaled_frames = 0;
  // The front frame's picture, passed on to the encode stage.
  auto resolve_front = [&]() -> absl::Status {
    InFlight front = std::move(in_flight.front());
    in_flight.pop_front();
    const FrameTask& task = front.frame.task;
    std::optional<UpscaledPicture> ready;
    RETURN_IF_ERROR(upscale_clock.Time([&]() -> absl::Status {
      std::shared_ptr<const RgbImage>& picture = pictures[task.source_index];
      if (!picture) {
        if (task.upscale) {
          absl::StatusOr<RgbImage> image;
          if (front.upscaled.valid()) {
            --upscales_in_flight;
            image = front.upscaled.get();
          } else {
            image = upscale(std::move(front.frame.rgb));
          }
          RETURN_IF_ERROR(image.status());
          picture = std::make_shared<const RgbImage>(*std::move(image));
          ++upscaled_frames;
        } else if (auto png = fetched.find(task.source_index); png != fetched.end()) {
          ASSIGN_OR_RETURN(RgbImage image, DecodePng(png->second));
          picture = std::make_shared<const RgbImage>(std::move(image));
        } else {
          return absl::InternalError(absl::StrCat("frame ", task.frame_index, " shows frame ",
                                                  task.source_index, ", which is neither in chunk ",
                                                  lease.chunk_index(), " before it nor fetched"));
        }
        if (picture->width != width || picture->height != height) {
          return absl::InternalError(absl::StrCat("picture of frame ", task.source_index, " is ",
                                                  picture->width, "x", picture->height,
                                                  ", expected ", width, "x", height));
        }
      }
      ready = UpscaledPicture{task, picture};
      if (--uses[task.source_index] == 0) pictures.erase(task.source_index);
      return absl::OkStatus();
    }));
    // Outside the clock: a full queue is the encoder's slowness, not this
    // stage's (on a GPU the upscale stage otherwise reads as slow as encode).
    if (!upscaled.Push(std::move(*ready))) return absl::CancelledError("pipeline stopped");
    ++control->frames_done;
    return absl::OkStatus();
  };
  absl::Status stage_status;
  while (stage_status.ok()) {
    // Waiting for input while workers upscale is the device's busy time.
    const auto wait_start = std::chrono::steady_clock::now();
    std::optional<DecodedFrame> item = decoded.Pop();
    if (upscales_in_flight > 0) upscale_clock.Add(std::chrono::steady_clock::now() - wait_start);
    if (!item) break;
    InFlight entry{std::move(*item), {}};
    if (workers && entry.frame.task.upscale) {
      entry.upscaled = workers->Submit(
          [&upscale, rgb = std::move(entry.frame.rgb)]() mutable { return upscale(std::move(rgb)); });
      ++upscales_in_flight;
    }
    in_flight.push_back(std::move(entry));
    // The front goes on once it is not an upscale still running, or once
    // more frames are in flight than the engine asked for.
    while (stage_status.ok() && !in_flight.empty() &&
           (!in_flight.front().upscaled.valid() || upscales_in_flight > frames_in_flight)) {
      stage_status = resolve_front();
    }
  }
  while (stage_status.ok() && !in_flight.empty()) stage_status = resolve_front();
  if (!stage_status.ok()) fail(stage_status);
  workers.reset();  // unstarted upscales are dropped, running ones finish
  upscaled.Close();
  decode_thread.join();
  encode_thread.join();
  RETURN_IF_ERROR(error.Get());
  if (missing > 0) {
    *permanent = true;
    return absl::DataLossError(absl::StrCat("chunk ", lease.chunk_index(), " decoded without ",
                                            missing.load(), " of its frames (first pts ",
                                            first_missing_pts.load(), ")"));
  }
  if (encoder) {
    ASSIGN_OR_RETURN(v1::EncodedSegment encoded,
                     encode_clock.Time([&] { return encoder->Finish(); }));
    result.set_segment(encoded.SerializeAsString());
    result.set_segment_sha256(Sha256Hex(result.segment()));
  }
  spdlog::info(
      "job {} chunk {}: {} frames ({} upscaled, {} at a time); stage rates: decode {:.1f} fps, "
      "upscale {:.1f} fps, {} {:.1f} fps",
      lease.job_id(), lease.chunk_index(), total, upscaled_frames, std::max(1, frames_in_flight),
      Rate(total, decode_clock.seconds()), Rate(upscaled_frames, upscale_clock.seconds()),
      segment ? "encode" : "png", Rate(total, encode_clock.seconds()));
  return result;
}

void NodeWorker::ReportMemory(v1::DeviceMemory* memory) const {
  const DeviceMemoryUsage usage = engine_->memory_usage();
  memory->set_in_use_bytes(usage.in_use_bytes);
  memory->set_free_bytes(usage.free_bytes);
  memory->set_total_bytes(usage.total_bytes);
  memory->set_allocated_bytes(usage.allocated_bytes);
  memory->set_reserved_bytes(usage.reserved_bytes);
  memory->set_model_cache_bytes(usage.model_cache.bytes);
  memory->set_model_cache_budget_bytes(usage.model_cache.budget_bytes);
  memory->set_models_cached(usage.model_cache.models);
}

absl::StatusOr<bool> NodeWorker::RunOnce(const std::atomic<bool>& stop) {
  v1::LeaseChunkRequest lease_request;
  lease_request.set_node_id(node_id_);
  ReportMemory(lease_request.mutable_memory());
  ASSIGN_OR_RETURN(v1::LeaseChunkResponse lease, source_->LeaseChunk(lease_request));
  if (!lease.has_chunk()) return false;
  const v1::ChunkLease& chunk = lease.lease();
  bool permanent = false;
  const auto started = std::chrono::steady_clock::now();
  ChunkControl control;
  control.stop = &stop;
  std::atomic<bool> done{false};
  std::thread heartbeat([&] { SendHeartbeats(chunk, &control, done); });
  absl::StatusOr<v1::CompleteChunkRequest> result = ProcessChunk(chunk, &control, &permanent);
  done = true;
  heartbeat.join();
  if (control.lease_lost) {
    // Someone else owns the chunk now; our result would be refused anyway.
    spdlog::warn("job {} chunk {}: lease lost, chunk abandoned", chunk.job_id(),
                 chunk.chunk_index());
    return true;
  }
  if (result.ok()) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    spdlog::info("job {} chunk {}: done in {:.2f} s", chunk.job_id(), chunk.chunk_index(),
                 seconds);
    result->set_busy_ms(static_cast<int64_t>(seconds * 1000));
    MaybeCorruptResultForTest(&*result);  // test-only hook, see above
    RETURN_IF_ERROR(source_->CompleteChunk(*result));
    return true;
  }
  if (stop && !options_.report_stopped_chunks) {
    spdlog::info("job {} chunk {}: stopped, left to the next start", chunk.job_id(),
                 chunk.chunk_index());
    return true;
  }
  spdlog::error("job {} chunk {} failed: {}", chunk.job_id(), chunk.chunk_index(),
                std::string(result.status().message()));
  v1::FailChunkRequest failure;
  failure.set_node_id(node_id_);
  failure.set_job_id(chunk.job_id());
  failure.set_chunk_index(chunk.chunk_index());
  failure.set_attempt(chunk.attempt());
  failure.set_error(std::string(result.status().message()));
  failure.set_permanent(permanent);
  RETURN_IF_ERROR(source_->FailChunk(failure));
  return true;
}

void NodeWorker::SendHeartbeats(const v1::ChunkLease& lease, ChunkControl* control,
                                const std::atomic<bool>& done) {
  const auto interval = std::chrono::seconds(std::max(1, lease.heartbeat_interval_seconds()));
  auto next = std::chrono::steady_clock::now() + interval;
  while (!done) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (std::chrono::steady_clock::now() < next) continue;
    next += interval;
    v1::HeartbeatRequest request;
    request.set_node_id(node_id_);
    request.set_job_id(lease.job_id());
    request.set_chunk_index(lease.chunk_index());
    request.set_attempt(lease.attempt());
    request.set_frames_done(control->frames_done);
    ReportMemory(request.mutable_memory());
    absl::StatusOr<v1::HeartbeatResponse> response = source_->Heartbeat(request);
    // An unreachable coordinator is not a lost lease: keep working and let
    // the deadline decide.
    if (response.ok() && !response->keep_working()) control->lease_lost = true;
  }
}

absl::Status NodeWorker::Run(const std::atomic<bool>& stop) {
  using std::chrono::milliseconds;
  int backoff_ms = options_.idle_poll_ms;
  std::string last_error;
  auto pause = [&](int ms) {
    for (int waited = 0; waited < ms && !stop; waited += 50) {
      std::this_thread::sleep_for(milliseconds(50));
    }
  };
  auto report = [&](const absl::Status& status) {
    std::string message(status.message());
    if (message != last_error) spdlog::warn("{}", message);
    last_error = message;
    backoff_ms = std::min(backoff_ms * 2, 5000);
    pause(backoff_ms);
  };
  auto refused = [](const absl::Status& status) {
    return status.code() == absl::StatusCode::kUnauthenticated ||
           status.code() == absl::StatusCode::kPermissionDenied;
  };
  while (!stop && node_id_.empty()) {
    absl::Status status = Register();
    if (refused(status)) return status;
    if (!status.ok()) report(status);
  }
  if (!node_id_.empty()) {
    // The precisions tell a CPU user whether --precision bf16 is native here
    // (2-4x faster than fp32; docs/models.md) or would run as fp32.
    spdlog::info("registered as {} on {} (precisions: {})", node_id_, engine_->device_name(),
                 absl::StrJoin(engine_->precisions(), ", "));
  }
  while (!stop) {
    absl::StatusOr<bool> worked = RunOnce(stop);
    if (!worked.ok()) {
      if (refused(worked.status())) return worked.status();
      report(worked.status());
      continue;
    }
    last_error.clear();
    backoff_ms = options_.idle_poll_ms;
    if (!*worked) pause(options_.idle_poll_ms);
  }
  return absl::OkStatus();
}

}  // namespace anifarm
