#include "coordinator/series_cache.h"

#include <cmath>
#include <cstring>
#include <iterator>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/hashing.h"
#include "common/status_macros.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS entries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  settings_key TEXT NOT NULL,
  cols INTEGER NOT NULL,
  rows INTEGER NOT NULL,
  -- plane means in thousandths of a level, for the candidate range query
  mean_y INTEGER NOT NULL,
  mean_u INTEGER NOT NULL,
  mean_v INTEGER NOT NULL,
  feature BLOB NOT NULL,
  png_bytes INTEGER NOT NULL,
  origin_job TEXT NOT NULL,
  origin_frame INTEGER NOT NULL,
  last_used INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_key ON entries(settings_key, cols, rows, mean_y);
CREATE INDEX IF NOT EXISTS entries_by_use ON entries(last_used);
)sql";

// Candidates: plane means within the detector's uniform-shift tolerance.
constexpr int64_t kMeanSlack = static_cast<int64_t>(kHeldShift * 1000);

int64_t Milli(float mean) { return static_cast<int64_t>(std::lround(double(mean) * 1000)); }

void PutInt(std::string& out, int64_t value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(value));
}

bool GetInt(const std::string& in, size_t& at, int64_t& value) {
  if (at + sizeof(value) > in.size()) return false;
  std::memcpy(&value, in.data() + at, sizeof(value));
  at += sizeof(value);
  return true;
}

bool GetBytes(const std::string& in, size_t& at, size_t size, std::string& value) {
  if (at + size > in.size()) return false;
  value = in.substr(at, size);
  at += size;
  return true;
}

constexpr int64_t kUseMagic = 0x32455355434641;  // "AFCUSE2"

}  // namespace

absl::Status WriteSeriesCacheUse(const std::string& path, const SeriesCacheUse& use) {
  std::string out;
  PutInt(out, kUseMagic);
  PutInt(out, static_cast<int64_t>(use.key.size()));
  out += use.key;
  PutInt(out, static_cast<int64_t>(use.cached.size()));
  for (const auto& [index, hit] : use.cached) {
    PutInt(out, index);
    PutInt(out, hit.entry);
    PutInt(out, hit.origin_frame);
    PutInt(out, static_cast<int64_t>(hit.origin_job.size()));
    out += hit.origin_job;
  }
  PutInt(out, static_cast<int64_t>(use.candidates.size()));
  for (const auto& [index, feature] : use.candidates) {
    PutInt(out, index);
    PutInt(out, feature.cols);
    PutInt(out, feature.rows);
    for (float mean : feature.mean) PutInt(out, static_cast<int64_t>(std::lround(mean * 1000.0)));
    out.append(reinterpret_cast<const char*>(feature.cells.data()), feature.cells.size());
  }
  return WriteFileAtomically(path, out);
}

absl::StatusOr<SeriesCacheUse> ReadSeriesCacheUse(const std::string& path) {
  SeriesCacheUse use;
  absl::StatusOr<std::string> bytes = ReadWholeFile(path);
  if (!bytes.ok()) return use;  // no file: the job used no cache
  const std::string& in = *bytes;
  const absl::Status corrupt = absl::DataLossError(absl::StrCat(path, " is damaged"));
  size_t at = 0;
  int64_t magic = 0, key_size = 0, count = 0;
  if (!GetInt(in, at, magic) || magic != kUseMagic || !GetInt(in, at, key_size) ||
      key_size < 0 || !GetBytes(in, at, static_cast<size_t>(key_size), use.key) ||
      !GetInt(in, at, count)) {
    return corrupt;
  }
  for (int64_t i = 0; i < count; ++i) {
    int64_t index = 0, size = 0;
    SeriesCacheHit hit;
    if (!GetInt(in, at, index) || !GetInt(in, at, hit.entry) ||
        !GetInt(in, at, hit.origin_frame) || !GetInt(in, at, size) || size < 0 ||
        !GetBytes(in, at, static_cast<size_t>(size), hit.origin_job)) {
      return corrupt;
    }
    use.cached.emplace(index, std::move(hit));
  }
  if (!GetInt(in, at, count)) return corrupt;
  for (int64_t i = 0; i < count; ++i) {
    int64_t index = 0, cols = 0, rows = 0;
    PictureFeature feature;
    if (!GetInt(in, at, index) || !GetInt(in, at, cols) || !GetInt(in, at, rows) || cols <= 0 ||
        rows <= 0 || cols * rows > (int64_t{1} << 24)) {
      return corrupt;
    }
    for (float& mean : feature.mean) {
      int64_t milli = 0;
      if (!GetInt(in, at, milli)) return corrupt;
      mean = static_cast<float>(milli / 1000.0);
    }
    std::string cells;
    if (!GetBytes(in, at, static_cast<size_t>(3 * cols * rows), cells)) return corrupt;
    feature.cols = static_cast<int>(cols);
    feature.rows = static_cast<int>(rows);
    feature.cells.assign(cells.begin(), cells.end());
    use.candidates.emplace_back(index, std::move(feature));
  }
  return use;
}

