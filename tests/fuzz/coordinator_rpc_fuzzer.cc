// libFuzzer harness for the coordinator's request handlers: the bytes are
// a short sequence of protobuf request messages, each parsed as the message
// its selector byte names and handed to the matching anifarm::Coordinator
// method, as the gRPC service would after deserialising a request. Errors
// are fine; a crash, a hang, a leak or a memory error is not (built with
// -fsanitize=fuzzer,address,undefined by tests/fuzz/run_fuzzers.sh).
//
// The farm: one sandbox folder (the coordinator's only --roots entry) with a
// 16x16 six-frame clip, a stand-in model file and a "golden" state dir in
// which one job is planned (two chunks), one node is registered and chunk 0
// is leased to it. Before an input that changed anything the live state dir
// is thrown away and copied again from the golden one, so every input sees
// the same farm and the disk used stays constant.
//
// Input: records of [selector][flags][len lo][len hi][len bytes], at most
// kMaxRecords; a short last record takes what is left.
//   selector % 8: 0 SubmitJob, 1 CompleteChunk, 2 FailChunk, 3 Heartbeat,
//                 4 LeaseChunk, 5 JobActionRequest (flags >> 4 picks Get,
//                 Cancel, Pause, Resume, Retry, ListChunks, Preview),
//                 6 FetchModel (flags >> 4 odd: FetchFrames), 7 ChunkPayload
//                 decoding (DecodeChunk and
//                 DecodeChunkFrame, capped).
//   flags: 1 use the farm's job id, 2 use the farm's node id, 4 Submit: use
//          the farm's clip as input / Complete: fix up every frame's and the
//          segment's sha256 /
//          FetchModel: use the farm's model sha256, 8 Submit: output in the
//          sandbox's out/ folder.
// Ids are random, so without these substitutions a fuzzer would only ever
// reach "not found".
//
// `ANIFARM_FUZZ_WRITE_SEEDS=DIR ./coordinator_rpc_fuzzer` writes one seed
// per handler (valid requests against the farm) into DIR and exits.
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/chunk_payload.h"
#include "common/hashing.h"
#include "common/media/png_codec.h"
#include "common/media/test_clip.h"
#include "coordinator/coordinator.h"
#include "coordinator/planner.h"
#include "google/protobuf/stubs/logging.h"
#include "protos/anifarm.pb.h"

extern "C" {
#include <libavutil/cpu.h>
#include <libavutil/log.h>
}

namespace fs = std::filesystem;
using anifarm::Coordinator;
using anifarm::CoordinatorOptions;
namespace v1 = anifarm::v1;

namespace {

constexpr int kMaxRecords = 8;
constexpr int kMaxPayloadPackets = 32;
constexpr int kMaxPayloadFrames = 8;
constexpr int kMaxPayloadSide = 1024;

struct Farm {
  std::string root;      // sandbox: the coordinator's only root
  std::string golden;    // state dir as set up
  std::string state;     // live state dir
  std::string clip;      // root/in/clip.mp4
  std::string out_dir;   // root/out
  CoordinatorOptions options;
  std::unique_ptr<Coordinator> coordinator;
  std::string job_id;
  std::string node_id;
  std::string model_sha256;
  int leased_attempt = 0;
  bool dirty = false;
};

Farm* g_farm = nullptr;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "coordinator_rpc_fuzzer setup: %s\n", what.c_str());
  std::abort();
}

template <typename T>
T OrDie(absl::StatusOr<T> value, const char* what) {
  if (!value.ok()) Die(std::string(what) + ": " + std::string(value.status().message()));
  return *std::move(value);
}

std::unique_ptr<Coordinator> StartOn(Farm* farm, const std::string& state_dir) {
  CoordinatorOptions options = farm->options;
  options.state_dir = state_dir;
  return OrDie(Coordinator::Start(options), "Coordinator::Start");
}

