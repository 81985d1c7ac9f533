// Farm operations on real processes (coordinator + nodes on loopback gRPC,
// real model weights, real encodes): several jobs at different priorities
// sharing two nodes, and nodes that return corrupted results (through the
// node's test-only ANIFARM_TEST_CORRUPT_RESULTS hook, see node/node_worker.cc).
// Each run ends with a check of the output and of the job's counters.
#include <arpa/inet.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

extern "C" {
#include <libavformat/avformat.h>
}

#include "common/media/frame_convert.h"
#include "common/media/media_info.h"
#include "common/media/source_reader.h"
#include "common/media/test_clip.h"
#include "common/media/video_decoder.h"
#include "protos/anifarm.pb.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/subprocess.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;
using testing::FreeLoopbackPort;
using testing::Subprocess;

const std::string kBin = ANIFARM_BIN_DIR;
const std::string kModels = ANIFARM_TEST_MODEL_DIR;
constexpr int kFrames = 48;
constexpr char kCorruptEnv[] = "ANIFARM_TEST_CORRUPT_RESULTS";

// Every frame of a video, as RGB, in presentation order.
std::vector<RgbImage> DecodeAll(const std::string& path) {
  std::vector<RgbImage> images;
  auto reader = SourceReader::Open(path);
  EXPECT_TRUE(reader.ok()) << path;
  if (!reader.ok()) return images;
  auto decoder = VideoDecoder::Create((*reader)->info().video);
  EXPECT_TRUE(decoder.ok());
  if (!decoder.ok()) return images;
  std::vector<FramePtr> frames;
  while (true) {
    auto packet = (*reader)->NextVideoPacket();
    if (!packet.ok() || !*packet) break;
    EXPECT_TRUE((*decoder)->Decode(**packet, &frames).ok());
  }
  EXPECT_TRUE((*decoder)->Flush(&frames).ok());
  for (const FramePtr& frame : frames) images.push_back(*FrameToRgb(*frame));
  return images;
}

// PSNR of `out` against a bilinear 2x of `src`: a correct upscale stays
// close to it; a missing, shifted or garbage frame does not.
double PsnrAgainstBilinear(const RgbImage& src, const RgbImage& out) {
  if (out.width != 2 * src.width || out.height != 2 * src.height) return 0;
  double squared = 0;
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      const double sx = std::clamp((x + 0.5) / 2 - 0.5, 0.0, src.width - 1.0);
      const double sy = std::clamp((y + 0.5) / 2 - 0.5, 0.0, src.height - 1.0);
      const int x0 = int(sx), y0 = int(sy);
      const int x1 = std::min(x0 + 1, src.width - 1), y1 = std::min(y0 + 1, src.height - 1);
      const double fx = sx - x0, fy = sy - y0;
      for (int c = 0; c < 3; ++c) {
        auto at = [&](int xx, int yy) { return double(src.row(yy)[xx * 3 + c]); };
        const double expected = (at(x0, y0) * (1 - fx) + at(x1, y0) * fx) * (1 - fy) +
                                (at(x0, y1) * (1 - fx) + at(x1, y1) * fx) * fy;
        const double diff = expected - out.row(y)[x * 3 + c];
        squared += diff * diff;
      }
    }
  }
  const double mse = squared / (double(out.width) * out.height * 3);
  return 10 * std::log10(255.0 * 255.0 / std::max(mse, 1e-10));
}

// GET over plain HTTP/1.0 on loopback (the coordinator's --http endpoint).
std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request =
        "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      ssize_t n;
      while ((n = read(fd, buffer, sizeof(buffer))) > 0) response.append(buffer, n);
    }
  }
  close(fd);
  return response;
}

// A counter's value in a Prometheus text body, -1 when absent.
int64_t Metric(const std::string& body, const std::string& name) {
  const std::string key = "\n" + name + " ";
  const size_t at = body.find(key);
  if (at == std::string::npos) return -1;
  return std::atoll(body.c_str() + at + key.size());
}

// The job ids of "job J chunk C: done in S s" lines in a node's log,
// in the order the node finished (= leased: a node runs one chunk at a time).
std::vector<std::string> JobsInCompletionOrder(const std::string& log) {
  std::vector<std::string> jobs;
  std::istringstream lines(log);
  std::string line;
  const std::string prefix = "anifarm-node: job ";
  while (std::getline(lines, line)) {
    // After the log line's time and level.
    const size_t at = line.find(prefix);
    if (at == std::string::npos || line.find(": done in ") == std::string::npos) {
      continue;
    }
    const size_t start = at + prefix.size();
    jobs.push_back(line.substr(start, line.find(' ', start) - start));
  }
  return jobs;
}

class FarmOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("ops");
    ASSERT_TRUE(fs::exists(kModels + "/2x-AniScale.pth")) << "models missing in " << kModels;
    address_ = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
    http_port_ = FreeLoopbackPort();
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // 48 frames held on twos with the opening pictures repeated at the end:
  // 20 distinct pictures, 4 chunks of 12 of which all need a node.
  std::string MakeClip(const std::string& name, int width, int height) {
    TestClipSpec spec;
    spec.width = width;
    spec.height = height;
    spec.gop = 12;
    spec.content = DefaultTestPattern(kFrames);
    distinct_ = std::set<int>(spec.content.begin(), spec.content.end()).size();
    const std::string path = (dir_ / name).string();
    EXPECT_TRUE(WriteTestClip(path, spec).ok());
    return path;
  }

  std::unique_ptr<Subprocess> StartCoordinator() {
    return std::make_unique<Subprocess>(
        std::vector<std::string>{kBin + "/anifarm-coordinator", "--listen", address_,
                                 "--state-dir", (dir_ / "state").string(), "--models-dir",
                                 kModels, "--chunk-frames", "12", "--lease-timeout", "20",
                                 "--http", "127.0.0.1:" + std::to_string(http_port_)},
        Log("coordinator"));
  }
  // `corrupt` > 0 sets the node's test-only fault injection: its first
  // `corrupt` completed chunks arrive with a corrupted frame.
  std::unique_ptr<Subprocess> StartNode(const std::string& name, int corrupt = 0) {
    // The child inherits the environment at fork(); set it only around it.
    if (corrupt > 0) setenv(kCorruptEnv, std::to_string(corrupt).c_str(), 1);
    auto node = std::make_unique<Subprocess>(
        std::vector<std::string>{kBin + "/anifarm-node", "--coordinator", address_,
                                 "--cache-dir", (dir_ / ("cache-" + name)).string(), "--device",
                                 "cpu"},
        Log(name));
    unsetenv(kCorruptEnv);
    return node;
  }
  std::string Submit(const std::string& input, const std::string& output,
                     std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {kBin + "/anifarm", "submit", input, "-o", output,
                                     "--coordinator", address_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    Subprocess submit(argv, Log("submit"));
    EXPECT_EQ(submit.Wait(), 0) << submit.Stderr();
    return submit.Stdout().substr(0, submit.Stdout().find('\n'));
  }
  v1::JobStatus Status(const std::string& job_id) {
    Subprocess status({kBin + "/anifarm", "status", job_id, "--json", "--coordinator", address_},
                      Log("status"));
    v1::JobStatus job;
    if (status.Wait(std::chrono::seconds(60)) == 0) {
      (void)google::protobuf::util::JsonStringToMessage(status.Stdout(), &job);
    }
    return job;
  }
  v1::ListNodesResponse Nodes() {
    Subprocess nodes({kBin + "/anifarm", "nodes", "--json", "--coordinator", address_},
                     Log("nodes"));
    v1::ListNodesResponse list;
    EXPECT_EQ(nodes.Wait(std::chrono::seconds(60)), 0) << nodes.Stderr();
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(nodes.Stdout(), &list).ok())
        << nodes.Stdout();
    return list;
  }
  int64_t ChunkFailures() {
    return Metric(HttpGet(http_port_, "/metrics"), "anifarm_chunk_failures_total");
  }
  // Polls until `ready` holds for every job (or `timeout` passes).
  template <typename Ready>
  bool WaitForAll(const std::vector<std::string>& ids, Ready ready,
                  std::chrono::seconds timeout = std::chrono::seconds(300)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      bool all = true;
      for (const std::string& id : ids) all = all && !id.empty() && ready(Status(id));
      if (all) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }
  static bool Finished(const v1::JobStatus& job) {
    return job.state() == v1::JOB_DONE || job.state() == v1::JOB_FAILED ||
           job.state() == v1::JOB_CANCELLED;
  }

  // The output is the whole clip, 2x, with its audio, every frame an
  // upscale of its own source frame; the counters say each distinct picture
  // was upscaled exactly once.
  void ExpectCompleteJob(const std::string& job_id, const std::string& input,
                         const std::string& output) {
    const v1::JobStatus job = Status(job_id);
    EXPECT_EQ(job.state(), v1::JOB_DONE) << job.error();
    EXPECT_EQ(job.total_frames(), kFrames);
    EXPECT_EQ(job.unique_frames(), static_cast<int64_t>(distinct_));
    EXPECT_EQ(job.frames_upscaled(), job.unique_frames());
    EXPECT_EQ(job.frames_upscaled() + job.frames_reused(), job.total_frames());
    EXPECT_EQ(job.chunks_done(), job.chunks_total());
    auto source = ProbeMedia(input);
    auto result = ProbeMedia(output);
    ASSERT_TRUE(source.ok());
    ASSERT_TRUE(result.ok()) << output << ": " << result.status();
    EXPECT_EQ(result->video.width, 2 * source->video.width);
    EXPECT_EQ(result->video.height, 2 * source->video.height);
    EXPECT_EQ(job.output_width(), 2 * source->video.width);
    EXPECT_EQ(*CountVideoFrames(output), kFrames);
    ASSERT_EQ(result->audio_stream_count, 1);
    const double frame_seconds = 1.0 / av_q2d(source->frame_rate);
    EXPECT_NEAR(result->audio_duration_seconds, source->audio_duration_seconds, frame_seconds);
    const std::vector<RgbImage> in = DecodeAll(input);
    const std::vector<RgbImage> out = DecodeAll(output);
    ASSERT_EQ(in.size(), static_cast<size_t>(kFrames));
    ASSERT_EQ(out.size(), static_cast<size_t>(kFrames));
    double worst = 1e9;
    int worst_frame = -1;
    for (int i = 0; i < kFrames; ++i) {
      const double psnr = PsnrAgainstBilinear(in[i], out[i]);
      if (psnr < worst) worst = psnr, worst_frame = i;
    }
    EXPECT_GT(worst, 22.0) << "output frame " << worst_frame << " is not an upscale of its source";
  }

  std::string Log(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
  std::string address_;
  int http_port_ = 0;
  size_t distinct_ = 0;
};