bool InCacheWindow(double seconds, double duration) {
  if (seconds < kCacheHeadSeconds) return true;
  return duration > 0 && seconds >= duration - kCacheTailSeconds;
}

PictureFeature CacheFeature(const PictureFeature& feature) {
  PictureFeature coarse;
  if (feature.cols < 2 || feature.rows < 2) return feature;
  coarse.cols = feature.cols / 2;
  coarse.rows = feature.rows / 2;
  const size_t fine_cells = static_cast<size_t>(feature.cols) * feature.rows;
  const size_t cells = static_cast<size_t>(coarse.cols) * coarse.rows;
  coarse.cells.resize(3 * cells);
  for (int p = 0; p < 3; ++p) {
    const uint8_t* in = feature.cells.data() + p * fine_cells;
    uint8_t* out = coarse.cells.data() + p * cells;
    for (int y = 0; y < coarse.rows; ++y) {
      for (int x = 0; x < coarse.cols; ++x) {
        const size_t at = static_cast<size_t>(2 * y) * feature.cols + 2 * x;
        const int sum = in[at] + in[at + 1] + in[at + feature.cols] + in[at + feature.cols + 1];
        out[static_cast<size_t>(y) * coarse.cols + x] = static_cast<uint8_t>((sum + 2) / 4);
      }
    }
    coarse.mean[p] = feature.mean[p];
  }
  return coarse;
}

std::string SeriesCacheKey(const v1::ProcessingSettings& settings,
                           const std::string& model_sha256, int source_width,
                           int source_height) {
  // Every field here changes the upscaled picture; codec, audio, dedup,
  // cleanup and the like do not.
  const std::string described = absl::StrFormat(
      "model=%s src=%dx%d scale=%d size=%dx%d precision=%s tile=%d overlap=%d sharpen=%.6g "
      "contrast=%.6g saturation=%.6g keep_sar=%d",
      model_sha256, source_width, source_height, settings.scale(), settings.target_width(),
      settings.target_height(), settings.precision(), settings.tile(), settings.tile_overlap(),
      settings.sharpen(), settings.has_contrast() ? settings.contrast() : 1.0f,
      settings.has_saturation() ? settings.saturation() : 1.0f, settings.keep_sar() ? 1 : 0);
  return Sha256Hex(described);
}

absl::StatusOr<std::unique_ptr<SeriesCache>> SeriesCache::Open(const std::string& dir,
                                                               int64_t budget_bytes) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create the series cache ", dir));
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteDb> db, SqliteDb::Open(dir + "/index.db"));
  RETURN_IF_ERROR(db->Exec(kSchema));
  std::unique_ptr<SeriesCache> cache(new SeriesCache(dir, budget_bytes, std::move(db)));
  ASSIGN_OR_RETURN(Statement latest, cache->db_->Prepare("SELECT MAX(last_used) FROM entries"));
  ASSIGN_OR_RETURN(bool row, latest.Step());
  if (row) cache->clock_ = latest.Int(0);
  return cache;
}

std::string SeriesCache::PngPath(int64_t entry) const {
  return absl::StrCat(dir_, "/", entry, ".png");
}

std::optional<SeriesCacheHit> SeriesCache::Find(const std::string& key,
                                                const PictureFeature& feature) {
  if (!enabled() || feature.cols == 0) return std::nullopt;
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<Statement> query = db_->Prepare(
      "SELECT id, feature, mean_y, mean_u, mean_v, origin_job, origin_frame FROM entries"
      " WHERE settings_key = ? AND cols = ? AND rows = ? AND mean_y BETWEEN ? AND ?");
  if (!query.ok()) return std::nullopt;
  const int64_t y = Milli(feature.mean[0]);
  query->Bind(1, key)
      .Bind(2, int64_t{feature.cols})
      .Bind(3, int64_t{feature.rows})
      .Bind(4, y - kMeanSlack)
      .Bind(5, y + kMeanSlack);
  std::optional<SeriesCacheHit> best;
  double best_window = 0;
  while (true) {
    absl::StatusOr<bool> row = query->Step();
    if (!row.ok() || !*row) break;
    PictureFeature kept;
    kept.cols = feature.cols;
    kept.rows = feature.rows;
    const std::string cells = query->Text(1);
    kept.cells.assign(cells.begin(), cells.end());
    if (kept.cells.size() != feature.cells.size()) continue;
    for (int p = 0; p < 3; ++p) kept.mean[p] = static_cast<float>(query->Int(2 + p) / 1000.0);
    // The detector's own test: coding noise passes, a changed drawing or a
    // shifted level does not.
    const FeatureComparison comparison = CompareFeatures(feature, kept);
    if (!comparison.same) continue;
    if (!best || comparison.largest_window < best_window) {
      best = SeriesCacheHit{query->Int(0), query->Text(5), query->Int(6)};
      best_window = comparison.largest_window;
    }
  }
  if (!best || !fs::exists(PngPath(best->entry))) return std::nullopt;
  if (absl::StatusOr<Statement> touch = db_->Prepare("UPDATE entries SET last_used = ? WHERE id = ?");
      touch.ok()) {
    touch->Bind(1, ++clock_).Bind(2, best->entry).Run().IgnoreError();
  }
  ++hits_;
  return best;
}

