#include "coordinator/coordinator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/chunk_payload.h"
#include "common/encoded_segment.h"
#include "common/file_util.h"
#include "common/hashing.h"
#include "common/media/encode_settings.h"
#include "common/media/media_info.h"
#include "common/media/png_codec.h"
#include "common/model_catalog.h"
#include "common/status_macros.h"
#include "coordinator/assembler.h"
#include "coordinator/source_prepass.h"
#include "coordinator/planner.h"
#include "coordinator/settings.h"
#include "coordinator/transfers.h"

namespace anifarm {
namespace fs = std::filesystem;

namespace {

bool IsFinished(v1::JobState state) {
  return state == v1::JOB_DONE || state == v1::JOB_FAILED || state == v1::JOB_CANCELLED;
}

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

std::string RandomId(const char* prefix) {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard<std::mutex> lock(mu);
  return absl::StrFormat("%s%012x", prefix, rng() & 0xffffffffffffULL);
}

// What a node needs to run a model: its weights twice (the file's copy and
// the loaded one, or fp32 and a half-precision copy) plus a working set for
// the activations of one tile and the runtime. Deliberately simple and
// conservative; nodes advertise their memory and `--max-memory` caps it.
int64_t EstimateModelMemory(const ModelFile& model) {
  constexpr int64_t kWorkingSet = 256LL << 20;
  int64_t weights = 0;
  std::error_code ec;
  for (const std::string& file : ModelFilePaths(model)) {
    weights += static_cast<int64_t>(fs::file_size(file, ec));
  }
  return 2 * weights + kWorkingSet;
}

// The farm-wide identity of a model: sha256 over its files, in order.
absl::StatusOr<std::string> ModelSha256(const ModelFile& model) {
  return Sha256OfFiles(ModelFilePaths(model));
}

absl::Status CheckOutputPath(const std::string& output_path) {
  fs::path path(output_path);
  const std::string ext = path.extension().string();
  if (ext != ".mp4" && ext != ".mkv" && ext != ".mov" && !IsImageOutputPath(output_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "output ", output_path,
        ": unsupported container (use .mp4, .mkv or .mov; .png, .jpg or .webp for an image)"));
  }
  std::error_code ec;
  fs::path parent = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  if (!fs::is_directory(parent, ec)) {
    return absl::NotFoundError(
        absl::StrCat("output ", output_path, ": folder ", parent.string(), " does not exist"));
  }
  return absl::OkStatus();
}

}  // namespace

v1::JobStatus ToJobStatus(const JobRecord& job) {
  v1::JobStatus status;
  status.set_job_id(job.id);
  status.set_state(job.state);
  status.set_input_path(job.input_path);
  status.set_output_path(job.output_path);
  *status.mutable_settings() = job.settings;
  status.set_total_frames(job.total_frames);
  status.set_unique_frames(job.unique_frames);
  status.set_frames_upscaled(job.frames_upscaled);
  status.set_frames_reused(job.frames_reused);
  status.set_chunks_total(job.chunks_total);
  status.set_chunks_done(job.chunks_done);
  status.set_chunks_running(job.chunks_running);
  status.set_error(job.error);
  status.set_created_at(job.created_at);
  status.set_finished_at(job.finished_at);
  status.set_output_width(job.output_width);
  status.set_output_height(job.output_height);
  status.set_owner(job.owner);
  status.set_model_architecture(job.architecture);
  return status;
}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Start(
    const CoordinatorOptions& options) {
  std::error_code ec;
  fs::create_directories(fs::path(options.state_dir) / "jobs", ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("--state-dir ", options.state_dir, ": ", ec.message()));
  }
  std::vector<std::string> roots = options.roots;
  for (const char* own : {"uploads", "outputs"}) {
    fs::create_directories(fs::path(options.state_dir) / own, ec);
    if (!roots.empty()) roots.push_back((fs::path(options.state_dir) / own).string());
  }
  ASSIGN_OR_RETURN(PathPolicy paths, PathPolicy::WithRoots(roots));
  ASSIGN_OR_RETURN(std::unique_ptr<JobStore> store,
                   JobStore::Open((fs::path(options.state_dir) / "anifarm.db").string()));
  // Nodes keep working while the coordinator restarts: their leases get a
  // grace period of one lease timeout to reconnect and heartbeat or
  // complete; only chunks whose node does not come back are redone.
  if (options.in_process_nodes_only) {
    RETURN_IF_ERROR(store->ForgetNodesAlive());
    RETURN_IF_ERROR(store->RequeueExpiredLeases(-1).status());
  } else {
    RETURN_IF_ERROR(store->ExtendLeasesUntil(Now() + options.lease_seconds));
  }
  store->set_blocklist_after(options.node_failures_before_blocklist);
  std::unique_ptr<Coordinator> coordinator(new Coordinator(options, std::move(store)));
  coordinator->paths_ = std::move(paths);
  ASSIGN_OR_RETURN(coordinator->series_cache_,
                   SeriesCache::Open((fs::path(options.state_dir) / "series-cache").string(),
                                     options.series_cache_bytes));
  ASSIGN_OR_RETURN(std::vector<JobRecord> jobs, coordinator->store_->ListJobs());
  for (const JobRecord& job : jobs) coordinator->RememberModel(job.model_sha256, job.model_path);
  coordinator->runner_ = std::thread([c = coordinator.get()] { c->RunLoop(); });
  return coordinator;
}

namespace {

StallPolicy StallPolicyOf(const CoordinatorOptions& options) {
  StallPolicy policy;
  policy.live_seconds = options.lease_seconds;
  policy.grace_seconds = options.stall_grace_seconds > 0 ? options.stall_grace_seconds
                                                         : 2 * int64_t{options.lease_seconds};
  policy.chunk_failure_nodes = options.chunk_failure_nodes;
  return policy;
}

}  // namespace

Coordinator::Coordinator(const CoordinatorOptions& options, std::unique_ptr<JobStore> store)
    : options_(options), store_(std::move(store)), stall_check_(StallPolicyOf(options)) {}

