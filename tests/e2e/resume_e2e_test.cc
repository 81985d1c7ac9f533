// End-to-end tests of `anifarm run` resuming (coordinator/job_identity.h):
// the real binary killed with SIGKILL while upscaling or assembling, or
// stopped with Ctrl-C (SIGINT), then the same command again. The second run
// must upscale only what the first did not finish, and its output must
// decode to exactly the frames of a clean run (lossless FFV1). A changed
// input starts a new job, and --restart starts over.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/numbers.h"
#include "common/media/frame_convert.h"
#include "common/media/png_codec.h"
#include "common/media/test_clip.h"
#include "protos/anifarm.pb.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/subprocess.h"
#include "tests/unit/media/media_test_util.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;
using testing::Subprocess;

const std::string kBin = ANIFARM_BIN_DIR;
const std::string kModels = ANIFARM_TEST_MODEL_DIR;
constexpr int kFrames = 72;
constexpr char kChunkFrames[] = "12";  // with a GOP of 12: 6 chunks

// What a job's output decodes to: timestamps and RGB pixels per frame.
struct Decoded {
  std::vector<int64_t> timestamps;
  std::vector<std::vector<uint8_t>> pixels;
  bool operator==(const Decoded& other) const {
    return timestamps == other.timestamps && pixels == other.pixels;
  }
};

Decoded DecodeOutput(const std::string& path) {
  Decoded decoded;
  absl::StatusOr<std::vector<FramePtr>> frames = testing_util::DecodeAll(path);
  EXPECT_TRUE(frames.ok()) << path << ": " << frames.status();
  if (!frames.ok()) return decoded;
  for (const FramePtr& frame : *frames) {
    decoded.timestamps.push_back(frame->best_effort_timestamp);
    absl::StatusOr<RgbImage> rgb = FrameToRgb(*frame);
    EXPECT_TRUE(rgb.ok());
    decoded.pixels.push_back(rgb.ok() ? rgb->pixels : std::vector<uint8_t>());
  }
  return decoded;
}

// The number after `label` in `text` (-1 when absent).
int64_t NumberAfter(const std::string& text, const std::string& label) {
  const size_t at = text.rfind(label);
  if (at == std::string::npos) return -1;
  size_t end = at + label.size();
  while (end < text.size() && isdigit(static_cast<unsigned char>(text[end]))) ++end;
  int64_t value = -1;
  if (!absl::SimpleAtoi(text.substr(at + label.size(), end - at - label.size()), &value)) {
    return -1;
  }
  return value;
}

size_t Count(const std::string& text, const std::string& what) {
  size_t count = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++count;
  }
  return count;
}

class ResumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("resume");
    ASSERT_TRUE(fs::exists(kModels + "/2x-AniScale.pth")) << "models missing in " << kModels;
    input_ = (dir_ / "input.mp4").string();
    MakeClip(input_, 0);
    state_ = (dir_ / "state").string();
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // Held on twos, the opening back at the end; `shift` changes the pictures.
  void MakeClip(const std::string& path, int shift) {
    TestClipSpec spec;
    spec.width = 96;
    spec.height = 64;
    spec.gop = 12;
    spec.content = DefaultTestPattern(kFrames);
    for (int& picture : spec.content) picture += shift;
    ASSERT_TRUE(WriteTestClip(path, spec).ok());
  }

  std::vector<std::string> RunArgs(const std::string& output, const std::string& state,
                                   std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = {kBin + "/anifarm", "run",        input_,
                                     "-o",              output,       "--state-dir",
                                     state,             "--models-dir", kModels,
                                     "--model",         "2x-AniScale", "--codec",
                                     "ffv1",            "--chunk-frames", kChunkFrames};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  // A clean run of the same clip and settings in its own state dir: the
  // frames every resumed run must reproduce, and its upscaled count.
  void CleanRun(std::vector<std::string> extra = {}) {
    const std::string output = (dir_ / "clean.mkv").string();
    testing::CommandResult run =
        testing::RunToEnd(RunArgs(output, (dir_ / "clean-state").string(), extra), Log("clean"));
    ASSERT_EQ(run.code, 0) << run.err;
    clean_upscaled_ = NumberAfter(run.err, "frames (");
    ASSERT_GT(clean_upscaled_, 0) << run.err;
    clean_ = DecodeOutput(output);
    ASSERT_EQ(clean_.pixels.size(), static_cast<size_t>(kFrames));
  }

  // Starts the run and sends `signal` once `marker` is in its log `times`
  // times; returns the exit code. Chunks count by the run's "chunk N
  // finished" lines, printed once the store has the chunk: the node's
  // "done in" line comes before it reports the chunk.
  int RunUntil(const std::string& output, const std::string& marker, size_t times, int signal,
               const std::string& log, std::vector<std::string> extra = {}) {
    Subprocess run(RunArgs(output, state_, extra), Log(log));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
    while (run.Running() && std::chrono::steady_clock::now() < deadline &&
           Count(run.Stderr(), marker) < times) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_TRUE(run.Running()) << "finished before " << times << "x '" << marker << "'\n"
                               << run.Stderr();
    run.Signal(signal);
    const int code = run.Wait(std::chrono::seconds(60));
    first_err_ = run.Stderr();
    return code;
  }

  std::vector<v1::JobStatus> Jobs() {
    testing::CommandResult list = testing::RunToEnd(
        {kBin + "/anifarm", "jobs", "--state-dir", state_, "--json"}, Log("jobs"));
    EXPECT_EQ(list.code, 0) << list.err;
    v1::ListJobsResponse jobs;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(list.out, &jobs).ok()) << list.out;
    return {jobs.jobs().begin(), jobs.jobs().end()};
  }

  // The one job of the state dir, after the first run was stopped.
  v1::JobStatus StoppedJob(v1::JobState expected) {
    std::vector<v1::JobStatus> jobs = Jobs();
    EXPECT_EQ(jobs.size(), 1u);
    if (jobs.empty()) return {};
    EXPECT_EQ(jobs[0].state(), expected) << v1::JobState_Name(jobs[0].state());
    return jobs[0];
  }

  // The same command again: it continues `stopped`, upscales only the rest,
  // and its output is the clean run's.
  void ExpectContinued(const v1::JobStatus& stopped, const std::string& output,
                       std::vector<std::string> extra = {}) {
    testing::CommandResult again = testing::RunToEnd(RunArgs(output, state_, extra), Log("again"));
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_NE(again.err.find("continuing job " + stopped.job_id() + ": " +
                             std::to_string(stopped.chunks_done()) + " of " +
                             std::to_string(stopped.chunks_total()) + " chunks already done"),
              std::string::npos)
        << again.err;
    const int64_t this_run = NumberAfter(again.err, "this run upscaled ");
    EXPECT_EQ(this_run, clean_upscaled_ - stopped.frames_upscaled()) << again.err;
    EXPECT_EQ(NumberAfter(again.err, "frames ("), clean_upscaled_) << again.err;
    EXPECT_EQ(Jobs().size(), 1u) << "a new job was made";
    EXPECT_TRUE(DecodeOutput(output) == clean_) << "the output differs from a clean run's";
  }

  std::string Log(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
  std::string input_;
  std::string state_;
  std::string first_err_;
  Decoded clean_;
  int64_t clean_upscaled_ = 0;
};

TEST_F(ResumeTest, KilledWhileUpscalingTheSameCommandDoesOnlyTheRest) {
  ASSERT_NO_FATAL_FAILURE(CleanRun());
  const std::string output = (dir_ / "out.mkv").string();
  EXPECT_EQ(RunUntil(output, " finished\n", 2, SIGKILL, "killed"), 128 + SIGKILL);
  const v1::JobStatus stopped = StoppedJob(v1::JOB_RUNNING);
  ASSERT_GE(stopped.chunks_done(), 2);
  ASSERT_LT(stopped.chunks_done(), stopped.chunks_total());
  ASSERT_GT(stopped.frames_upscaled(), 0);
  ExpectContinued(stopped, output);
}