// Three jobs queued before any node exists, then two nodes. The lease query
// (JobStore::LeaseNextChunk) orders queued chunks by priority (highest
// first), then submission time: every chunk of the priority-10 job is leased
// before any of the priority-5 job, and those before any of priority 0. A
// node runs one chunk at a time, so in each node's own log the jobs appear in
// non-increasing priority, whatever the timing. Across nodes, the lowest
// priority job cannot finish before the highest: it needs all 6+ chunks of
// the two other jobs' leftovers done while the other node runs at most one.
TEST_F(FarmOpsTest, ThreeJobsByPriorityOnTwoNodes) {
  auto coordinator = StartCoordinator();
  std::map<int, std::string> inputs = {{0, MakeClip("p0.mp4", 96, 64)},
                                             {5, MakeClip("p5.mp4", 96, 64)},
                                             {10, MakeClip("p10.mp4", 96, 64)}};
  std::map<int, std::string> ids, outputs;
  std::map<std::string, int> priority_of;
  for (int priority : {0, 5, 10}) {  // the lowest priority is the oldest
    outputs[priority] = (dir_ / ("out-p" + std::to_string(priority) + ".mp4")).string();
    ids[priority] = Submit(inputs[priority], outputs[priority],
                           {"--priority", std::to_string(priority), "--tile", "48",
                            "--tile-overlap", "8"});
    ASSERT_FALSE(ids[priority].empty());
    priority_of[ids[priority]] = priority;
  }
  // All three planned (chunks queued) before a node can lease anything.
  ASSERT_TRUE(WaitForAll({ids[0], ids[5], ids[10]},
                         [](const v1::JobStatus& j) { return j.state() == v1::JOB_RUNNING; },
                         std::chrono::seconds(120)))
      << coordinator->Stderr();

  auto node_a = StartNode("node-a");
  auto node_b = StartNode("node-b");
  ASSERT_TRUE(WaitForAll({ids[0], ids[5], ids[10]}, Finished))
      << coordinator->Stderr() << node_a->Stderr() << node_b->Stderr();

  for (int priority : {0, 5, 10}) {
    SCOPED_TRACE("priority " + std::to_string(priority));
    ExpectCompleteJob(ids[priority], inputs[priority], outputs[priority]);
  }

  // Each node's chunks, in the order it ran them: priorities never go up.
  int chunks_run = 0;
  for (Subprocess* node : {node_a.get(), node_b.get()}) {
    const std::vector<std::string> order = JobsInCompletionOrder(node->Stderr());
    chunks_run += static_cast<int>(order.size());
    std::vector<int> priorities;
    for (const std::string& id : order) priorities.push_back(priority_of.at(id));
    EXPECT_TRUE(std::is_sorted(priorities.rbegin(), priorities.rend()))
        << ::testing::PrintToString(priorities) << "\n"
        << node->Stderr();
  }
  // 4 chunks per job need a node (none is all duplicates); no chunk ran twice.
  EXPECT_EQ(chunks_run, 12);

  const v1::JobStatus high = Status(ids[10]);
  const v1::JobStatus low = Status(ids[0]);
  EXPECT_GT(high.finished_at(), 0);
  EXPECT_LE(high.finished_at(), low.finished_at());

  // The nodes' own counters add up to the jobs'.
  int64_t node_frames = 0;
  const v1::ListNodesResponse nodes = Nodes();
  EXPECT_EQ(nodes.nodes_size(), 2);
  for (const v1::NodeInfo& node : nodes.nodes()) {
    node_frames += node.frames_upscaled();
    if (node.frames_upscaled() > 0) EXPECT_GT(node.fps(), 0.0) << node.node_id();
  }
  EXPECT_EQ(node_frames, 3 * static_cast<int64_t>(distinct_));
  EXPECT_EQ(ChunkFailures(), 0);
  // RPC latencies: every lease and completion of the run was timed (12
  // chunks completed, and at least as many leases asked for).
  const std::string metrics = HttpGet(http_port_, "/metrics");
  EXPECT_EQ(Metric(metrics, "anifarm_rpc_seconds_count{method=\"CompleteChunk\"}"), 12)
      << metrics;
  EXPECT_GE(Metric(metrics, "anifarm_rpc_seconds_count{method=\"LeaseChunk\"}"), 12);
  EXPECT_NE(metrics.find("anifarm_rpc_seconds_bucket{method=\"LeaseChunk\",le=\"+Inf\"}"),
            std::string::npos);
  EXPECT_NE(metrics.find("anifarm_node_fps{node=\"node-"), std::string::npos) << metrics;
}