Coordinator::~Coordinator() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (runner_.joinable()) runner_.join();
}

std::shared_ptr<const SeriesCacheUse> Coordinator::CacheUseOf(const std::string& job_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = cache_uses_.find(job_id); it != cache_uses_.end()) return it->second;
  }
  absl::StatusOr<SeriesCacheUse> use = ReadSeriesCacheUse(JobDir(job_id) + "/series_cache.bin");
  if (!use.ok()) {
    spdlog::warn("job {}: {}; its pictures are upscaled, not taken from the cache", job_id,
                 std::string(use.status().message()));
    use = SeriesCacheUse();
  }
  std::lock_guard<std::mutex> lock(mu_);
  return cache_uses_
      .emplace(job_id, std::make_shared<const SeriesCacheUse>(*std::move(use)))
      .first->second;
}

std::string Coordinator::JobDir(const std::string& job_id) const {
  return (fs::path(options_.state_dir) / "jobs" / job_id).string();
}

void Coordinator::RememberModel(const std::string& sha256, const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  model_paths_[sha256] = path;
}

void Coordinator::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    work_pending_ = true;
  }
  wake_.notify_all();
}

absl::StatusOr<std::string> Coordinator::SubmitJob(const v1::SubmitJobRequest& request,
                                                   const std::string& owner,
                                                   const std::string& resume_key) {
  JobRecord job;
  job.owner = owner;
  job.resume_key = resume_key;
  job.id = RandomId("job-");
  job.settings = request.settings();
  RETURN_IF_ERROR(NormalizeSettings(&job.settings));
  if (request.input_path().empty()) return absl::InvalidArgumentError("no input file given");
  std::string output_path = request.output_path();
  if (output_path.empty() && !request.output_name().empty()) {
    // Kept by the coordinator for DownloadOutput.
    RETURN_IF_ERROR(CheckPlainFileName(request.output_name()));
    const fs::path folder = fs::path(options_.state_dir) / "outputs" / job.id;
    std::error_code ec;
    fs::create_directories(folder, ec);
    output_path = (folder / request.output_name()).string();
  }
  if (output_path.empty()) return absl::InvalidArgumentError("no output file given (-o)");
  ASSIGN_OR_RETURN(std::vector<JobRecord> existing, store_->ListJobs());
  int active = 0;
  for (const JobRecord& other : existing) {
    if (other.owner == owner && !IsFinished(other.state)) ++active;
  }
  RETURN_IF_ERROR(CheckActiveJobs(options_.limits, owner, active));
  // Confinement first: a path outside the roots is refused before the
  // coordinator even looks at it (its existence is not disclosed).
  RETURN_IF_ERROR(paths_.Check(request.input_path()));
  RETURN_IF_ERROR(paths_.Check(output_path));
  if (!job.settings.frame_map_path().empty()) {
    RETURN_IF_ERROR(paths_.Check(job.settings.frame_map_path()));
  }
  ASSIGN_OR_RETURN(MediaInfo media, ProbeMedia(request.input_path()));
  RETURN_IF_ERROR(CheckOutputPath(output_path));
  // Limits before anything is decoded: a huge frame or frame count is
  // refused from the headers alone.
  RETURN_IF_ERROR(CheckFrameSize(options_.limits, "input", media.video.width,
                                 media.video.height));
  const auto [output_width, output_height] = OutputSizeOf(job.settings, media);
  RETURN_IF_ERROR(CheckFrameSize(options_.limits, "output", output_width, output_height));
  RETURN_IF_ERROR(CheckFrameCount(options_.limits, media));
  ASSIGN_OR_RETURN(ModelFile model, ResolveModel(job.settings.model(), options_.models_dir));
  ASSIGN_OR_RETURN(job.model_sha256, ModelSha256(model));
  job.memory_bytes = EstimateModelMemory(model);
  std::vector<std::string> notices;  // audio transcoded, streams dropped: known now
  RETURN_IF_ERROR(CheckOutputSettings(job.settings, output_path, &media, &notices));
  job.state = v1::JOB_PLANNING;
  job.input_path = request.input_path();
  job.output_path = output_path;
  job.model_path = model.path;
  job.model_format = model.format;
  job.created_at = Now();
  // Nothing fails late: when nodes are alive and none of them could ever
  // take the job, it fails now (with no live node it waits: they may be
  // starting). The architecture is learned later, from the first node that
  // loads the model; the runner's StallCheck covers it then.
  ASSIGN_OR_RETURN(std::vector<NodeFit> fits,
                   store_->NodeFits(job, job.created_at - options_.lease_seconds));
  const std::string nobody = NoLiveNodeFits(fits, job);
  if (!nobody.empty()) job.state = v1::JOB_FAILED;  // never PLANNING: the runner ignores it
  RememberModel(job.model_sha256, job.model_path);
  RETURN_IF_ERROR(store_->CreateJob(job));
  if (!nobody.empty()) {
    const std::string line = absl::StrCat("no live node can take this job: ", nobody);
    RETURN_IF_ERROR(store_->SetJobState(job.id, v1::JOB_FAILED, line));
    spdlog::warn("job {} failed: {}", job.id, line);
    return job.id;
  }
  for (const std::string& notice : notices) spdlog::warn("notice: {}: {}", job.id, notice);
  Wake();
  return job.id;
}

std::string Coordinator::uploads_dir() const {
  return (fs::path(options_.state_dir) / "uploads").string();
}

absl::StatusOr<std::string> Coordinator::OutputFile(const std::string& job_id) {
  ASSIGN_OR_RETURN(JobRecord job, store_->GetJob(job_id));
  if (job.state != v1::JOB_DONE) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " is ", v1::JobState_Name(job.state), ", not done"));
  }
  std::error_code ec;
  if (!fs::is_regular_file(job.output_path, ec)) {
    return absl::NotFoundError(absl::StrCat("the output of job ", job_id, " (", job.output_path,
                                            ") is no longer there"));
  }
  return job.output_path;
}