absl::Status SeriesCache::Insert(const std::string& key, const PictureFeature& feature,
                                 const std::string& png, const std::string& origin_job,
                                 int64_t origin_frame) {
  if (!enabled() || feature.cols == 0) return absl::OkStatus();
  if (Find(key, feature)) return absl::OkStatus();  // already there (now marked used)
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(
      Statement insert,
      db_->Prepare("INSERT INTO entries (settings_key, cols, rows, mean_y, mean_u, mean_v, feature,"
                   " png_bytes, origin_job, origin_frame, last_used)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  insert.Bind(1, key)
      .Bind(2, int64_t{feature.cols})
      .Bind(3, int64_t{feature.rows})
      .Bind(4, Milli(feature.mean[0]))
      .Bind(5, Milli(feature.mean[1]))
      .Bind(6, Milli(feature.mean[2]))
      .BindBlob(7, std::string_view(reinterpret_cast<const char*>(feature.cells.data()),
                                    feature.cells.size()))
      .Bind(8, static_cast<int64_t>(png.size()))
      .Bind(9, origin_job)
      .Bind(10, origin_frame)
      .Bind(11, ++clock_);
  RETURN_IF_ERROR(insert.Run());
  ASSIGN_OR_RETURN(Statement last, db_->Prepare("SELECT last_insert_rowid()"));
  ASSIGN_OR_RETURN(bool row, last.Step());
  if (!row) return absl::InternalError("series cache: no row id after an insert");
  RETURN_IF_ERROR(WriteFileAtomically(PngPath(last.Int(0)), png));
  return EvictBeyondBudget();
}

absl::Status SeriesCache::EvictBeyondBudget() {
  ASSIGN_OR_RETURN(Statement total, db_->Prepare("SELECT COALESCE(SUM(png_bytes), 0) FROM entries"));
  ASSIGN_OR_RETURN(bool row, total.Step());
  int64_t bytes = row ? total.Int(0) : 0;
  if (bytes <= budget_bytes_) return absl::OkStatus();
  ASSIGN_OR_RETURN(Statement oldest,
                   db_->Prepare("SELECT id, png_bytes FROM entries ORDER BY last_used"));
  std::vector<int64_t> doomed;
  while (bytes > budget_bytes_) {
    ASSIGN_OR_RETURN(bool more, oldest.Step());
    if (!more) break;
    doomed.push_back(oldest.Int(0));
    bytes -= oldest.Int(1);
  }
  oldest.Reset();
  ASSIGN_OR_RETURN(Statement drop, db_->Prepare("DELETE FROM entries WHERE id = ?"));
  for (int64_t id : doomed) {
    RETURN_IF_ERROR(drop.Bind(1, id).Run());
    drop.Reset();
    std::error_code ec;
    fs::remove(PngPath(id), ec);
  }
  return absl::OkStatus();
}

absl::StatusOr<SeriesCacheStats> SeriesCache::Stats() {
  std::lock_guard<std::mutex> lock(mu_);
  SeriesCacheStats stats;
  stats.budget_bytes = budget_bytes_;
  stats.hits = hits_;
  ASSIGN_OR_RETURN(Statement query,
                   db_->Prepare("SELECT COUNT(*), COALESCE(SUM(png_bytes), 0) FROM entries"));
  ASSIGN_OR_RETURN(bool row, query.Step());
  if (row) {
    stats.entries = query.Int(0);
    stats.bytes = query.Int(1);
  }
  return stats;
}

absl::Status SeriesCache::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement ids, db_->Prepare("SELECT id FROM entries"));
  std::vector<int64_t> all;
  while (true) {
    ASSIGN_OR_RETURN(bool row, ids.Step());
    if (!row) break;
    all.push_back(ids.Int(0));
  }
  RETURN_IF_ERROR(db_->Exec("DELETE FROM entries"));
  for (int64_t id : all) {
    std::error_code ec;
    fs::remove(PngPath(id), ec);
  }
  return absl::OkStatus();
}

}  // namespace anifarm