// A node whose every result arrives corrupted, next to an honest one. The
// coordinator checks each frame's sha256 (Coordinator::CheckResult), refuses
// the result and requeues the chunk; after 3 failures on the job the
// corrupting node is blocklisted for it (node_failures_before_blocklist) and
// the honest node finishes. The output is complete and correct, and refused
// frames are counted nowhere.
TEST_F(FarmOpsTest, CorruptingNodeNextToHonestNode) {
  const std::string input = MakeClip("input.mp4", 128, 96);
  const std::string output = (dir_ / "output.mp4").string();
  auto coordinator = StartCoordinator();
  auto corrupting = StartNode("corrupting", /*corrupt=*/1000);
  const std::string job_id = Submit(input, output);
  ASSERT_FALSE(job_id.empty());
  // The corrupting node holds a lease before the honest one exists, so at
  // least one corrupted result reaches the coordinator.
  ASSERT_TRUE(WaitForAll({job_id}, [](const v1::JobStatus& j) { return j.chunks_running() > 0; },
                         std::chrono::seconds(120)))
      << coordinator->Stderr() << corrupting->Stderr();
  auto honest = StartNode("honest");
  ASSERT_TRUE(WaitForAll({job_id}, Finished))
      << coordinator->Stderr() << corrupting->Stderr() << honest->Stderr();
  ExpectCompleteJob(job_id, input, output);

  // Every refusal is a chunk failure; the node is told why, and stops
  // getting this job's chunks after its third.
  const std::string corrupting_log = corrupting->Stderr();
  const int64_t failures = ChunkFailures();
  EXPECT_GE(failures, 1) << coordinator->Stderr();
  EXPECT_LE(failures, 3) << corrupting_log;
  EXPECT_NE(corrupting_log.find("sha256 mismatch"), std::string::npos) << corrupting_log;
  // Each refused chunk was leased again, and its chunk map entry (the
  // dashboard's) counts the failed attempts and says why.
  EXPECT_GE(Metric(HttpGet(http_port_, "/metrics"), "anifarm_chunk_retries_total"), failures);
  const std::string chunks = HttpGet(http_port_, "/api/jobs/" + job_id + "/chunks");
  bool any_failed = false;
  for (size_t at = chunks.find("\"failures\":"); at != std::string::npos;
       at = chunks.find("\"failures\":", at + 1)) {
    any_failed |= chunks[at + 11] >= '1' && chunks[at + 11] <= '9';
  }
  EXPECT_TRUE(any_failed) << chunks;
  EXPECT_NE(chunks.find("sha256"), std::string::npos) << chunks;
  // Refused frames are not credited: the honest node did all the frames.
  const v1::ListNodesResponse nodes = Nodes();
  ASSERT_EQ(nodes.nodes_size(), 2);
  int64_t node_frames = 0;
  for (const v1::NodeInfo& node : nodes.nodes()) {
    node_frames += node.frames_upscaled();
  }
  EXPECT_EQ(node_frames, static_cast<int64_t>(distinct_));
  int64_t zero_nodes = 0;
  for (const v1::NodeInfo& node : nodes.nodes()) zero_nodes += node.frames_upscaled() == 0;
  EXPECT_EQ(zero_nodes, 1) << "the corrupting node must have no frame credited";
}