v1::JobStatus Coordinator::StatusOf(const JobRecord& job) const {
  v1::JobStatus status = ToJobStatus(job);
  const bool finished = job.state == v1::JOB_DONE || job.state == v1::JOB_FAILED ||
                        job.state == v1::JOB_CANCELLED;
  std::error_code ec;
  if (finished && fs::exists(JobDir(job.id) + "/frames", ec)) {
    status.set_intermediates_path(JobDir(job.id));
  }
  return status;
}

absl::StatusOr<v1::JobStatus> Coordinator::GetJob(const std::string& job_id) {
  ASSIGN_OR_RETURN(JobRecord job, store_->GetJob(job_id));
  return StatusOf(job);
}

absl::StatusOr<std::vector<v1::JobStatus>> Coordinator::ListJobs() {
  ASSIGN_OR_RETURN(std::vector<JobRecord> jobs, store_->ListJobs());
  std::vector<v1::JobStatus> result;
  for (const JobRecord& job : jobs) result.push_back(StatusOf(job));
  return result;
}

absl::StatusOr<v1::JobState> Coordinator::CancelJob(const std::string& job_id) {
  ASSIGN_OR_RETURN(JobRecord job, store_->GetJob(job_id));
  if (job.state == v1::JOB_DONE || job.state == v1::JOB_FAILED ||
      job.state == v1::JOB_CANCELLED) {
    return job.state;
  }
  RETURN_IF_ERROR(store_->SetJobState(job_id, v1::JOB_CANCELLED, "cancelled by user"));
  return v1::JOB_CANCELLED;
}

absl::Status Coordinator::DiscardJob(const std::string& job_id, const std::string& reason) {
  ASSIGN_OR_RETURN(JobRecord job, store_->GetJob(job_id));
  if (!IsFinished(job.state)) {
    RETURN_IF_ERROR(store_->SetJobState(job_id, v1::JOB_CANCELLED, reason));
  }
  std::error_code ec;
  fs::remove_all(JobDir(job_id), ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot delete ", JobDir(job_id), ": ", ec.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::JobState> Coordinator::PauseJob(const std::string& job_id) {
  ASSIGN_OR_RETURN(bool paused, store_->TransitionJob(job_id, v1::JOB_RUNNING, v1::JOB_PAUSED));
  ASSIGN_OR_RETURN(JobRecord job, store_->GetJob(job_id));
  if (!paused && job.state != v1::JOB_PAUSED) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " is not running (", v1::JobState_Name(job.state), ")"));
  }
  return job.state;
}

absl::StatusOr<v1::JobState> Coordinator::ResumeJob(const std::string& job_id) {
  ASSIGN_OR_RETURN(bool resumed, store_->TransitionJob(job_id, v1::JOB_PAUSED, v1::JOB_RUNNING));
  ASSIGN_OR_RETURN(JobRecord job, store_->GetJob(job_id));
  if (!resumed && job.state != v1::JOB_RUNNING) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " is not paused (", v1::JobState_Name(job.state), ")"));
  }
  Wake();
  return job.state;
}

absl::StatusOr<v1::JobState> Coordinator::RetryJob(const std::string& job_id) {
  ASSIGN_OR_RETURN(v1::JobState state, store_->RetryJob(job_id));
  Wake();
  return state;
}

absl::StatusOr<std::vector<v1::ChunkInfo>> Coordinator::ListChunks(const std::string& job_id) {
  ASSIGN_OR_RETURN(std::vector<ChunkRecord> chunks, store_->Chunks(job_id));
  ASSIGN_OR_RETURN(auto failures, store_->ChunkFailures(job_id));
  std::vector<v1::ChunkInfo> result;
  for (const ChunkRecord& chunk : chunks) {
    v1::ChunkInfo info;
    info.set_chunk_index(chunk.index);
    info.set_state(chunk.state == ChunkState::kQueued   ? v1::CHUNK_QUEUED
                   : chunk.state == ChunkState::kLeased ? v1::CHUNK_LEASED
                                                        : v1::CHUNK_DONE);
    info.set_first_frame(chunk.first_frame);
    info.set_frame_count(static_cast<int32_t>(chunk.frame_count));
    info.set_unique_count(static_cast<int32_t>(chunk.unique_count));
    info.set_attempt(chunk.attempt);
    info.set_node_id(chunk.node_id);
    if (auto it = failures.find(chunk.index); it != failures.end()) {
      info.set_failures(it->second.first);
      info.set_last_error(it->second.second);
    }
    result.push_back(std::move(info));
  }
  return result;
}

absl::StatusOr<std::vector<v1::NodeInfo>> Coordinator::ListNodes() { return store_->ListNodes(); }

absl::StatusOr<v1::SeriesCacheInfo> Coordinator::SeriesCacheInfo(bool clear) {
  if (clear) RETURN_IF_ERROR(series_cache_->Clear());
  ASSIGN_OR_RETURN(SeriesCacheStats stats, series_cache_->Stats());
  v1::SeriesCacheInfo info;
  info.set_entries(stats.entries);
  info.set_bytes(stats.bytes);
  info.set_budget_bytes(stats.budget_bytes);
  info.set_hits(stats.hits);
  return info;
}