// --encode-at coordinator: the whole encode is the assembly, long enough to
// be killed in (the test checks that it was: the job is still ASSEMBLING).
TEST_F(ResumeTest, KilledWhileAssemblingTheSameCommandOnlyAssembles) {
  const std::vector<std::string> at_coordinator = {"--encode-at", "coordinator"};
  ASSERT_NO_FATAL_FAILURE(CleanRun(at_coordinator));
  const std::string output = (dir_ / "out.mkv").string();
  EXPECT_EQ(RunUntil(output, ": assembling ", 1, SIGKILL, "killed", at_coordinator),
            128 + SIGKILL);
  const v1::JobStatus stopped = StoppedJob(v1::JOB_ASSEMBLING);
  ASSERT_EQ(stopped.chunks_done(), stopped.chunks_total());
  ExpectContinued(stopped, output, at_coordinator);
}

TEST_F(ResumeTest, CtrlCStopsCleanlyAndTheSameCommandContinues) {
  ASSERT_NO_FATAL_FAILURE(CleanRun());
  const std::string output = (dir_ / "out.mkv").string();
  EXPECT_EQ(RunUntil(output, " finished\n", 2, SIGINT, "interrupted"), 130);
  EXPECT_NE(first_err_.find("interrupted: job "), std::string::npos) << first_err_;
  EXPECT_EQ(first_err_.find("stopped at once"), std::string::npos) << first_err_;
  const v1::JobStatus stopped = StoppedJob(v1::JOB_PAUSED);
  ASSERT_LT(stopped.chunks_done(), stopped.chunks_total());
  ExpectContinued(stopped, output);
}

TEST_F(ResumeTest, SecondCtrlCStopsAtOnceAndTheJobStillContinues) {
  ASSERT_NO_FATAL_FAILURE(CleanRun());
  const std::string output = (dir_ / "out.mkv").string();
  {
    Subprocess run(RunArgs(output, state_), Log("twice"));
    while (run.Running() && Count(run.Stderr(), " finished\n") < 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    run.Signal(SIGINT);
    // The second signal only counts once the first was taken.
    while (run.Running() && run.Stderr().find("Ctrl-C again") == std::string::npos) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    run.Signal(SIGINT);
    EXPECT_EQ(run.Wait(std::chrono::seconds(30)), 130);
    EXPECT_NE(run.Stderr().find("stopped at once"), std::string::npos) << run.Stderr();
  }
  ExpectContinued(StoppedJob(v1::JOB_PAUSED), output);
}

TEST_F(ResumeTest, ChangedInputStartsANewJobSayingWhy) {
  ASSERT_NO_FATAL_FAILURE(CleanRun());
  const std::string output = (dir_ / "out.mkv").string();
  EXPECT_EQ(RunUntil(output, " finished\n", 2, SIGKILL, "killed"), 128 + SIGKILL);
  const v1::JobStatus old_job = StoppedJob(v1::JOB_RUNNING);
  MakeClip(input_, 1);  // other pictures, and a newer modification time
  testing::CommandResult again = testing::RunToEnd(RunArgs(output, state_), Log("again"));
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.err.find("job " + old_job.job_id() +
                           " for the same output not continued: the input file changed"),
            std::string::npos)
      << again.err;
  EXPECT_NE(again.err.find("starting a new job"), std::string::npos) << again.err;
  EXPECT_EQ(again.err.find("continuing job"), std::string::npos) << again.err;
  EXPECT_FALSE(fs::exists(fs::path(state_) / "jobs" / old_job.job_id()));
  std::map<std::string, v1::JobState> states;
  for (const v1::JobStatus& job : Jobs()) states[job.job_id()] = job.state();
  EXPECT_EQ(states.size(), 2u);
  EXPECT_EQ(states[old_job.job_id()], v1::JOB_CANCELLED);
  EXPECT_FALSE(DecodeOutput(output) == clean_) << "the old input's frames";
}

TEST_F(ResumeTest, RestartUpscalesEverythingAgain) {
  ASSERT_NO_FATAL_FAILURE(CleanRun());
  const std::string output = (dir_ / "out.mkv").string();
  EXPECT_EQ(RunUntil(output, " finished\n", 2, SIGKILL, "killed"), 128 + SIGKILL);
  const v1::JobStatus old_job = StoppedJob(v1::JOB_RUNNING);
  testing::CommandResult again =
      testing::RunToEnd(RunArgs(output, state_, {"--restart"}), Log("restart"));
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.err.find("job " + old_job.job_id() + " deleted (--restart)"), std::string::npos)
      << again.err;
  EXPECT_EQ(again.err.find("continuing job"), std::string::npos) << again.err;
  EXPECT_EQ(NumberAfter(again.err, "frames ("), clean_upscaled_) << again.err;
  EXPECT_EQ(again.err.find("this run upscaled"), std::string::npos) << again.err;
  EXPECT_FALSE(fs::exists(fs::path(state_) / "jobs" / old_job.job_id()));
  EXPECT_TRUE(DecodeOutput(output) == clean_);
}

