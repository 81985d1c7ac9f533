// SeriesCache: upscaled pictures kept across jobs, so that what a series
// repeats from episode to episode (the opening, the ending, eyecatches,
// recaps) is upscaled once for the whole series.
//
// An entry is a picture's identity, its upscaled PNG and where it came
// from. The identity is the held-drawing detector's feature
// (held_frames.h), coarsened 2x (cells of about 1/96 of the frame width):
// episodes are coded separately, so the same drawing never arrives with the
// same bits, and the detector's comparison, which tells coding noise from a
// changed drawing, is what decides a hit. Entries are grouped by a settings
// key: the model's sha256 and every job setting that changes the upscaled
// pixels (scale or size, precision, tiles, post-processing, aspect
// handling), plus the source frame size; a hit needs the same key.
//
// Which pictures are kept: the first occurrences that fall in the first
// kCacheHeadSeconds or the last kCacheTailSeconds of a source, where
// openings and endings sit, so the cache holds what repeats rather than
// every picture of every episode. The cache is bounded by a byte budget
// (PNG bytes), least recently used entries going first. It lives in its
// own folder (an SQLite index plus one PNG per entry) and survives
// restarts.
#ifndef ANIFARM_COORDINATOR_SERIES_CACHE_H_
#define ANIFARM_COORDINATOR_SERIES_CACHE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/held_frames.h"
#include "coordinator/sqlite_db.h"
#include "protos/anifarm.pb.h"

namespace anifarm {

inline constexpr double kCacheHeadSeconds = 6 * 60;
inline constexpr double kCacheTailSeconds = 4 * 60;

// Whether a picture at `seconds` into a source of `duration` seconds is one
// the cache keeps (an unknown duration keeps the head only).
bool InCacheWindow(double seconds, double duration);

// The feature a cache entry is identified by: `feature` with 2x2 cells
// averaged into one.
PictureFeature CacheFeature(const PictureFeature& feature);

// The key of the settings that change upscaled pixels.
std::string SeriesCacheKey(const v1::ProcessingSettings& settings,
                           const std::string& model_sha256, int source_width,
                           int source_height);

struct SeriesCacheHit {
  int64_t entry = 0;
  std::string origin_job;     // the job that upscaled it
  int64_t origin_frame = 0;   // its frame index there
};

struct SeriesCacheStats {
  int64_t entries = 0;
  int64_t bytes = 0;
  int64_t budget_bytes = 0;
  int64_t hits = 0;  // since the cache was opened
};

// A job's use of the cache, kept in its folder (series_cache.bin) from
// planning to assembly: the first occurrences filled from the cache, and
// the candidates to keep once the job is done.
struct SeriesCacheUse {
  std::string key;  // the job's SeriesCacheKey, as it was planned
  std::map<int64_t, SeriesCacheHit> cached;
  std::vector<std::pair<int64_t, PictureFeature>> candidates;
  bool empty() const { return cached.empty() && candidates.empty(); }
};
absl::Status WriteSeriesCacheUse(const std::string& path, const SeriesCacheUse& use);
// An absent file is no use (empty).
absl::StatusOr<SeriesCacheUse> ReadSeriesCacheUse(const std::string& path);

class SeriesCache {
 public:
  // Opens (creating) the cache in `dir`. `budget_bytes` 0 turns it off:
  // Find finds nothing and Insert keeps nothing.
  static absl::StatusOr<std::unique_ptr<SeriesCache>> Open(const std::string& dir,
                                                           int64_t budget_bytes);

  bool enabled() const { return budget_bytes_ > 0; }

  // The entry under `key` that shows the picture of `feature` (a
  // CacheFeature), closest first; marks it used.
  std::optional<SeriesCacheHit> Find(const std::string& key, const PictureFeature& feature);
  // Keeps `png` as the upscaled picture of `feature` under `key`, then
  // drops least recently used entries beyond the budget.
  absl::Status Insert(const std::string& key, const PictureFeature& feature,
                      const std::string& png, const std::string& origin_job,
                      int64_t origin_frame);
  // The PNG of an entry.
  std::string PngPath(int64_t entry) const;

  absl::StatusOr<SeriesCacheStats> Stats();
  // Deletes every entry and its file.
  absl::Status Clear();

 private:
  SeriesCache(std::string dir, int64_t budget, std::unique_ptr<SqliteDb> db)
      : dir_(std::move(dir)), budget_bytes_(budget), db_(std::move(db)) {}
  absl::Status EvictBeyondBudget();

  const std::string dir_;
  const int64_t budget_bytes_;
  std::mutex mu_;  // one statement at a time on the connection
  std::unique_ptr<SqliteDb> db_;
  int64_t hits_ = 0;
  int64_t clock_ = 0;  // recency counter, seeded from the index
};

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_SERIES_CACHE_H_