absl::StatusOr<std::string> Coordinator::Preview(const std::string& job_id, bool before) {
  ASSIGN_OR_RETURN(JobRecord job, store_->GetJob(job_id));
  // The latest result: an upscaled frame (PNG), or the first picture of the
  // latest segment when nodes encode; whichever shows the later frame.
  auto latest_in = [](const fs::path& dir, const char* extension) {
    int64_t latest = -1;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      int64_t index = 0;
      if (it->path().extension() == extension &&
          absl::SimpleAtoi(it->path().stem().string(), &index)) {
        latest = std::max(latest, index);
      }
    }
    return latest;
  };
  const fs::path frames_dir = fs::path(JobDir(job_id)) / "frames";
  const fs::path segments_dir = fs::path(JobDir(job_id)) / "segments";
  int64_t latest = latest_in(frames_dir, ".png");
  const int64_t latest_segment = latest_in(segments_dir, ".segment");
  std::optional<v1::EncodedSegment> segment;
  if (latest_segment >= 0) {
    ASSIGN_OR_RETURN(ChunkRecord chunk,
                     store_->GetChunk(job_id, static_cast<int32_t>(latest_segment)));
    if (chunk.first_frame > latest) {
      ASSIGN_OR_RETURN(std::string bytes,
                       ReadWholeFile(SegmentPath(segments_dir.string(), latest_segment)));
      segment.emplace();
      if (!segment->ParseFromString(bytes)) return absl::DataLossError("unreadable segment");
      latest = chunk.first_frame;
    }
  }
  if (latest < 0) return absl::NotFoundError(absl::StrCat("job ", job_id, " has no frame yet"));
  if (!before) {
    if (!segment) return ReadWholeFile(UpscaledFramePath(frames_dir.string(), latest));
    ASSIGN_OR_RETURN(RgbImage picture, DecodeSegmentKeyframe(*segment));
    return EncodePng(picture);
  }
  ASSIGN_OR_RETURN(std::vector<FrameRecord> frames, store_->Frames(job_id));
  if (latest >= static_cast<int64_t>(frames.size())) return absl::NotFoundError("no such frame");
  const FrameRecord& frame = frames[latest];
  ASSIGN_OR_RETURN(v1::ChunkPayload payload,
                   ReadChunkPayload(ChunkPayloadPath(JobDir(job_id) + "/chunks",
                                                     frame.chunk_index)));
  ASSIGN_OR_RETURN(RgbImage source, DecodeChunkFrame(payload, frame.pts));
  return EncodePng(source);
}

std::vector<v1::ModelInfo> Coordinator::ListModels() {
  std::vector<v1::ModelInfo> result;
  for (const ModelFile& model : anifarm::ListModels(options_.models_dir)) {
    v1::ModelInfo info;
    info.set_name(model.name);
    info.set_format(model.format);
    info.set_path(model.path);
    info.set_size_bytes(model.size_bytes);
    absl::StatusOr<std::string> sha = Sha256OfFile(model.path);
    if (sha.ok()) info.set_sha256(*sha);
    result.push_back(std::move(info));
  }
  return result;
}

absl::StatusOr<v1::RegisterNodeResponse> Coordinator::RegisterNode(
    const v1::RegisterNodeRequest& request, const std::string& principal) {
  v1::NodeInfo node;
  node.set_principal(principal);
  node.set_node_id(RandomId("node-"));
  node.set_hostname(request.hostname());
  node.set_device(request.device());
  node.set_device_name(request.device_name());
  node.set_memory_bytes(request.memory_bytes());
  *node.mutable_model_formats() = request.model_formats();
  *node.mutable_precisions() = request.precisions();
  *node.mutable_architectures() = request.architectures();
  node.set_last_seen(Now());
  RETURN_IF_ERROR(store_->UpsertNode(node));
  v1::RegisterNodeResponse response;
  response.set_node_id(node.node_id());
  return response;
}

absl::StatusOr<v1::LeaseChunkResponse> Coordinator::LeaseChunk(
    const v1::LeaseChunkRequest& request) {
  v1::LeaseChunkResponse response;
  const int64_t now = Now();
  RETURN_IF_ERROR(store_->TouchNode(request.node_id(), now,
                                    request.has_memory() ? &request.memory() : nullptr));
  ASSIGN_OR_RETURN(std::optional<ChunkRecord> chunk,
                   store_->LeaseNextChunk(request.node_id(), now, now + options_.lease_seconds));
  if (!chunk) return response;
  ASSIGN_OR_RETURN(JobRecord job, store_->GetJob(chunk->job_id));
  v1::ChunkLease* lease = response.mutable_lease();
  absl::StatusOr<v1::ChunkPayload> payload =
      ReadChunkPayload(ChunkPayloadPath(JobDir(job.id) + "/chunks", chunk->index));
  if (!payload.ok()) {
    store_->SetJobState(job.id, v1::JOB_FAILED, std::string(payload.status().message()))
        .IgnoreError();
    return response;
  }
  response.set_has_chunk(true);
  lease->set_job_id(job.id);
  lease->set_chunk_index(chunk->index);
  lease->set_attempt(chunk->attempt);
  if (chunk->attempt > 1) ++chunk_retries_;
  *lease->mutable_settings() = job.settings;
  lease->set_model_sha256(job.model_sha256);
  lease->set_model_name(fs::path(job.model_path).stem().string());
  lease->set_model_format(job.model_format);
  *lease->mutable_payload() = std::move(*payload);
  if (EncodedByNodes(job.settings, job.output_path)) {
    absl::StatusOr<v1::SegmentSpec> spec = SegmentSpecFor(job, chunk->index);
    if (!spec.ok()) {
      store_->SetJobState(job.id, v1::JOB_FAILED, std::string(spec.status().message()))
          .IgnoreError();
      return v1::LeaseChunkResponse();
    }
    *lease->mutable_segment() = *std::move(spec);
  }
  lease->set_deadline(chunk->lease_deadline);
  lease->set_heartbeat_interval_seconds(std::max(1, options_.lease_seconds / 4));
  return response;
}

