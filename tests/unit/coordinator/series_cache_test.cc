// The series cache on its own: hits need the same settings key and the same
// drawing (coding noise passes, a changed drawing does not), the byte budget
// drops the least recently used entries, and the cache outlives its process.
#include "coordinator/series_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "common/media/ffmpeg_ptr.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;

// The cache feature of a 192x108 frame: a flat picture with a box at `box_x`
// and, with `noise`, small random deviations (another encode of it).
PictureFeature FeatureOf(int box_x, int noise_seed = 0) {
  FramePtr frame = MakeFrame();
  frame->format = AV_PIX_FMT_YUV420P;
  frame->width = 192;
  frame->height = 108;
  EXPECT_GE(av_frame_get_buffer(frame.get(), 0), 0);
  std::mt19937 rng(noise_seed);
  for (int y = 0; y < 108; ++y) {
    for (int x = 0; x < 192; ++x) {
      int value = (x >= box_x && x < box_x + 20 && y >= 30 && y < 60) ? 220 : 90;
      if (noise_seed) value += static_cast<int>(rng() % 5) - 2;
      frame->data[0][y * frame->linesize[0] + x] = static_cast<uint8_t>(value);
    }
  }
  for (int p = 1; p < 3; ++p) {
    for (int y = 0; y < 54; ++y) std::memset(frame->data[p] + y * frame->linesize[p], 128, 96);
  }
  return CacheFeature(ComputePictureFeature(*frame));
}

class SeriesCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("anifarm-series-" + std::to_string(getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(SeriesCacheTest, FindsTheSameDrawingUnderTheSameSettingsOnly) {
  auto cache = SeriesCache::Open(dir_.string(), 1 << 20);
  ASSERT_TRUE(cache.ok()) << cache.status();
  v1::ProcessingSettings settings;
  settings.set_scale(2);
  const std::string key = SeriesCacheKey(settings, "model-a", 192, 108);
  ASSERT_TRUE((*cache)->Insert(key, FeatureOf(40), "png-of-40", "job-1", 7).ok());

  auto hit = (*cache)->Find(key, FeatureOf(40, /*noise_seed=*/3));
  ASSERT_TRUE(hit.has_value()) << "the same drawing, coded again";
  EXPECT_EQ(hit->origin_job, "job-1");
  EXPECT_EQ(hit->origin_frame, 7);
  EXPECT_FALSE((*cache)->Find(key, FeatureOf(60)).has_value()) << "the box moved: another drawing";

  settings.set_sharpen(0.5f);
  EXPECT_FALSE((*cache)->Find(SeriesCacheKey(settings, "model-a", 192, 108), FeatureOf(40)))
      << "sharpening changes the upscaled pixels";
  settings.set_sharpen(0);
  EXPECT_FALSE((*cache)->Find(SeriesCacheKey(settings, "model-b", 192, 108), FeatureOf(40)));
  EXPECT_TRUE((*cache)->Find(SeriesCacheKey(settings, "model-a", 192, 108), FeatureOf(40)));
}

TEST_F(SeriesCacheTest, BudgetDropsLeastRecentlyUsedAndTheCacheSurvivesReopening) {
  const std::string key = "key";
  const std::string png(1000, 'p');
  {
    auto cache = SeriesCache::Open(dir_.string(), 2500);  // room for two pictures
    ASSERT_TRUE(cache.ok());
    ASSERT_TRUE((*cache)->Insert(key, FeatureOf(10), png, "job", 1).ok());
    ASSERT_TRUE((*cache)->Insert(key, FeatureOf(60), png, "job", 2).ok());
    ASSERT_TRUE((*cache)->Find(key, FeatureOf(10)).has_value());  // 10 used last
    ASSERT_TRUE((*cache)->Insert(key, FeatureOf(110), png, "job", 3).ok());
    auto stats = (*cache)->Stats();
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->entries, 2);
    EXPECT_EQ(stats->bytes, 2000);
    EXPECT_FALSE((*cache)->Find(key, FeatureOf(60)).has_value()) << "least recently used";
  }
  auto reopened = SeriesCache::Open(dir_.string(), 2500);
  ASSERT_TRUE(reopened.ok());
  auto hit = (*reopened)->Find(key, FeatureOf(110));
  ASSERT_TRUE(hit.has_value());
  EXPECT_TRUE(fs::exists((*reopened)->PngPath(hit->entry)));
  ASSERT_TRUE((*reopened)->Clear().ok());
  EXPECT_EQ((*reopened)->Stats()->entries, 0);
  EXPECT_FALSE((*reopened)->Find(key, FeatureOf(110)).has_value());
}

TEST_F(SeriesCacheTest, ABudgetOfZeroKeepsNothing) {
  auto cache = SeriesCache::Open(dir_.string(), 0);
  ASSERT_TRUE(cache.ok());
  ASSERT_TRUE((*cache)->Insert("key", FeatureOf(10), "png", "job", 1).ok());
  EXPECT_EQ((*cache)->Stats()->entries, 0);
}

// A job's record of its cache use comes back as it was written (a
// coordinator restarted between planning and assembly reads it).
TEST_F(SeriesCacheTest, AJobsCacheUseSurvivesOnDisk) {
  fs::create_directories(dir_);
  SeriesCacheUse use;
  use.key = "key-of-the-job";
  use.cached[12] = SeriesCacheHit{7, "job-1", 3};
  use.candidates.emplace_back(40, FeatureOf(40));
  const std::string path = (dir_ / "series_cache.bin").string();
  ASSERT_TRUE(WriteSeriesCacheUse(path, use).ok());
  auto read = ReadSeriesCacheUse(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->key, "key-of-the-job");
  ASSERT_EQ(read->cached.size(), 1u);
  EXPECT_EQ(read->cached.at(12).entry, 7);
  EXPECT_EQ(read->cached.at(12).origin_job, "job-1");
  ASSERT_EQ(read->candidates.size(), 1u);
  EXPECT_EQ(read->candidates[0].first, 40);
  EXPECT_EQ(read->candidates[0].second.cells, use.candidates[0].second.cells);
  EXPECT_TRUE(CompareFeatures(read->candidates[0].second, FeatureOf(40)).same);
  EXPECT_TRUE(ReadSeriesCacheUse((dir_ / "absent.bin").string())->empty());
}

TEST(SeriesCacheWindowTest, OpeningsAndEndings) {
  EXPECT_TRUE(InCacheWindow(90, 1440));
  EXPECT_FALSE(InCacheWindow(700, 1440));
  EXPECT_TRUE(InCacheWindow(1300, 1440));
  EXPECT_FALSE(InCacheWindow(1300, 0)) << "unknown length: the head only";
}

}  // namespace
}  // namespace anifarm
