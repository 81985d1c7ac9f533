// How the CLI shows a job and a node (client/job_view.h).
#include "client/job_view.h"

#include <gtest/gtest.h>

namespace anifarm {
namespace {

v1::JobStatus BigRunningJob() {
  v1::JobStatus job;
  job.set_state(v1::JOB_RUNNING);
  job.set_chunks_done(123);
  job.set_chunks_total(456);
  job.set_chunks_running(12);
  job.set_total_frames(240000);
  job.set_unique_frames(180000);
  job.set_frames_upscaled(90000);
  return job;
}

// A bar longer than the terminal wraps, and "\r" then redraws only its last
// row: every bar must fit in 80 columns, however large the counts.
TEST(JobViewTest, ProgressBarFitsEightyColumns) {
  v1::JobStatus job = BigRunningJob();
  const std::string busy = ProgressBar(job, 123.45, 359999);
  EXPECT_LE(busy.size(), kProgressBarColumns) << busy;
  EXPECT_NE(busy.find("upscaled 90000/180000"), std::string::npos) << busy;
  EXPECT_NE(busy.find("chunks 123/456"), std::string::npos) << busy;

  job.set_error("waiting: no live node can hold model realesr-animevideov3-x2 at fp16 "
                "(needs 2.1 GiB; the largest node has 1.0 GiB)");
  const std::string waiting = ProgressBar(job);
  EXPECT_LE(waiting.size(), kProgressBarColumns) << waiting;
  EXPECT_NE(waiting.find("waiting: no live"), std::string::npos) << waiting;
  EXPECT_NE(waiting.find("..."), std::string::npos) << waiting;
  EXPECT_NE(waiting.find("upscaled 90000/180000"), std::string::npos) << waiting;

  v1::JobStatus small;
  small.set_state(v1::JOB_RUNNING);
  small.set_chunks_total(1);
  small.set_total_frames(12);
  small.set_unique_frames(6);
  small.set_error("waiting: no live node");
  EXPECT_EQ(ProgressBar(small),
            "[--------------------]   0%  waiting: no live node  chunks 0/1  upscaled 0/6");

  // A running job's ETA comes before the reused count.
  v1::JobStatus running = small;
  running.set_error("");
  running.set_chunks_total(5);
  running.set_chunks_done(2);
  running.set_total_frames(120);
  running.set_unique_frames(100);
  running.set_frames_upscaled(40);
  const std::string with_eta = ProgressBar(running, 3.1, 19);
  EXPECT_EQ(with_eta.rfind("[########------------]  38%  running  chunks 2/5  upscaled 40/100"
                           "  ETA 0:19",
                           0),
            0u)
      << with_eta;
  EXPECT_LE(with_eta.size(), kProgressBarColumns) << with_eta;

  small.set_state(v1::JOB_DONE);
  small.set_frames_upscaled(6);
  EXPECT_EQ(ProgressBar(small),
            "[####################] 100%  done  chunks 0/1  upscaled 6/6  reused 6");
}

TEST(JobViewTest, AgoTextIsForPeople) {
  const int64_t now = 1796687578;
  EXPECT_EQ(AgoText(0, now), "never");
  EXPECT_EQ(AgoText(now + 3, now), "just now");  // the node's clock runs ahead
  EXPECT_EQ(AgoText(now - 12, now), "12 s ago");
  EXPECT_EQ(AgoText(now - 600, now), "10 min ago");
  EXPECT_EQ(AgoText(now - 5 * 3600, now), "5 h ago");
  const std::string old = AgoText(now - 30 * 86400, now);
  EXPECT_EQ(old.size(), 16u) << old;  // "2026-11-07 23:52", local time
  EXPECT_EQ(old[4], '-') << old;
}

}  // namespace
}  // namespace anifarm