absl::StatusOr<v1::SegmentSpec> Coordinator::SegmentSpecFor(const JobRecord& job,
                                                            int32_t chunk_index) {
  v1::SegmentSpec spec;
  bool cached = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = segment_specs_.find(job.id); it != segment_specs_.end()) {
      spec = it->second;
      cached = true;
    }
  }
  if (!cached) {
    // What every segment of the job shares: container, time base, rate and
    // colour, as the assembler would set them for a single encode.
    ASSIGN_OR_RETURN(MediaInfo media, ProbeMedia(VideoSourceOf(job.input_path, JobDir(job.id))));
    spec.set_container(fs::path(job.output_path).extension().string());
    AVRational time_base = media.video.time_base;
    AVRational frame_rate = media.frame_rate;
    if (job.settings.fps() > 0) {
      frame_rate = av_d2q(job.settings.fps(), 100000);
      time_base = av_inv_q(frame_rate);
    }
    spec.set_time_base_num(time_base.num);
    spec.set_time_base_den(time_base.den);
    spec.set_frame_rate_num(frame_rate.num);
    spec.set_frame_rate_den(frame_rate.den);
    const DecoderParams& video = media.video;
    spec.set_color_space(video.color_space != 2 ? video.color_space : -1);
    spec.set_color_range(video.color_range != 0 ? video.color_range : -1);
    spec.set_color_primaries(video.color_primaries != 2 ? video.color_primaries : -1);
    spec.set_color_trc(video.color_trc != 2 ? video.color_trc : -1);
    spec.set_alpha(PixelFormatHasAlpha(video.pixel_format));
    const AVRational sar = OutputSampleAspectOf(job.settings, media);
    spec.set_sample_aspect_num(sar.num);
    spec.set_sample_aspect_den(sar.den);
    std::lock_guard<std::mutex> lock(mu_);
    segment_specs_[job.id] = spec;
  }
  ASSIGN_OR_RETURN(std::vector<FrameRecord> frames, store_->ChunkFrames(job.id, chunk_index));
  const std::shared_ptr<const SeriesCacheUse> cache_use_ptr = CacheUseOf(job.id);
  const SeriesCacheUse& cache_use = *cache_use_ptr;
  for (const FrameRecord& frame : frames) {
    v1::ChunkFrame* out = spec.add_frames();
    out->set_frame_index(frame.index);
    out->set_pts(frame.pts);
    out->set_source_index(frame.source_index);
    out->set_prefilled(cache_use.cached.count(frame.index) > 0);
    // A fixed --fps renumbers frames at that rate (time base 1/fps).
    out->set_output_pts(job.settings.fps() > 0 ? frame.index : frame.pts);
  }
  // Where the upscaled frames are to be kept (--cleanup input/none,
  // --keep-intermediates: the guide's "re-encode later without upscaling
  // again"), nodes return all of them; otherwise only those other chunks show.
  const bool keep_frames =
      options_.keep_intermediates || job.settings.cleanup() != v1::CLEANUP_ALL;
  if (keep_frames) {
    for (const FrameRecord& frame : frames) {
      if (frame.source_index == frame.index && !cache_use.cached.count(frame.index)) {
        spec.add_shared_frames(frame.index);
      }
    }
  } else {
    ASSIGN_OR_RETURN(std::vector<int64_t> shared, store_->SharedFrames(job.id, chunk_index));
    // A picture from the series cache is in the frames folder already; the
    // cache's candidates in this chunk come back too, to be kept once the
    // job is done.
    std::set<int64_t> wanted;
    for (int64_t index : shared) {
      if (!cache_use.cached.count(index)) wanted.insert(index);
    }
    std::set<int64_t> in_chunk;
    for (const FrameRecord& frame : frames) in_chunk.insert(frame.index);
    for (const auto& [index, feature] : cache_use.candidates) {
      if (in_chunk.count(index)) wanted.insert(index);
    }
    for (int64_t index : wanted) spec.add_shared_frames(index);
  }
  return spec;
}

absl::Status Coordinator::CheckResult(const JobRecord& job,
                                      const v1::CompleteChunkRequest& request,
                                      v1::VideoStreamParams* segment_stream) {
  // A result must hold exactly the frames asked for, each intact: the
  // payload's unique frames, or for a chunk encoded by its node the segment
  // (every frame at its timestamp) plus the frames other chunks show.
  const bool by_nodes = EncodedByNodes(job.settings, job.output_path);
  std::set<int64_t> expected;
  std::vector<int64_t> output_pts;
  if (by_nodes) {
    ASSIGN_OR_RETURN(v1::SegmentSpec spec, SegmentSpecFor(job, request.chunk_index()));
    expected.insert(spec.shared_frames().begin(), spec.shared_frames().end());
    for (const v1::ChunkFrame& frame : spec.frames()) output_pts.push_back(frame.output_pts());
  } else {
    ASSIGN_OR_RETURN(v1::ChunkPayload payload,
                     ReadChunkPayload(ChunkPayloadPath(JobDir(request.job_id()) + "/chunks",
                                                       request.chunk_index())));
    for (const v1::FrameToUpscale& frame : payload.frames()) expected.insert(frame.frame_index());
  }
  absl::Status verdict = [&]() -> absl::Status {
    const std::string chunk = absl::StrCat("chunk ", request.chunk_index());
    if (by_nodes) {
      if (Sha256Hex(request.segment()) != request.segment_sha256()) {
        return absl::DataLossError(
            absl::StrCat(chunk, " segment arrived corrupted (sha256 mismatch)"));
      }
      v1::EncodedSegment segment;
      if (!segment.ParseFromString(request.segment())) {
        return absl::InvalidArgumentError(absl::StrCat(chunk, " segment cannot be read"));
      }
      if (absl::Status s = CheckSegment(segment, output_pts); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(chunk, ": ", s.message()));
      }
      CodecParametersPtr params(avcodec_parameters_alloc());
      if (!params) return absl::ResourceExhaustedError("out of memory");
      if (absl::Status s = ToCodecParameters(segment.stream(), params.get()); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(chunk, ": ", s.message()));
      }
      if (std::optional<v1::VideoStreamParams> first = FirstSegmentStream(job.id)) {
        if (absl::Status s = SameStream(*first, segment.stream()); !s.ok()) {
          return absl::InvalidArgumentError(absl::StrCat(chunk, ": ", s.message()));
        }
      }
      *segment_stream = std::move(*segment.mutable_stream());
    } else if (!request.segment().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(chunk, " result has a segment; this job is encoded by the coordinator"));
    }
    for (const v1::UpscaledFrame& frame : request.frames()) {
      if (expected.erase(frame.frame_index()) == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(chunk, " result has unexpected frame ", frame.frame_index()));
      }
      if (Sha256Hex(frame.png()) != frame.sha256()) {
        return absl::DataLossError(absl::StrCat(chunk, " frame ", frame.frame_index(),
                                                " arrived corrupted (sha256 mismatch)"));
      }
    }
    if (!expected.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          chunk, " result lacks ", expected.size(), " frame(s), e.g. ", *expected.begin()));
    }
    return absl::OkStatus();
  }();
  if (!verdict.ok()) {
    // Refused results go straight back to the queue to be redone.
    v1::FailChunkRequest failure;
    failure.set_node_id(request.node_id());
    failure.set_job_id(request.job_id());
    failure.set_chunk_index(request.chunk_index());
    failure.set_attempt(request.attempt());
    failure.set_error(std::string(verdict.message()));
    FailChunk(failure).IgnoreError();
  }
  return verdict;
}

