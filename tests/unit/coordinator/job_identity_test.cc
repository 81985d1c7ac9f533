// The resume rule of `anifarm run` (coordinator/job_identity.h) on stored
// jobs: which one a command continues, which ones it discards and why.
#include "coordinator/job_identity.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace anifarm {
namespace {

namespace fs = std::filesystem;

class JobIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("anifarm-identity-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    std::ofstream(dir_ / "in.mp4") << "pictures";
    request_.set_input_path((dir_ / "in.mp4").string());
    request_.set_output_path((dir_ / "out.mkv").string());
    request_.mutable_settings()->set_model("2x-AniScale");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Key() const { return *ResumeKeyFor(request_); }

  static JobRecord Job(const std::string& id, v1::JobState state, const std::string& key) {
    JobRecord job;
    job.id = id;
    job.state = state;
    job.resume_key = key;
    return job;
  }

  fs::path dir_;
  v1::SubmitJobRequest request_;
};

TEST_F(JobIdentityTest, TheSameCommandContinuesItsUnfinishedJob) {
  const std::string key = Key();
  EXPECT_EQ(Key(), key) << "the key must not change between runs";
  const RunDecision decision =
      DecideRun(key, {Job("job-a", v1::JOB_RUNNING, key)}, /*restart=*/false, /*batch=*/false);
  EXPECT_EQ(decision.resume_job, "job-a");
  EXPECT_TRUE(decision.discard.empty());
  EXPECT_EQ(decision.notice, "");
}

TEST_F(JobIdentityTest, ChangedSettingsOrInputStartANewJobSayingWhy) {
  const std::string old_key = Key();
  request_.mutable_settings()->set_model("4x-Other");
  RunDecision decision = DecideRun(Key(), {Job("job-a", v1::JOB_PAUSED, old_key)}, false, false);
  EXPECT_EQ(decision.resume_job, "");
  EXPECT_EQ(decision.discard, std::vector<std::string>{"job-a"});
  EXPECT_NE(decision.notice.find("job job-a for the same output not continued: the settings "
                                 "changed; starting a new job"),
            std::string::npos)
      << decision.notice;

  request_.mutable_settings()->set_model("2x-AniScale");
  std::ofstream(dir_ / "in.mp4") << "other pictures, longer";
  decision = DecideRun(Key(), {Job("job-a", v1::JOB_RUNNING, old_key)}, false, false);
  EXPECT_EQ(decision.resume_job, "");
  EXPECT_NE(decision.notice.find("the input file changed"), std::string::npos) << decision.notice;
}

TEST_F(JobIdentityTest, RestartDiscardsAndOtherOutputsAreLeftAlone) {
  const std::string key = Key();
  v1::SubmitJobRequest other = request_;
  other.set_output_path((dir_ / "elsewhere.mkv").string());
  const std::vector<JobRecord> jobs = {Job("job-a", v1::JOB_RUNNING, key),
                                       Job("job-b", v1::JOB_RUNNING, *ResumeKeyFor(other)),
                                       Job("job-c", v1::JOB_DONE, key)};
  const RunDecision decision = DecideRun(key, jobs, /*restart=*/true, false);
  EXPECT_EQ(decision.resume_job, "");
  EXPECT_EQ(decision.discard, std::vector<std::string>{"job-a"});
  EXPECT_NE(decision.notice.find("job job-a deleted (--restart)"), std::string::npos);
  EXPECT_EQ(OtherUnfinishedLine(jobs, {"job-a"}).rfind("1 other unfinished job", 0), 0u)
      << OtherUnfinishedLine(jobs, {"job-a"});
  EXPECT_EQ(OtherUnfinishedLine(jobs, {"job-a", "job-b"}), "");
}

TEST_F(JobIdentityTest, BatchSkipsADoneInputWhoseOutputIsThere) {
  const std::string key = Key();
  const std::vector<JobRecord> jobs = {Job("job-a", v1::JOB_DONE, key)};
  EXPECT_EQ(DecideRun(key, jobs, false, /*batch=*/true).done_job, "");  // no output yet
  std::ofstream(dir_ / "out.mkv") << "upscaled";
  EXPECT_EQ(DecideRun(key, jobs, false, /*batch=*/true).done_job, "job-a");
  EXPECT_EQ(DecideRun(key, jobs, false, /*batch=*/false).done_job, "") << "one file: done again";
  EXPECT_EQ(DecideRun(key, jobs, /*restart=*/true, /*batch=*/true).done_job, "");
}

}  // namespace
}  // namespace anifarm
