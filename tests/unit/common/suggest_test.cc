// "Did you mean" (common/suggest.h) and the names it is used for: encoder
// presets, checked at submit from the codec table (encode_settings.h).
#include "common/suggest.h"

#include <gtest/gtest.h>

#include "common/media/encode_settings.h"
#include "coordinator/settings.h"

namespace anifarm {
namespace {

TEST(SuggestTest, EditDistanceIgnoresCase) {
  EXPECT_EQ(EditDistance("", "abc"), 3);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3);
  EXPECT_EQ(EditDistance("SLOW", "slow"), 0);
  EXPECT_EQ(EditDistance("ultrafastest", "ultrafast"), 3);
}

TEST(SuggestTest, ClosestNameOnlyWhenItLooksLikeATypo) {
  const std::vector<std::string> presets = {"ultrafast", "superfast", "fast", "slow", "slower"};
  EXPECT_EQ(ClosestName("ultrafastest", presets), "ultrafast");
  EXPECT_EQ(ClosestName("slwo", presets), "slow");
  EXPECT_EQ(ClosestName("quality", presets), "");
  EXPECT_EQ(DidYouMean("sloww", presets), "; did you mean 'slow'?");
  EXPECT_EQ(DidYouMean("x", {}), "");
}

TEST(SuggestTest, PresetsAreCheckedAgainstTheCodecTable) {
  EXPECT_TRUE(CheckPreset("h264", "veryslow").ok());
  EXPECT_TRUE(CheckPreset("libx265", "Medium").ok());  // an alias, any case
  EXPECT_TRUE(CheckPreset("hevc_nvenc", "p7").ok());
  EXPECT_TRUE(CheckPreset("h264_nvenc", "slow").ok());  // mapped to p6
  EXPECT_TRUE(CheckPreset("prores", "anything").ok());  // no presets: ignored
  EXPECT_TRUE(CheckPreset("h264", "").ok());
  const absl::Status typo = CheckPreset("h264", "ultrafastest");
  EXPECT_EQ(typo.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(typo.message().find("did you mean 'ultrafast'?"), std::string::npos) << typo;
  EXPECT_FALSE(CheckPreset("h264", "p5").ok());  // NVENC's names are NVENC's only
  const absl::Status planned =
      PlanEncoder(EncodeSettings{"h265", -1, "placebos", ""}, "out.mkv", 64, 48).status();
  EXPECT_NE(planned.message().find("did you mean 'placebo'?"), std::string::npos) << planned;
}

TEST(SuggestTest, SubmitRefusesAMistypedPresetOrCodec) {
  v1::ProcessingSettings settings;
  settings.set_preset("veryfastt");
  absl::Status status = NormalizeSettings(&settings);
  EXPECT_EQ(status.message().substr(0, 20), "--preset 'veryfastt'") << status;
  EXPECT_NE(status.message().find("did you mean 'veryfast'?"), std::string::npos) << status;
  settings.set_preset("");
  settings.set_codec("h2655");
  status = NormalizeSettings(&settings);
  EXPECT_NE(status.message().find("did you mean 'h265'?"), std::string::npos) << status;
}

}  // namespace
}  // namespace anifarm
