// farm_bench: end-to-end throughput of a farm on loopback, and the cost of
// the coordinator per frame. Not a test; run by hand (docs/scaling.md).
//
//   farm_bench [--nodes 1,2,4] [--frames 96] [--size 160x96] [--chunk-frames 12]
//              [--encode-at nodes|coordinator] [--fake-nodes 0] [--idle-nodes 0]
//              [--models-dir DIR] [--work DIR]
//
// Real mode (default): for each N in --nodes, a fresh coordinator and N
// anifarm-node processes (CPU inference) on 127.0.0.1; a warm-up job (so
// every node has fetched and loaded the model), then the measured job: a
// generated clip whose frames are all distinct (nothing is deduplicated).
// Reports frames/s against N and the coordinator's CPU time (utime + stime
// from /proc/<pid>/stat) per frame, split by phase: planning (submit ->
// RUNNING), serving leases and results (RUNNING -> ASSEMBLING), assembly
// (ASSEMBLING -> DONE).
//
// --encode-at: who encodes the video (the job setting; nodes by default).
//
// --fake-nodes K: no inference. K in-process fake nodes lease chunks and
// answer with results made from a bilinear 2x of each source frame,
// prepared beforehand: the frames' PNGs (--encode-at coordinator), or a
// segment they encode from those pictures when leased (nodes; that encode
// is the bench's CPU, not the coordinator's). This measures what one
// coordinator can serve: result checks (sha256, segment checks), writes,
// SQLite transactions and assembly, without nodes competing for CPU.
//
// --idle-nodes K: K fake nodes poll LeaseChunk in a loop with no job for 3 s:
// the coordinator's cost of one (empty) lease RPC.
extern "C" {
#include <libavutil/log.h>
}

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/cli_args.h"
#include "common/encoded_segment.h"
#include "common/grpc_client.h"
#include "common/hashing.h"
#include "common/media/frame_convert.h"
#include "common/media/image_resize.h"
#include "common/media/png_codec.h"
#include "common/media/source_reader.h"
#include "common/media/test_clip.h"
#include "common/media/video_decoder.h"
#include "protos/anifarm.grpc.pb.h"
#include "tests/e2e/subprocess.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// A child process whose pid we keep (for /proc/<pid>/stat).
class Child {
 public:
  Child(std::vector<std::string> argv, const std::string& log) {
    std::fflush(stdout);  // or the child's freopen writes our buffer again
    pid_ = fork();
    if (pid_ == 0) {
      FILE* out = std::freopen((log + ".out").c_str(), "w", stdout);
      FILE* err = std::freopen((log + ".err").c_str(), "w", stderr);
      (void)out;
      (void)err;
      std::vector<char*> args;
      for (std::string& arg : argv) args.push_back(arg.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~Child() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// utime + stime of a process, in seconds.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  long long utime = 0, stime = 0;
  // Fields after the command: state(3) ... utime(14) stime(15).
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::atoll(field.c_str());
    if (i == 15) stime = std::atoll(field.c_str());
  }
  return double(utime + stime) / sysconf(_SC_CLK_TCK);
}

std::string BinDir() {
  return fs::read_symlink("/proc/self/exe").parent_path().string();
}

struct Farm {
  std::string address;
  std::unique_ptr<Child> coordinator;
  std::unique_ptr<v1::Coordinator::Stub> stub;
};

absl::Status StartCoordinator(const std::string& dir, const std::string& models_dir,
                              int chunk_frames, Farm* farm) {
  farm->address = "127.0.0.1:" + std::to_string(testing::FreeLoopbackPort());
  farm->coordinator = std::make_unique<Child>(
      std::vector<std::string>{BinDir() + "/anifarm-coordinator", "--listen", farm->address,
                               "--state-dir", dir + "/state", "--models-dir", models_dir,
                               "--chunk-frames", std::to_string(chunk_frames)},
      dir + "/coordinator");
  farm->stub = v1::Coordinator::NewStub(MakeCoordinatorChannel(farm->address));
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    grpc::ClientContext context;
    v1::ListJobsRequest request;
    v1::ListJobsResponse response;
    if (farm->stub->ListJobs(&context, request, &response).ok()) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::UnavailableError("coordinator did not start; see " + dir + "/coordinator.err");
}

struct JobRun {
  v1::JobStatus final;
  double wall = 0, plan = 0, serve = 0, assemble = 0;            // seconds
  double cpu = 0, cpu_plan = 0, cpu_serve = 0, cpu_assemble = 0;  // coordinator CPU seconds
};

// Submits a job and polls it every `poll_ms` until it ends, timing each
// phase and the coordinator's CPU time in it. Each poll is a GetJob RPC that
// the coordinator pays for (about 0.5 ms CPU here): long runs poll slowly.
absl::StatusOr<JobRun> RunJob(Farm& farm, const std::string& input, const std::string& output,
                              int tile, int poll_ms, v1::EncodeAt encode_at) {
  JobRun run;
  v1::SubmitJobRequest submit;
  submit.set_input_path(input);
  submit.set_output_path(output);
  submit.mutable_settings()->set_tile(tile);
  submit.mutable_settings()->set_encode_at(encode_at);
  const pid_t pid = farm.coordinator->pid();
  const double cpu0 = CpuSeconds(pid);
  const auto t0 = Clock::now();
  v1::SubmitJobResponse submitted;
  {
    grpc::ClientContext context;
    grpc::Status s = farm.stub->SubmitJob(&context, submit, &submitted);
    if (!s.ok()) return FromGrpcStatus(s, farm.address);
  }
  auto t_running = t0, t_assembling = t0;
  double cpu_running = cpu0, cpu_assembling = cpu0;
  bool seen_running = false, seen_assembling = false;
  while (true) {
    grpc::ClientContext context;
    v1::GetJobRequest request;
    request.set_job_id(submitted.job_id());
    v1::JobStatus job;
    grpc::Status s = farm.stub->GetJob(&context, request, &job);
    if (!s.ok()) return FromGrpcStatus(s, farm.address);
    const auto now = Clock::now();
    const double cpu = CpuSeconds(pid);
    if (!seen_running && job.state() != v1::JOB_PLANNING) {
      seen_running = true;
      t_running = now;
      cpu_running = cpu;
    }
    if (!seen_assembling && job.state() != v1::JOB_PLANNING && job.state() != v1::JOB_RUNNING) {
      seen_assembling = true;
      t_assembling = now;
      cpu_assembling = cpu;
    }
    if (job.state() == v1::JOB_DONE || job.state() == v1::JOB_FAILED ||
        job.state() == v1::JOB_CANCELLED) {
      if (job.state() != v1::JOB_DONE) {
        return absl::AbortedError("job " + job.job_id() + " ended: " + job.error());
      }
      run.final = job;
      run.wall = Seconds(t0, now);
      run.plan = Seconds(t0, t_running);
      run.serve = Seconds(t_running, t_assembling);
      run.assemble = Seconds(t_assembling, now);
      run.cpu = cpu - cpu0;
      run.cpu_plan = cpu_running - cpu0;
      run.cpu_serve = cpu_assembling - cpu_running;
      run.cpu_assemble = cpu - cpu_assembling;
      return run;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
}

// Keyframes every `gop` frames: the planner cuts chunks on keyframes only.
absl::Status MakeClip(const std::string& path, int frames, int width, int height, int first_id,
                      int gop) {
  TestClipSpec spec;
  spec.width = width;
  spec.height = height;
  spec.gop = gop;
  for (int i = 0; i < frames; ++i) spec.content.push_back(first_id + i);  // all distinct
  return WriteTestClip(path, spec);
}

// Every frame of a video as RGB, in presentation order.
absl::StatusOr<std::vector<RgbImage>> DecodeAll(const std::string& path) {
  auto reader = SourceReader::Open(path);
  if (!reader.ok()) return reader.status();
  auto decoder = VideoDecoder::Create((*reader)->info().video);
  if (!decoder.ok()) return decoder.status();
  std::vector<FramePtr> frames;
  while (true) {
    auto packet = (*reader)->NextVideoPacket();
    if (!packet.ok()) return packet.status();
    if (!*packet) break;
    if (absl::Status s = (*decoder)->Decode(**packet, &frames); !s.ok()) return s;
  }
  if (absl::Status s = (*decoder)->Flush(&frames); !s.ok()) return s;
  std::vector<RgbImage> images;
  for (const FramePtr& frame : frames) {
    auto rgb = FrameToRgb(*frame);
    if (!rgb.ok()) return rgb.status();
    images.push_back(std::move(*rgb));
  }
  return images;
}

struct FakeFrame {
  RgbImage picture;  // the "upscaled" frame
  std::string png, sha256;
};

// What a node would return for a chunk encoded by nodes: the segment of
// every frame of the chunk and the PNGs of its shared frames.
absl::Status FillSegment(const v1::ChunkLease& lease, const std::vector<FakeFrame>& results,
                         v1::CompleteChunkRequest* complete) {
  const RgbImage& first = results.front().picture;
  auto encoder = SegmentEncoder::Create(EncodeSettingsOf(lease.settings()), lease.segment(),
                                        first.width, first.height);
  if (!encoder.ok()) return encoder.status();
  for (const v1::ChunkFrame& frame : lease.segment().frames()) {
    const RgbImage& picture = results[frame.source_index()].picture;
    if (absl::Status s = (*encoder)->Add(picture, frame.output_pts()); !s.ok()) return s;
  }
  auto segment = (*encoder)->Finish();
  if (!segment.ok()) return segment.status();
  complete->set_segment(segment->SerializeAsString());
  complete->set_segment_sha256(Sha256Hex(complete->segment()));
  for (int64_t index : lease.segment().shared_frames()) {
    v1::UpscaledFrame* out = complete->add_frames();
    out->set_frame_index(index);
    out->set_png(results[index].png);
    out->set_sha256(results[index].sha256);
  }
  return absl::OkStatus();
}

// In-process nodes that answer every lease at once with prepared PNGs.
struct FakeNodes {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> leases{0}, empty_leases{0}, frames{0};
  std::vector<std::thread> threads;

  void Start(const std::string& address, int count, const std::vector<FakeFrame>* results) {
    for (int i = 0; i < count; ++i) {
      threads.emplace_back([this, address, results, i] {
        auto stub = v1::Coordinator::NewStub(MakeCoordinatorChannel(address));
        std::string node_id;
        {
          grpc::ClientContext context;
          v1::RegisterNodeRequest request;
          request.set_hostname("fake-" + std::to_string(i));
          request.set_device("cpu");
          request.set_device_name("fake");
          v1::RegisterNodeResponse response;
          if (!stub->RegisterNode(&context, request, &response).ok()) return;
          node_id = response.node_id();
        }
        while (!stop) {
          grpc::ClientContext context;
          v1::LeaseChunkRequest request;
          request.set_node_id(node_id);
          v1::LeaseChunkResponse lease;
          if (!stub->LeaseChunk(&context, request, &lease).ok() || !lease.has_chunk()) {
            ++empty_leases;
            if (results) std::this_thread::sleep_for(std::chrono::milliseconds(2));
            continue;
          }
          ++leases;
          v1::CompleteChunkRequest complete;
          complete.set_node_id(node_id);
          complete.set_job_id(lease.lease().job_id());
          complete.set_chunk_index(lease.lease().chunk_index());
          complete.set_attempt(lease.lease().attempt());
          if (lease.lease().has_segment()) {
            if (absl::Status s = FillSegment(lease.lease(), *results, &complete); !s.ok()) {
              std::cerr << "farm_bench: fake node: " << s.message() << "\n";
            }
          } else {
            for (const v1::FrameToUpscale& frame : lease.lease().payload().frames()) {
              const FakeFrame& result = (*results)[frame.frame_index()];
              v1::UpscaledFrame* out = complete.add_frames();
              out->set_frame_index(frame.frame_index());
              out->set_png(result.png);
              out->set_sha256(result.sha256);
            }
          }
          frames += lease.lease().payload().frames_size();
          grpc::ClientContext complete_context;
          v1::CompleteChunkResponse done;
          grpc::Status s = stub->CompleteChunk(&complete_context, complete, &done);
          if (!s.ok()) std::cerr << "farm_bench: fake node: " << s.error_message() << "\n";
        }
      });
    }
  }
  ~FakeNodes() {
    stop = true;
    for (std::thread& t : threads) t.join();
  }
};

// The nodes' per-chunk stage rates for one job ("stage rates: decode X fps,
// upscale Y fps, encode Z fps" in their logs), averaged over the chunks.
struct StageRates {
  double decode = 0, upscale = 0, encode = 0;
  int chunks = 0;
};
StageRates ReadStageRates(const std::vector<std::string>& logs, const std::string& job_id) {
  StageRates rates;
  for (const std::string& log : logs) {
    std::ifstream in(log);
    std::string line;
    while (std::getline(in, line)) {
      if (line.find("job " + job_id + " ") == std::string::npos) continue;
      const size_t at = line.find("stage rates: decode ");
      if (at == std::string::npos) continue;
      double decode = 0, upscale = 0, encode = 0;
      char kind[16] = {0};
      if (std::sscanf(line.c_str() + at, "stage rates: decode %lf fps, upscale %lf fps, %15s %lf",
                      &decode, &upscale, kind, &encode) == 4) {
        rates.decode += decode;
        rates.upscale += upscale;
        rates.encode += encode;
        ++rates.chunks;
      }
    }
  }
  if (rates.chunks > 0) {
    rates.decode /= rates.chunks;
    rates.upscale /= rates.chunks;
    rates.encode /= rates.chunks;
  }
  return rates;
}

std::vector<int> ParseList(const std::string& text) {
  std::vector<int> values;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int value = 0;
    if (absl::SimpleAtoi(part, &value) && value > 0) values.push_back(value);
  }
  return values;
}

int Main(int argc, char** argv) {
  av_log_set_level(AV_LOG_WARNING);  // no encoder statistics in the table
  CliArgs args({"nodes", "frames", "size", "chunk-frames", "fake-nodes", "idle-nodes", "encode-at",
                "models-dir", "work", "tile"},
               {"help"});
  if (absl::Status s = args.Parse(argc, argv, 1); !s.ok() || args.Has("help")) {
    std::cerr << "usage: farm_bench [--nodes 1,2,4] [--frames 96] [--size 160x96]"
                 " [--chunk-frames 12] [--fake-nodes K] [--idle-nodes K] [--models-dir DIR]"
                 " [--work DIR] [--tile N]\n";
    return 2;
  }
  const int frames = *args.GetInt("frames", 96);
  const int chunk_frames = *args.GetInt("chunk-frames", 12);
  const int tile = *args.GetInt("tile", 0);
  const int fake_nodes = *args.GetInt("fake-nodes", 0);
  const int idle_nodes = *args.GetInt("idle-nodes", 0);
  const v1::EncodeAt encode_at = args.Get("encode-at", "nodes") == "coordinator"
                                     ? v1::ENCODE_AT_COORDINATOR
                                     : v1::ENCODE_AT_NODES;
  int width = 0, height = 0;
  std::vector<std::string> size = absl::StrSplit(args.Get("size", "160x96"), 'x');
  if (size.size() != 2 || !absl::SimpleAtoi(size[0], &width) ||
      !absl::SimpleAtoi(size[1], &height)) {
    std::cerr << "farm_bench: bad --size\n";
    return 2;
  }
  const std::string models_dir = args.Get("models-dir", ANIFARM_TEST_MODEL_DIR);
  const std::string work =
      args.Get("work", (fs::temp_directory_path() / ("farm-bench-" + std::to_string(getpid())))
                           .string());
  fs::remove_all(work);
  fs::create_directories(work);
  const std::string input = work + "/input.mp4";
  if (absl::Status s = MakeClip(input, frames, width, height, 0, std::min(12, chunk_frames)); !s.ok()) {
    std::cerr << "farm_bench: " << s.message() << "\n";
    return 3;
  }
  std::printf("farm_bench: %d frames %dx%d (all distinct), chunks of %d, %u CPU cores\n\n",
              frames, width, height, chunk_frames, std::thread::hardware_concurrency());

  if (idle_nodes > 0) {
    Farm farm;
    if (absl::Status s = StartCoordinator(work + "/idle", models_dir, chunk_frames, &farm);
        !s.ok()) {
      std::cerr << "farm_bench: " << s.message() << "\n";
      return 3;
    }
    const double cpu0 = CpuSeconds(farm.coordinator->pid());
    const auto t0 = Clock::now();
    int64_t polls = 0;
    {
      FakeNodes nodes;
      nodes.Start(farm.address, idle_nodes, nullptr);
      std::this_thread::sleep_for(std::chrono::seconds(3));
      nodes.stop = true;
      for (std::thread& t : nodes.threads) t.join();
      nodes.threads.clear();
      polls = nodes.empty_leases;
    }
    const double wall = Seconds(t0, Clock::now());
    const double cpu = CpuSeconds(farm.coordinator->pid()) - cpu0;
    std::printf("| idle pollers | empty LeaseChunk/s | coordinator CPU/RPC (us) | coordinator CPU (%%) |\n"
                "|---|---|---|---|\n| %d | %.0f | %.0f | %.0f |\n\n",
                idle_nodes, polls / wall, 1e6 * cpu / std::max<int64_t>(polls, 1),
                100 * cpu / wall);
    return 0;
  }

  if (fake_nodes > 0) {
    // Prepare each frame's result as a node would send it.
    auto sources = DecodeAll(input);
    if (!sources.ok()) {
      std::cerr << "farm_bench: " << sources.status().message() << "\n";
      return 3;
    }
    std::vector<FakeFrame> results;
    double png_seconds = 0, sha_seconds = 0, decode_seconds = 0;
    size_t png_bytes = 0;
    for (const RgbImage& source : *sources) {
      auto upscaled = ResizeRgb(source, 2 * source.width, 2 * source.height);
      const auto a = Clock::now();
      auto png = EncodePng(*upscaled);
      const auto b = Clock::now();
      if (!png.ok()) {
        std::cerr << "farm_bench: " << png.status().message() << "\n";
        return 3;
      }
      std::string sha = Sha256Hex(*png);
      const auto c = Clock::now();
      (void)DecodePng(*png);
      const auto d = Clock::now();
      png_seconds += Seconds(a, b);
      sha_seconds += Seconds(b, c);
      decode_seconds += Seconds(c, d);
      png_bytes += png->size();
      results.push_back({*std::move(upscaled), std::move(*png), std::move(sha)});
    }
    const double n = double(results.size());
    std::printf("Result PNG at %dx%d: %.2f MB/frame, encode %.1f ms, decode %.1f ms,"
                " sha256 %.1f ms (%.0f MB/s)\n\n",
                2 * width, 2 * height, png_bytes / n / 1e6, 1e3 * png_seconds / n,
                1e3 * decode_seconds / n, 1e3 * sha_seconds / n, png_bytes / sha_seconds / 1e6);
    Farm farm;
    if (absl::Status s = StartCoordinator(work + "/fake", models_dir, chunk_frames, &farm);
        !s.ok()) {
      std::cerr << "farm_bench: " << s.message() << "\n";
      return 3;
    }
    FakeNodes nodes;
    nodes.Start(farm.address, fake_nodes, &results);
    auto run = RunJob(farm, input, work + "/fake-out.mp4", tile, 10, encode_at);
    if (!run.ok()) {
      std::cerr << "farm_bench: " << run.status().message() << "\n";
      return 4;
    }
    std::printf(
        "| fake nodes | frames | chunks | serve frames/s | coordinator CPU/frame serving (ms) |"
        " serving CPU/chunk (ms) | assembly frames/s | coordinator CPU/frame assembly (ms) |"
        " planning (s) | total CPU/frame (ms) |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
        "| %d | %lld | %lld | %.1f | %.2f | %.2f | %.1f | %.2f | %.2f | %.2f |\n\n",
        fake_nodes, (long long)run->final.total_frames(), (long long)nodes.leases.load(),
        frames / std::max(run->serve, 1e-9), 1e3 * run->cpu_serve / frames,
        1e3 * run->cpu_serve / std::max<int64_t>(nodes.leases, 1),
        frames / std::max(run->assemble, 1e-9), 1e3 * run->cpu_assemble / frames, run->plan,
        1e3 * run->cpu / frames);
    return 0;
  }

  const std::vector<int> node_counts = ParseList(args.Get("nodes", "1,2,4"));
  std::printf(
      "| nodes | frames | upscaled | wall (s) | frames/s | speedup | planning (s) |"
      " upscaling (s) | assembly (s) | coordinator CPU (s) | coordinator CPU/frame (ms) |"
      " nodes' CPU/frame (ms) |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::fflush(stdout);
  double base_fps = 0;
  std::vector<std::string> stage_rows;
  for (int count : node_counts) {
    const std::string dir = work + "/n" + std::to_string(count);
    fs::create_directories(dir);
    Farm farm;
    if (absl::Status s = StartCoordinator(dir, models_dir, chunk_frames, &farm); !s.ok()) {
      std::cerr << "farm_bench: " << s.message() << "\n";
      return 3;
    }
    std::vector<std::unique_ptr<Child>> nodes;
    for (int i = 0; i < count; ++i) {
      nodes.push_back(std::make_unique<Child>(
          std::vector<std::string>{BinDir() + "/anifarm-node", "--coordinator", farm.address,
                                   "--cache-dir", dir + "/cache-" + std::to_string(i),
                                   "--device", "cpu"},
          dir + "/node-" + std::to_string(i)));
    }
    // Warm-up: one small chunk per node (model fetched, loaded, cached).
    const std::string warm = dir + "/warm.mp4";
    if (absl::Status s = MakeClip(warm, chunk_frames * count, width, height, 100000,
                                       std::min(12, chunk_frames)); !s.ok()) {
      std::cerr << "farm_bench: " << s.message() << "\n";
      return 3;
    }
    if (auto w = RunJob(farm, warm, dir + "/warm-out.mp4", tile, 100, encode_at); !w.ok()) {
      std::cerr << "farm_bench: warm-up: " << w.status().message() << "\n";
      return 4;
    }
    double nodes_cpu0 = 0;
    for (const auto& node : nodes) nodes_cpu0 += CpuSeconds(node->pid());
    auto run = RunJob(farm, input, dir + "/out.mp4", tile, 250, encode_at);
    double nodes_cpu = -nodes_cpu0;
    for (const auto& node : nodes) nodes_cpu += CpuSeconds(node->pid());
    if (!run.ok()) {
      std::cerr << "farm_bench: " << run.status().message() << "\n";
      return 4;
    }
    const double fps = frames / run->wall;
    if (base_fps == 0) base_fps = fps / count;  // per node, from the first row
    std::printf(
        "| %d | %lld | %lld | %.2f | %.2f | %.2fx | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f |\n",
        count, (long long)run->final.total_frames(), (long long)run->final.frames_upscaled(),
        run->wall, fps, fps / base_fps, run->plan, run->serve, run->assemble, run->cpu,
        1e3 * run->cpu / frames, 1e3 * nodes_cpu / frames);
    std::fflush(stdout);
    std::vector<std::string> logs;
    for (int i = 0; i < count; ++i) logs.push_back(dir + "/node-" + std::to_string(i) + ".err");
    const StageRates rates = ReadStageRates(logs, run->final.job_id());
    stage_rows.push_back(absl::StrFormat("| %d | %d | %.1f | %.1f | %.1f |", count, rates.chunks,
                                         rates.decode, rates.upscale, rates.encode));
  }
  std::printf("\nspeedup: frames/s over the first row's frames/s per node\n");
  // Each stage's own rate (its busy time only; the three overlap), as the
  // nodes logged it per chunk: the slowest one bounds a node's throughput.
  std::printf(
      "\n| nodes | chunks | node decode (frames/s) | node upscale (frames/s) |"
      " node encode or PNG (frames/s) |\n|---|---|---|---|---|\n");
  for (const std::string& row : stage_rows) std::printf("%s\n", row.c_str());
  return 0;
}

}  // namespace
}  // namespace anifarm

int main(int argc, char** argv) { return anifarm::Main(argc, argv); }