// The only node corrupts everything: its first 3 results are refused, it is
// then blocklisted for the job, no live node is left for it and the job
// fails; `submit --wait` exits 4 naming the refusal.
TEST_F(FarmOpsTest, OnlyCorruptingNodeFailsTheJob) {
  const std::string input = MakeClip("input.mp4", 128, 96);
  const std::string output = (dir_ / "output.mp4").string();
  auto coordinator = StartCoordinator();
  auto corrupting = StartNode("corrupting", /*corrupt=*/1000);
  Subprocess submit({kBin + "/anifarm", "submit", input, "-o", output, "--wait",
                     "--coordinator", address_},
                    Log("submit-wait"));
  ASSERT_EQ(submit.Wait(std::chrono::seconds(300)), 4)
      << submit.Stderr() << coordinator->Stderr() << corrupting->Stderr();
  EXPECT_NE(submit.Stderr().find("sha256 mismatch"), std::string::npos) << submit.Stderr();
  EXPECT_NE(submit.Stderr().find("corrupted"), std::string::npos) << submit.Stderr();
  const std::string job_id = submit.Stdout().substr(0, submit.Stdout().find('\n'));
  const v1::JobStatus job = Status(job_id);
  EXPECT_EQ(job.state(), v1::JOB_FAILED);
  EXPECT_NE(job.error().find("sha256 mismatch"), std::string::npos) << job.error();
  EXPECT_EQ(job.frames_upscaled(), 0);
  EXPECT_EQ(ChunkFailures(), 3);
  EXPECT_FALSE(fs::exists(output));
  const v1::ListNodesResponse nodes = Nodes();
  ASSERT_EQ(nodes.nodes_size(), 1);
  EXPECT_EQ(nodes.nodes(0).frames_upscaled(), 0);
  EXPECT_EQ(nodes.nodes(0).chunks_done(), 0);
}