std::optional<v1::VideoStreamParams> Coordinator::FirstSegmentStream(const std::string& job_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = segment_streams_.find(job_id); it != segment_streams_.end()) return it->second;
  }
  // After a restart: any accepted segment of the job says what the others
  // must match.
  std::error_code ec;
  for (fs::directory_iterator it(JobDir(job_id) + "/segments", ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->path().extension() != ".segment") continue;
    absl::StatusOr<std::string> bytes = ReadWholeFile(it->path().string());
    v1::EncodedSegment segment;
    if (!bytes.ok() || !segment.ParseFromString(*bytes)) continue;
    std::lock_guard<std::mutex> lock(mu_);
    segment_streams_[job_id] = segment.stream();
    return segment.stream();
  }
  return std::nullopt;
}

absl::Status Coordinator::CompleteChunk(const v1::CompleteChunkRequest& request) {
  ASSIGN_OR_RETURN(JobRecord job, store_->GetJob(request.job_id()));
  if (job.state != v1::JOB_RUNNING && job.state != v1::JOB_PAUSED) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job.id, " is not running; result ignored"));
  }
  v1::VideoStreamParams segment_stream;
  RETURN_IF_ERROR(CheckResult(job, request, &segment_stream));
  // A late result (its lease expired and went to another node) is refused
  // before it touches the frames folder. The store's CompleteChunk below
  // stays the arbiter: a lease lost in between only rewrites identical,
  // hash-checked frames.
  ASSIGN_OR_RETURN(bool holds, store_->HoldsLease(request.job_id(), request.chunk_index(),
                                                  request.attempt(), request.node_id()));
  if (!holds) {
    return absl::FailedPreconditionError(absl::StrCat(
        "chunk ", request.chunk_index(), " of job ", request.job_id(), " attempt ",
        request.attempt(), " is no longer leased to ", request.node_id(), "; result ignored"));
  }
  // Frames land on disk before the chunk is marked done, so a crash in
  // between only costs a redo of the chunk.
  const std::string frames_dir = JobDir(job.id) + "/frames";
  std::error_code ec;
  fs::create_directories(frames_dir, ec);
  for (const v1::UpscaledFrame& frame : request.frames()) {
    RETURN_IF_ERROR(
        WriteFileAtomically(UpscaledFramePath(frames_dir, frame.frame_index()), frame.png()));
  }
  int64_t frames_upscaled = request.frames_size();
  if (EncodedByNodes(job.settings, job.output_path)) {
    const std::string segments_dir = JobDir(job.id) + "/segments";
    fs::create_directories(segments_dir, ec);
    RETURN_IF_ERROR(WriteFileAtomically(SegmentPath(segments_dir, request.chunk_index()),
                                        request.segment()));
    ASSIGN_OR_RETURN(ChunkRecord chunk, store_->GetChunk(job.id, request.chunk_index()));
    frames_upscaled = chunk.unique_count;
    std::lock_guard<std::mutex> lock(mu_);
    segment_streams_.emplace(job.id, std::move(segment_stream));
  }
  bool all_done = false;
  RETURN_IF_ERROR(store_->CompleteChunk(request.job_id(), request.chunk_index(),
                                        request.attempt(), request.node_id(), frames_upscaled,
                                        &all_done, request.busy_ms(),
                                        request.model_architecture()));
  if (all_done) Wake();
  return absl::OkStatus();
}

absl::Status Coordinator::FailChunk(const v1::FailChunkRequest& request) {
  ++chunk_failures_;
  const int64_t now = Now();
  ASSIGN_OR_RETURN(
      JobStore::FailureTally tally,
      store_->RecordChunkFailure(request.job_id(), request.chunk_index(), request.attempt(),
                                 request.node_id(), request.error(), now,
                                 now - 2 * options_.lease_seconds,
                                 options_.node_failures_before_blocklist));
  std::string reason;
  if (request.permanent()) {
    reason = "failed permanently";
  } else if (tally.nodes_failed_chunk >= options_.chunk_failure_nodes) {
    reason = absl::StrCat("failed on ", tally.nodes_failed_chunk, " nodes");
  } else if (tally.live_nodes_not_blocked == 0) {
    reason = "failed and every live node is blocklisted for this job";
  }
  if (!reason.empty()) {
    RETURN_IF_ERROR(store_->SetJobState(
        request.job_id(), v1::JOB_FAILED,
        absl::StrCat("chunk ", request.chunk_index(), " ", reason, ": ", tally.errors)));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::HeartbeatResponse> Coordinator::Heartbeat(
    const v1::HeartbeatRequest& request) {
  const int64_t now = Now();
  v1::HeartbeatResponse response;
  // A node busy on a long chunk is alive: capability matching and the
  // dashboard go by last_seen. Best effort: the lease renewal is what counts.
  store_->TouchNode(request.node_id(), now, request.has_memory() ? &request.memory() : nullptr)
      .IgnoreError();
  ASSIGN_OR_RETURN(bool renewed,
                   store_->RenewLease(request.job_id(), request.chunk_index(), request.attempt(),
                                      request.node_id(), now, now + options_.lease_seconds));
  response.set_keep_working(renewed);
  if (renewed) response.set_deadline(now + options_.lease_seconds);
  return response;
}

absl::StatusOr<v1::FetchModelResponse> Coordinator::FetchModel(
    const v1::FetchModelRequest& request) {
  std::string path;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = model_paths_.find(request.sha256());
    if (it != model_paths_.end()) path = it->second;
  }
  if (path.empty()) {
    return absl::NotFoundError(absl::StrCat("no model with sha256 ", request.sha256()));
  }
  ModelFile model;
  model.path = path;
  model.name = fs::path(path).stem().string();
  model.format = fs::path(path).extension() == ".bin" ? "ncnn" : "pytorch";
  v1::FetchModelResponse response;
  response.set_name(model.name);
  response.set_format(model.format);
  for (const std::string& file : ModelFilePaths(model)) {
    ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(file));
    response.add_files(std::move(bytes));
  }
  return response;
}