void SetUpFarm(Farm* farm) {
  // In memory when possible: every input rewrites the state dir, and SQLite
  // syncs its writes.
  std::error_code ec;
  std::string base = fs::is_directory("/dev/shm", ec) && access("/dev/shm", W_OK) == 0
                         ? "/dev/shm"
                         : fs::temp_directory_path(ec).string();
  std::string tmpl = base + "/anifarm_rpc_fuzz.XXXXXX";
  if (!mkdtemp(tmpl.data())) Die("mkdtemp in " + base);
  farm->root = fs::canonical(tmpl).string();
  farm->golden = farm->root + "/golden";
  farm->state = farm->root + "/state";
  farm->clip = farm->root + "/in/clip.mp4";
  farm->out_dir = farm->root + "/out";
  fs::create_directories(farm->root + "/in");
  fs::create_directories(farm->root + "/models");
  fs::create_directories(farm->out_dir);
  // The coordinator only hashes and ships model files; it never loads them.
  std::ofstream(farm->root + "/models/2x-FuzzModel.pth", std::ios::binary) << "not weights";

  anifarm::TestClipSpec spec;
  spec.width = 16;
  spec.height = 16;
  spec.content = {0, 1, 2, 3, 4, 5};
  spec.gop = 3;
  spec.audio = false;
  if (absl::Status s = anifarm::WriteTestClip(farm->clip, spec); !s.ok()) {
    Die("WriteTestClip: " + std::string(s.message()));
  }

  farm->options.models_dir = farm->root + "/models";
  farm->options.roots = {farm->root};
  farm->options.chunk_frames = 3;
  farm->options.lease_seconds = 3600;

  std::unique_ptr<Coordinator> c = StartOn(farm, farm->golden);
  farm->node_id = OrDie(c->RegisterNode(v1::RegisterNodeRequest()), "RegisterNode").node_id();
  v1::SubmitJobRequest submit;
  submit.set_input_path(farm->clip);
  submit.set_output_path(farm->out_dir + "/out.mp4");
  submit.mutable_settings()->set_model("2x-FuzzModel");
  farm->job_id = OrDie(c->SubmitJob(submit), "SubmitJob");
  for (int i = 0;; ++i) {
    v1::JobStatus job = OrDie(c->GetJob(farm->job_id), "GetJob");
    if (job.state() == v1::JOB_RUNNING) break;
    if (job.state() != v1::JOB_PLANNING || i > 2000) Die("planning failed: " + job.error());
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  v1::LeaseChunkRequest lease_request;
  lease_request.set_node_id(farm->node_id);
  v1::LeaseChunkResponse lease = OrDie(c->LeaseChunk(lease_request), "LeaseChunk");
  if (!lease.has_chunk()) Die("no chunk to lease");
  farm->leased_attempt = lease.lease().attempt();
  farm->model_sha256 = lease.lease().model_sha256();
  c.reset();  // closes the database: the golden state is complete on disk
}

void Reset(Farm* farm) {
  farm->coordinator.reset();
  std::error_code ec;
  fs::remove_all(farm->state, ec);
  fs::copy(farm->golden, farm->state, fs::copy_options::recursive, ec);
  if (ec) Die("copying the golden state: " + ec.message());
  if (!fs::is_empty(farm->out_dir, ec)) {
    fs::remove_all(farm->out_dir, ec);
    fs::create_directories(farm->out_dir, ec);
  }
  farm->coordinator = StartOn(farm, farm->state);
  farm->dirty = false;
}

bool Allowed(int codec_id) {
  // The codecs a real source is likely to have; any other id is mapped to
  // H.264 so the run fuzzes AniFarm's handling, not every FFmpeg decoder.
  static const std::set<int> kCodecs = {AV_CODEC_ID_H264, AV_CODEC_ID_HEVC,  AV_CODEC_ID_PNG,
                                        AV_CODEC_ID_MJPEG, AV_CODEC_ID_FFV1, AV_CODEC_ID_RAWVIDEO,
                                        AV_CODEC_ID_MPEG4, AV_CODEC_ID_VP9,  AV_CODEC_ID_PRORES};
  return kCodecs.count(codec_id) > 0;
}

void FuzzChunkPayload(std::string_view bytes) {
  v1::ChunkPayload payload;
  if (!payload.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return;
  if (payload.packets_size() > kMaxPayloadPackets) return;
  v1::DecoderConfig* config = payload.mutable_decoder();
  if (config->width() > kMaxPayloadSide || config->height() > kMaxPayloadSide) return;
  if (!Allowed(config->codec_id())) config->set_codec_id(AV_CODEC_ID_H264);
  (void)anifarm::ToDecoderConfig(anifarm::ToDecoderParams(*config));
  int frames = 0;
  (void)anifarm::DecodeChunk(payload, [&](const AVFrame& frame, int64_t) -> absl::Status {
    if (++frames > kMaxPayloadFrames) return absl::CancelledError("enough frames");
    (void)frame;
    return absl::OkStatus();
  });
  const int64_t pts = payload.frames_size() > 0 ? payload.frames(0).pts() : 0;
  (void)anifarm::DecodeChunkFrame(payload, pts);
}

template <typename Message>
bool Parse(std::string_view bytes, Message* message) {
  return message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

void RunRecord(Farm* farm, uint8_t selector, uint8_t flags, std::string_view bytes) {
  Coordinator* c = farm->coordinator.get();
  const bool our_job = flags & 1, our_node = flags & 2, fix = flags & 4, our_out = flags & 8;
  switch (selector % 8) {
    case 0: {
      v1::SubmitJobRequest request;
      if (!Parse(bytes, &request)) return;
      if (fix) request.set_input_path(farm->clip);
      if (our_out) {
        request.set_output_path(farm->out_dir + "/" +
                                fs::path(request.output_path()).filename().string());
      }
      farm->dirty = true;
      (void)c->SubmitJob(request, "fuzz");
      return;
    }
    case 1: {
      v1::CompleteChunkRequest request;
      if (!Parse(bytes, &request)) return;
      if (our_job) request.set_job_id(farm->job_id);
      if (our_node) request.set_node_id(farm->node_id);
      if (fix) {
        for (v1::UpscaledFrame& frame : *request.mutable_frames()) {
          frame.set_sha256(anifarm::Sha256Hex(frame.png()));
        }
        request.set_segment_sha256(anifarm::Sha256Hex(request.segment()));
      }
      farm->dirty = true;
      (void)c->CompleteChunk(request);
      return;
    }
    case 2: {
      v1::FailChunkRequest request;
      if (!Parse(bytes, &request)) return;
      if (our_job) request.set_job_id(farm->job_id);
      if (our_node) request.set_node_id(farm->node_id);
      farm->dirty = true;
      (void)c->FailChunk(request);
      return;
    }
    case 3: {
      v1::HeartbeatRequest request;
      if (!Parse(bytes, &request)) return;
      if (our_job) request.set_job_id(farm->job_id);
      if (our_node) request.set_node_id(farm->node_id);
      farm->dirty = true;
      (void)c->Heartbeat(request);
      return;
    }
    case 4: {
      v1::LeaseChunkRequest request;
      if (!Parse(bytes, &request)) return;
      if (our_node) request.set_node_id(farm->node_id);
      farm->dirty = true;
      (void)c->LeaseChunk(request);
      return;
    }
    case 5: {
      v1::JobActionRequest request;
      if (!Parse(bytes, &request)) return;
      if (our_job) request.set_job_id(farm->job_id);
      const std::string& id = request.job_id();
      switch ((flags >> 4) % 8) {
        case 0: (void)c->GetJob(id); return;
        case 1: farm->dirty = true; (void)c->CancelJob(id); return;
        case 2: farm->dirty = true; (void)c->PauseJob(id); return;
        case 3: farm->dirty = true; (void)c->ResumeJob(id); return;
        case 4: farm->dirty = true; (void)c->RetryJob(id); return;
        case 5: (void)c->ListChunks(id); return;
        case 6: (void)c->Preview(id, /*before=*/true); return;
        default: (void)c->Preview(id, /*before=*/false); return;
      }
    }
    case 6: {
      if ((flags >> 4) % 2) {
        v1::FetchFramesRequest request;
        if (!Parse(bytes, &request)) return;
        if (our_job) request.set_job_id(farm->job_id);
        if (our_node) request.set_node_id(farm->node_id);
        (void)c->FetchFrames(request);
        return;
      }
      v1::FetchModelRequest request;
      if (!Parse(bytes, &request)) return;
      if (fix) request.set_sha256(farm->model_sha256);
      (void)c->FetchModel(request);
      return;
    }
    default:
      FuzzChunkPayload(bytes);
      return;
  }
}

// Waits (bounded) for the runner thread to assemble a job whose chunks were
// all completed by the input, so that the assembler runs on fuzzed frames.
void SettleAssembly(Farm* farm) {
  for (int i = 0; i < 300; ++i) {
    absl::StatusOr<v1::JobStatus> job = farm->coordinator->GetJob(farm->job_id);
    if (!job.ok()) return;
    const bool all_done = job->chunks_total() > 0 && job->chunks_done() == job->chunks_total();
    if (!(all_done && job->state() == v1::JOB_RUNNING) && job->state() != v1::JOB_ASSEMBLING) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string Record(uint8_t selector, uint8_t flags, const std::string& bytes) {
  std::string out;
  out.push_back(static_cast<char>(selector));
  out.push_back(static_cast<char>(flags));
  out.push_back(static_cast<char>(bytes.size() & 0xff));
  out.push_back(static_cast<char>((bytes.size() >> 8) & 0xff));
  return out + bytes;
}

int WriteSeeds(Farm* farm, const std::string& dir) {
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
  };
  v1::SubmitJobRequest submit;
  submit.set_output_path("out.mkv");
  submit.mutable_settings()->set_model("2x-FuzzModel");
  submit.mutable_settings()->set_codec("ffv1");
  write("submit.bin", Record(0, 4 | 8, submit.SerializeAsString()));

  const std::string chunk_file =
      anifarm::ChunkPayloadPath(farm->golden + "/jobs/" + farm->job_id + "/chunks", 0);
  v1::ChunkPayload payload = OrDie(anifarm::ReadChunkPayload(chunk_file), "ReadChunkPayload");
  write("chunk_payload.bin", Record(7, 0, payload.SerializeAsString()));

  anifarm::RgbImage image(32, 32);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>(i);
  const std::string png = OrDie(anifarm::EncodePng(image), "EncodePng");
  v1::CompleteChunkRequest complete;
  complete.set_chunk_index(0);
  complete.set_attempt(farm->leased_attempt);
  complete.set_busy_ms(100);
  for (const v1::FrameToUpscale& frame : payload.frames()) {
    v1::UpscaledFrame* out = complete.add_frames();
    out->set_frame_index(frame.frame_index());
    out->set_png(png);
  }
  write("complete.bin", Record(1, 1 | 2 | 4, complete.SerializeAsString()));

  // Lease chunk 1, then complete both: the job gets assembled.
  v1::CompleteChunkRequest complete1;
  complete1.set_chunk_index(1);
  complete1.set_attempt(1);
  const std::string chunk1_file =
      anifarm::ChunkPayloadPath(farm->golden + "/jobs/" + farm->job_id + "/chunks", 1);
  v1::ChunkPayload payload1 = OrDie(anifarm::ReadChunkPayload(chunk1_file), "ReadChunkPayload");
  for (const v1::FrameToUpscale& frame : payload1.frames()) {
    v1::UpscaledFrame* out = complete1.add_frames();
    out->set_frame_index(frame.frame_index());
    out->set_png(png);
  }
  write("lease_complete_all.bin",
        Record(4, 2, v1::LeaseChunkRequest().SerializeAsString()) +
            Record(1, 1 | 2 | 4, complete.SerializeAsString()) +
            Record(1, 1 | 2 | 4, complete1.SerializeAsString()));

  v1::FailChunkRequest fail;
  fail.set_chunk_index(0);
  fail.set_attempt(farm->leased_attempt);
  fail.set_error("CUDA out of memory");
  write("fail.bin", Record(2, 1 | 2, fail.SerializeAsString()));
  fail.set_permanent(true);
  write("fail_permanent.bin", Record(2, 1 | 2, fail.SerializeAsString()));

  v1::HeartbeatRequest heartbeat;
  heartbeat.set_chunk_index(0);
  heartbeat.set_attempt(farm->leased_attempt);
  write("heartbeat.bin", Record(3, 1 | 2, heartbeat.SerializeAsString()));
  write("lease.bin", Record(4, 2, v1::LeaseChunkRequest().SerializeAsString()));
  for (int action = 0; action < 8; ++action) {
    write("job_action_" + std::to_string(action) + ".bin",
          Record(5, static_cast<uint8_t>(1 | (action << 4)),
                 v1::JobActionRequest().SerializeAsString()));
  }
  write("fetch_model.bin", Record(6, 4, v1::FetchModelRequest().SerializeAsString()));
  return 0;
}

}  // namespace

// Every input restarts the coordinator on a fresh copy of the state dir;
// with ASan's default 256 MiB quarantine the freed SQLite caches are never
// reused and each input pays for page faults on fresh memory (3x slower).
extern "C" const char* __asan_default_options() { return "quarantine_size_mb=16"; }

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  av_log_set_level(AV_LOG_QUIET);
  // Decoders open with one thread per core; one thread keeps an input's
  // run deterministic and spares a thread start-up per input.
  av_cpu_force_count(1);
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int,
                                     const std::string&) {});
  g_farm = new Farm();
  SetUpFarm(g_farm);
  std::atexit([] {
    g_farm->coordinator.reset();
    std::error_code ec;
    fs::remove_all(g_farm->root, ec);
  });
  if (const char* dir = std::getenv("ANIFARM_FUZZ_WRITE_SEEDS")) std::exit(WriteSeeds(g_farm, dir));
  Reset(g_farm);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Farm* farm = g_farm;
  if (farm->dirty) Reset(farm);
  size_t pos = 0;
  for (int record = 0; record < kMaxRecords && pos + 2 <= size; ++record) {
    const uint8_t selector = data[pos], flags = data[pos + 1];
    pos += 2;
    size_t length = size - pos;
    if (length >= 2) {
      length = std::min<size_t>(data[pos] | (size_t{data[pos + 1]} << 8), length - 2);
      pos += 2;
    } else {
      length = 0;
    }
    RunRecord(farm, selector, flags,
              std::string_view(reinterpret_cast<const char*>(data + pos), length));
    pos += length;
  }
  (void)farm->coordinator->ListJobs();
  (void)farm->coordinator->ListNodes();
  SettleAssembly(farm);
  return 0;
}