// Another command's unfinished job is listed, paused and left alone; its
// own command continues it later.
TEST_F(ResumeTest, OtherUnfinishedJobsAreListedAndLeftToTheirCommand) {
  ASSERT_NO_FATAL_FAILURE(CleanRun());
  const std::string first = (dir_ / "first.mkv").string();
  EXPECT_EQ(RunUntil(first, " finished\n", 2, SIGKILL, "killed"), 128 + SIGKILL);
  const v1::JobStatus stopped = StoppedJob(v1::JOB_RUNNING);
  const std::string second = (dir_ / "second.mkv").string();
  testing::CommandResult other = testing::RunToEnd(RunArgs(second, state_), Log("other"));
  ASSERT_EQ(other.code, 0) << other.err;
  EXPECT_NE(other.err.find("1 other unfinished job, not worked on by this run"), std::string::npos)
      << other.err;
  EXPECT_NE(other.err.find(stopped.job_id() + " (input.mp4, " +
                           std::to_string(stopped.chunks_done()) + "/"),
            std::string::npos)
      << other.err;
  EXPECT_EQ(NumberAfter(other.err, "frames ("), clean_upscaled_) << other.err;
  for (const v1::JobStatus& job : Jobs()) {
    if (job.job_id() != stopped.job_id()) continue;
    EXPECT_EQ(job.state(), v1::JOB_PAUSED);
    EXPECT_EQ(job.frames_upscaled(), stopped.frames_upscaled()) << "worked on by the other run";
  }
  testing::CommandResult again = testing::RunToEnd(RunArgs(first, state_), Log("again"));
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.err.find("continuing job " + stopped.job_id()), std::string::npos) << again.err;
  EXPECT_EQ(NumberAfter(again.err, "this run upscaled "),
            clean_upscaled_ - stopped.frames_upscaled())
      << again.err;
  EXPECT_TRUE(DecodeOutput(first) == clean_);
}

// A folder of images: each is a job; after a kill, the same command skips
// the images already done and does the rest.
TEST_F(ResumeTest, ImageBatchResumesAtTheFirstImageWithoutOutput) {
  const fs::path folder = dir_ / "stills";
  fs::create_directories(folder);
  const std::vector<std::string> names = {"a", "b", "c", "d", "e", "f"};
  for (size_t i = 0; i < names.size(); ++i) {
    RgbImage picture(160, 120);
    for (size_t p = 0; p < picture.pixels.size(); ++p) {
      picture.pixels[p] = static_cast<uint8_t>(p * (i + 3));
    }
    std::ofstream(folder / (names[i] + ".png"), std::ios::binary) << *EncodePng(picture);
  }
  const fs::path out = dir_ / "out";
  const std::vector<std::string> args = {kBin + "/anifarm", "run", folder.string(), "-o",
                                         out.string(), "--state-dir", state_, "--models-dir",
                                         kModels, "--model", "2x-AniScale", "--format", "png"};
  {
    Subprocess run(args, Log("killed"));
    while (run.Running() && Count(run.Stderr(), " done: ") < 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_TRUE(run.Running()) << run.Stderr();
    run.Signal(SIGKILL);
    run.Wait();
  }
  size_t outputs = 0;
  for (const std::string& name : names) outputs += fs::exists(out / (name + ".png"));
  ASSERT_GE(outputs, 1u);
  ASSERT_LT(outputs, names.size());
  testing::CommandResult again = testing::RunToEnd(args, Log("again"));
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(Count(again.err, ", skipped"), outputs) << again.err;
  for (const std::string& name : names) EXPECT_TRUE(fs::exists(out / (name + ".png"))) << name;
  EXPECT_EQ(Jobs().size(), names.size()) << "an image was done twice";
}

}  // namespace
}  // namespace anifarm