absl::StatusOr<v1::FetchFramesResponse> Coordinator::FetchFrames(
    const v1::FetchFramesRequest& request) {
  ASSIGN_OR_RETURN(JobRecord job, store_->GetJob(request.job_id()));
  if (request.frame_indices_size() > kMaxFramesPerFetch) {
    return absl::InvalidArgumentError(absl::StrCat("at most ", kMaxFramesPerFetch,
                                                   " frames per FetchFrames call"));
  }
  const std::string frames_dir = JobDir(job.id) + "/frames";
  v1::FetchFramesResponse response;
  for (int64_t index : request.frame_indices()) {
    if (index < 0 || index >= job.total_frames) {
      return absl::InvalidArgumentError(
          absl::StrCat("job ", job.id, " has no frame ", index));
    }
    absl::StatusOr<std::string> png = ReadWholeFile(UpscaledFramePath(frames_dir, index));
    if (!png.ok()) {
      // Its chunk is not done (or was redone after a restart): ask later.
      return absl::UnavailableError(
          absl::StrCat("frame ", index, " of job ", job.id, " is not upscaled yet"));
    }
    v1::UpscaledFrame* frame = response.add_frames();
    frame->set_frame_index(index);
    frame->set_sha256(Sha256Hex(*png));
    frame->set_png(*std::move(png));
  }
  return response;
}

void Coordinator::RunLoop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_ || work_pending_; });
      if (stopping_) return;
      work_pending_ = false;
    }
    if (absl::StatusOr<int64_t> expired = store_->RequeueExpiredLeases(Now()); expired.ok()) {
      lease_expiries_ += *expired;
    }
    if (absl::Status stalls = stall_check_.Run(store_.get(), Now()); !stalls.ok()) {
      spdlog::warn("stall check: {}", stalls.ToString());
    }
    if (auto ids = store_->JobIdsInState(v1::JOB_PLANNING); ids.ok()) {
      for (const std::string& id : *ids) PlanJob(id);
    }
    if (auto ids = store_->JobIdsInState(v1::JOB_RUNNING); ids.ok()) {
      for (const std::string& id : *ids) {
        absl::StatusOr<JobRecord> job = store_->GetJob(id);
        if (job.ok() && job->chunks_total > 0 && job->chunks_done == job->chunks_total) {
          store_->SetJobState(id, v1::JOB_ASSEMBLING).IgnoreError();
        }
      }
    }
    if (auto ids = store_->JobIdsInState(v1::JOB_ASSEMBLING); ids.ok()) {
      for (const std::string& id : *ids) AssembleJob(id);
    }
  }
}