// A node that advertises too little memory for the job's model
// (--max-memory) is never given its chunks. With only that node live, the
// job is known at submit to be one no node can take: it fails at once with
// a line naming the node and what it lacks, rather than waiting. Retried
// once a node that can hold the model is up, it runs there only.
TEST_F(FarmOpsTest, NodeWithTooLittleMemoryGetsNoWork) {
  const std::string input = MakeClip("input.mp4", 96, 64);
  const std::string output = (dir_ / "output.mp4").string();
  auto coordinator = StartCoordinator();
  auto small = std::make_unique<Subprocess>(
      std::vector<std::string>{kBin + "/anifarm-node", "--coordinator", address_, "--cache-dir",
                               (dir_ / "cache-small").string(), "--max-memory", "64M"},
      Log("small"));
  v1::ListNodesResponse nodes;
  for (int i = 0; i < 100 && nodes.nodes_size() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    nodes = Nodes();
  }
  ASSERT_EQ(nodes.nodes_size(), 1);
  EXPECT_EQ(nodes.nodes(0).memory_bytes(), 64LL << 20);
  const std::string job_id = Submit(input, output);
  ASSERT_FALSE(job_id.empty());
  v1::JobStatus job = Status(job_id);
  EXPECT_EQ(job.state(), v1::JOB_FAILED);
  EXPECT_NE(job.error().find("no live node can take this job"), std::string::npos)
      << job.error();
  EXPECT_NE(job.error().find("memory"), std::string::npos) << job.error();
  EXPECT_EQ(job.chunks_done(), 0);

  auto big = StartNode("big");
  for (int i = 0; i < 100 && Nodes().nodes_size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Subprocess retry({kBin + "/anifarm", "retry", job_id, "--coordinator", address_},
                   Log("retry"));
  ASSERT_EQ(retry.Wait(std::chrono::seconds(30)), 0) << retry.Stderr();
  Subprocess watch({kBin + "/anifarm", "status", job_id, "--watch", "--coordinator", address_},
                   Log("watch"));
  ASSERT_EQ(watch.Wait(std::chrono::seconds(300)), 0) << watch.Stderr() << coordinator->Stderr();
  job = Status(job_id);
  EXPECT_EQ(job.frames_upscaled(), static_cast<int64_t>(distinct_));
  EXPECT_EQ(*CountVideoFrames(output), kFrames);
  nodes = Nodes();
  ASSERT_EQ(nodes.nodes_size(), 2);
  for (const v1::NodeInfo& node : nodes.nodes()) {
    if (node.memory_bytes() == (64LL << 20)) {
      EXPECT_EQ(node.chunks_done(), 0) << "the small node got work";
    } else {
      EXPECT_EQ(node.chunks_done(), job.chunks_total() - 0) << node.node_id();
      EXPECT_GT(node.memory_bytes(), 1LL << 30) << "a CPU node advertises its RAM";
    }
  }
}

// One process, one worker per device: `--device cpu,cpu` stands in for a
// two-GPU machine (`--device cuda:all`). Each worker is a node of its own,
// both share the work, and each reports its memory.
TEST_F(FarmOpsTest, OneWorkerPerDeviceEachANode) {
  const std::string input = MakeClip("input.mp4", 96, 64);
  const std::string output = (dir_ / "output.mp4").string();
  auto coordinator = StartCoordinator();
  auto node = std::make_unique<Subprocess>(
      std::vector<std::string>{kBin + "/anifarm-node", "--coordinator", address_, "--cache-dir",
                               (dir_ / "cache").string(), "--device", "cpu,cpu"},
      Log("two-workers"));
  const std::string job_id = Submit(input, output, {"--wait"});
  ASSERT_FALSE(job_id.empty());
  v1::JobStatus job = Status(job_id);
  ASSERT_EQ(job.state(), v1::JOB_DONE) << job.error();
  EXPECT_EQ(job.frames_upscaled(), static_cast<int64_t>(distinct_));
  EXPECT_EQ(*CountVideoFrames(output), kFrames);
  v1::ListNodesResponse nodes = Nodes();
  ASSERT_EQ(nodes.nodes_size(), 2) << node->Stderr();
  int chunks = 0;
  for (const v1::NodeInfo& worker : nodes.nodes()) {
    EXPECT_GT(worker.chunks_done(), 0) << worker.node_id() << " did no work";
    EXPECT_GT(worker.memory_usage().in_use_bytes(), 10 << 20) << "resident memory reported";
    EXPECT_GT(worker.memory_usage().free_bytes(), 0);
    // The job's model stays in each worker's model cache, under its budget;
    // a CPU has no caching allocator to report.
    EXPECT_EQ(worker.memory_usage().models_cached(), 1) << worker.node_id();
    EXPECT_GT(worker.memory_usage().model_cache_bytes(), 0);
    EXPECT_GE(worker.memory_usage().model_cache_budget_bytes(), worker.memory_usage().model_cache_bytes());
    EXPECT_EQ(worker.memory_usage().allocated_bytes(), -1);
    EXPECT_TRUE(worker.current_job_id().empty()) << "idle after the job";
    chunks += worker.chunks_done();
  }
  EXPECT_EQ(chunks, job.chunks_total());
  // One copy of the model in the shared cache, and no temporary left over.
  int cached = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "cache" / "models")) {
    if (entry.path().extension() == ".pth") ++cached;
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
  }
  EXPECT_EQ(cached, 1);
  const std::string metrics = HttpGet(http_port_, "/metrics");
  EXPECT_NE(metrics.find("anifarm_node_memory_in_use_bytes{node="), std::string::npos);
  EXPECT_NE(metrics.find("anifarm_node_model_cache_bytes{node="), std::string::npos);
  EXPECT_NE(metrics.find("anifarm_node_memory_reserved_bytes{node="), std::string::npos);
}

}  // namespace
}  // namespace anifarm
