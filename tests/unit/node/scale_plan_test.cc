#include "node/scale_plan.h"

#include <gtest/gtest.h>

namespace anifarm {
namespace {

TEST(ScalePlanTest, NativeScaleIsOnePass) {
  auto plan = PlanScale(640, 360, 2, 0);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->passes, 1);
  EXPECT_EQ(plan->output_width, 1280);
  EXPECT_EQ(plan->output_height, 720);
}

TEST(ScalePlanTest, HigherScalesChainPassesAndShrinkTiles) {
  EXPECT_EQ(PlanScale(64, 48, 2, 4)->passes, 2);
  EXPECT_EQ(PlanScale(64, 48, 2, 8)->passes, 3);
  EXPECT_EQ(PlanScale(64, 48, 2, 8)->tile_factor, 0.5);
  EXPECT_EQ(PlanScale(64, 48, 2, 16)->passes, 4);
  EXPECT_EQ(PlanScale(64, 48, 2, 16)->tile_factor, 0.25);
  EXPECT_EQ(PlanScale(64, 48, 4, 4)->passes, 1);
  EXPECT_EQ(PlanScale(64, 48, 4, 8)->passes, 2);  // 16x, then down to 8x
  EXPECT_EQ(PlanScale(64, 48, 4, 8)->output_width, 512);
}

TEST(ScalePlanTest, OneTimesUpscalesThenReturnsToSourceSize) {
  auto plan = PlanScale(64, 48, 2, 1);
  EXPECT_EQ(plan->passes, 1);
  EXPECT_EQ(plan->output_width, 64);
  EXPECT_EQ(plan->output_height, 48);
}

TEST(ScalePlanTest, ExactSizeKeepsAspectInsideTheBox) {
  auto plan = PlanScale(640, 360, 2, 0, 1920, 1200);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->output_width, 1920);
  EXPECT_EQ(plan->output_height, 1080);
  EXPECT_EQ(plan->passes, 2);  // 2x is not enough for 3x
  EXPECT_FALSE(PlanScale(640, 360, 2, 0, 1920, 0).ok());
}

}  // namespace
// Anamorphic DVD sources: square pixels at the display aspect; the passes
// follow the lines (x2 with a 2x model: one pass, then the width's stretch).
TEST(ScalePlanTest, AnamorphicSourcesGetSquarePixels) {
  auto wide = PlanScale(720, 480, 2, 2, 0, 0, AVRational{32, 27});
  ASSERT_TRUE(wide.ok());
  EXPECT_EQ(wide->output_width, 1706);
  EXPECT_EQ(wide->output_height, 960);
  EXPECT_EQ(wide->passes, 1);
  EXPECT_EQ(PlanScale(720, 480, 2, 2, 0, 0, AVRational{8, 9})->output_width, 1280);
  auto kept = PlanScale(720, 480, 2, 2, 0, 0, AVRational{32, 27}, /*keep_sar=*/true);
  EXPECT_EQ(kept->output_width, 1440);
  EXPECT_EQ(kept->output_height, 960);
  auto box = PlanScale(720, 480, 2, 0, 1920, 1080, AVRational{8, 9});
  EXPECT_EQ(box->output_width, 1440);
  EXPECT_EQ(box->output_height, 1080);
  EXPECT_EQ(box->passes, 2);  // 2.25x down from 4x
  EXPECT_EQ(PlanScale(720, 480, 2, 0, 1920, 1080, AVRational{32, 27})->output_width, 1920);
}

}  // namespace anifarm
