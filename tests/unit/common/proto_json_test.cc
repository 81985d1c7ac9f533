#include "common/proto_json.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "protos/anifarm.pb.h"

namespace anifarm {
namespace {

// protobuf's printer writes "total_frames":"12"; ours a number, and the
// text still reads back into the same message.
TEST(ProtoJsonTest, SixtyFourBitIntegersAreNumbersAndTheTextReadsBack) {
  v1::ListJobsResponse list;
  v1::JobStatus* job = list.add_jobs();
  job->set_job_id("job-\"1\"\n");
  job->set_state(v1::JOB_RUNNING);
  job->set_total_frames(12);
  job->set_created_at(1796687578);
  job->mutable_settings()->set_contrast(1.1f);  // optional: printed when set
  job->mutable_settings()->set_sharpen(0.95f);
  const std::string json = ProtoToJson(list);
  EXPECT_NE(json.find("\"total_frames\":12,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"created_at\":1796687578"), std::string::npos) << json;
  EXPECT_NE(json.find("\"frames_upscaled\":0"), std::string::npos) << json;
  EXPECT_NE(json.find("\"state\":\"JOB_RUNNING\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"contrast\":1.1,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"sharpen\":0.95,"), std::string::npos) << json;
  EXPECT_EQ(json.find("\"saturation\""), std::string::npos) << json;  // optional, not set
  EXPECT_NE(json.find("\"job_id\":\"job-\\\"1\\\"\\n\""), std::string::npos) << json;

  v1::ListJobsResponse back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &back).ok()) << json;
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(list, back))
      << back.DebugString();
}

TEST(ProtoJsonTest, EmptyRepeatedFieldsAndBytes) {
  EXPECT_EQ(ProtoToJson(v1::ListJobsResponse()), "{\"jobs\":[]}");
  v1::UploadChunk chunk;
  chunk.set_data("\x01\x02");
  EXPECT_NE(ProtoToJson(chunk).find("\"AQI=\""), std::string::npos) << ProtoToJson(chunk);
}

}  // namespace
}  // namespace anifarm