void Coordinator::PlanJob(const std::string& job_id) {
  absl::StatusOr<JobRecord> job = store_->GetJob(job_id);
  if (!job.ok()) return;
  const std::string chunk_dir = JobDir(job_id) + "/chunks";
  std::error_code ec;
  fs::create_directories(chunk_dir, ec);
  PlanOptions plan_options;
  plan_options.chunk_frames = options_.chunk_frames;
  plan_options.dedup = job->settings.dedup();
  if (job->settings.near_dedup_psnr() > 0) {
    plan_options.near_dedup_psnr = job->settings.near_dedup_psnr();
  }
  // Telecined or interlaced video is made progressive first (nodes have no
  // filters); the job's chunks then come from the intermediate.
  absl::StatusOr<PrepassResult> prepass =
      PrepareVideoSource(job->input_path, JobDir(job_id), job->settings.deinterlace());
  if (!prepass.ok()) {
    store_->SetJobState(job_id, v1::JOB_FAILED, std::string(prepass.status().message()))
        .IgnoreError();
    return;
  }
  if (!prepass->notice.empty()) spdlog::warn("notice: {}: {}", job_id, prepass->notice);
  // Held drawings of earlier jobs under the same settings (video jobs only:
  // an image job has no pictures to share).
  if (series_cache_->enabled() && job->settings.dedup() == v1::DEDUP_NEAR &&
      job->settings.image_format().empty()) {
    if (absl::StatusOr<MediaInfo> media = ProbeMedia(prepass->video_path); media.ok()) {
      plan_options.series_cache = series_cache_.get();
      plan_options.series_key = SeriesCacheKey(job->settings, job->model_sha256,
                                               media->video.width, media->video.height);
    }
  }
  absl::StatusOr<Plan> plan =
      anifarm::PlanJob(job_id, prepass->video_path, chunk_dir, plan_options);
  if (plan.ok() && !plan->cached.empty()) {
    // The cached pictures become this job's upscaled frames before any node
    // runs: nodes fetch them like pictures of finished chunks, and the
    // coordinator's own encode reads them from the same folder.
    const std::string frames_dir = JobDir(job_id) + "/frames";
    fs::create_directories(frames_dir, ec);
    for (const auto& [index, hit] : plan->cached) {
      fs::copy_file(series_cache_->PngPath(hit.entry), UpscaledFramePath(frames_dir, index),
                    fs::copy_options::overwrite_existing, ec);
      if (ec) {
        plan = absl::InternalError(absl::StrCat("cannot copy a picture of the series cache into ",
                                                frames_dir, ": ", ec.message()));
        break;
      }
    }
  }
  if (plan.ok()) {
    SeriesCacheUse use;
    use.key = plan_options.series_key;
    use.cached = std::move(plan->cached);
    use.candidates = std::move(plan->cache_candidates);
    if (!use.empty()) {
      if (absl::Status written = WriteSeriesCacheUse(JobDir(job_id) + "/series_cache.bin", use);
          !written.ok()) {
        plan = written;
      } else {
        spdlog::info("job {}: {} pictures from the series cache, {} to keep in it", job_id,
                     use.cached.size(), use.candidates.size());
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    cache_uses_[job_id] = std::make_shared<const SeriesCacheUse>(std::move(use));
  }
  if (plan.ok()) {
    // The exact count, for sources whose headers understated it.
    if (absl::Status limit = CheckExactFrameCount(options_.limits, job->input_path,
                                                  static_cast<int64_t>(plan->frames.size()));
        !limit.ok()) {
      plan = limit;
    }
  }
  if (!plan.ok()) {
    store_->SetJobState(job_id, v1::JOB_FAILED, std::string(plan.status().message()))
        .IgnoreError();
    return;
  }
  if (store_->SavePlan(job_id, plan->chunks, plan->frames,
                      EncodedByNodes(job->settings, job->output_path))
          .ok()) {
    Wake();
  }
}

void Coordinator::AssembleJob(const std::string& job_id) {
  absl::StatusOr<JobRecord> job = store_->GetJob(job_id);
  if (!job.ok()) return;
  // Tells a log reader (and the resume test, which kills it here) that
  // assembly began.
  spdlog::info("job {}: assembling {}", job_id, job->output_path);
  auto fail = [&](const absl::Status& status) {
    store_->SetJobState(job_id, v1::JOB_FAILED, std::string(status.message())).IgnoreError();
  };
  // Timing, size and colour from the video the chunks came from (the
  // prepass's intermediate, if any); audio and the rest from the input.
  absl::StatusOr<MediaInfo> media = ProbeMedia(VideoSourceOf(job->input_path, JobDir(job_id)));
  if (!media.ok()) return fail(media.status());
  absl::StatusOr<std::vector<FrameRecord>> frames = store_->Frames(job_id);
  if (!frames.ok()) return fail(frames.status());

  AssemblyRequest request;
  request.source_path = job->input_path;
  request.output_path = job->output_path;
  request.frames_dir = JobDir(job_id) + "/frames";
  if (EncodedByNodes(job->settings, job->output_path)) {
    request.segments_dir = JobDir(job_id) + "/segments";
    request.chunk_count = job->chunks_total;
  }
  request.frames = std::move(*frames);
  request.media = std::move(*media);
  request.encode = EncodeSettingsOf(job->settings);
  request.keep_audio = !job->settings.no_audio();
  request.fixed_fps = job->settings.fps();
  request.sample_aspect_ratio = OutputSampleAspectOf(job->settings, request.media);
  request.image = ImageOptionsOf(job->settings);
  absl::StatusOr<AssemblyResult> result = AssembleOutput(request);
  if (!result.ok()) return fail(result.status());
  const std::shared_ptr<const SeriesCacheUse> cache_use_ptr = CacheUseOf(job_id);
  const SeriesCacheUse& cache_use = *cache_use_ptr;
  const std::string frame_map = FrameMappingJson(request.frames, cache_use.cached);
  WriteFileAtomically(JobDir(job_id) + "/frame_mapping.json", frame_map).IgnoreError();
  if (!job->settings.frame_map_path().empty()) {
    if (absl::Status s = WriteFileAtomically(job->settings.frame_map_path(), frame_map); !s.ok()) {
      return fail(s);
    }
  }
  // Pictures from the series cache were reused too, from earlier jobs.
  absl::Status recorded = store_->RecordOutput(
      job_id, result->width, result->height,
      result->frames_reused + static_cast<int64_t>(cache_use.cached.size()));
  if (!recorded.ok()) return fail(recorded);
  // The pictures the series cache keeps, before the clean-up deletes them.
  if (!cache_use.candidates.empty()) {
    // The key it was looked up under at planning: the same source and
    // settings, so the pictures go where the next job will look.
    const std::string& key = cache_use.key;
    int kept = 0;
    for (const auto& [index, feature] : cache_use.candidates) {
      absl::StatusOr<std::string> png = ReadWholeFile(UpscaledFramePath(request.frames_dir, index));
      if (!png.ok()) continue;
      if (absl::Status added = series_cache_->Insert(key, feature, *png, job_id, index);
          !added.ok()) {
        spdlog::warn("job {}: series cache: {}", job_id, std::string(added.message()));
        break;
      }
      ++kept;
    }
    spdlog::info("job {}: {} pictures kept in the series cache", job_id, kept);
  }
  // The guide's clean-up: only now that the output is written and renamed
  // into place. --keep-intermediates (coordinator-wide) keeps everything.
  const v1::Cleanup cleanup =
      options_.keep_intermediates ? v1::CLEANUP_NONE : job->settings.cleanup();
  std::error_code ec;
  if (cleanup == v1::CLEANUP_ALL || cleanup == v1::CLEANUP_INPUT) {
    fs::remove_all(JobDir(job_id) + "/chunks", ec);
    // The series cache has taken its candidates; their features go too.
    fs::remove(JobDir(job_id) + "/series_cache.bin", ec);
    fs::remove(IntermediatePath(JobDir(job_id)), ec);
  }
  if (cleanup == v1::CLEANUP_ALL) {
    fs::remove_all(JobDir(job_id) + "/frames", ec);
    fs::remove_all(JobDir(job_id) + "/segments", ec);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    segment_specs_.erase(job_id);
    segment_streams_.erase(job_id);
    cache_uses_.erase(job_id);
  }
  store_->SetJobState(job_id, v1::JOB_DONE).IgnoreError();
}

}  // namespace anifarm
