#include "coordinator/job_store.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace anifarm {
namespace {

constexpr char kSchemaV1[] = R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  state INTEGER NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  input_path TEXT NOT NULL,
  output_path TEXT NOT NULL,
  settings BLOB NOT NULL,
  model_path TEXT NOT NULL,
  model_sha256 TEXT NOT NULL,
  model_format TEXT NOT NULL,
  total_frames INTEGER NOT NULL DEFAULT 0,
  unique_frames INTEGER NOT NULL DEFAULT 0,
  frames_upscaled INTEGER NOT NULL DEFAULT 0,
  frames_reused INTEGER NOT NULL DEFAULT 0,
  output_width INTEGER NOT NULL DEFAULT 0,
  output_height INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS chunks (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  chunk_index INTEGER NOT NULL,
  state INTEGER NOT NULL,
  first_frame INTEGER NOT NULL,
  frame_count INTEGER NOT NULL,
  unique_count INTEGER NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  node_id TEXT NOT NULL DEFAULT '',
  lease_deadline INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (job_id, chunk_index)
);
CREATE INDEX IF NOT EXISTS chunks_by_state ON chunks(state, job_id);
CREATE TABLE IF NOT EXISTS frames (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  frame_index INTEGER NOT NULL,
  pts INTEGER NOT NULL,
  md5 TEXT NOT NULL,
  source_index INTEGER NOT NULL,
  chunk_index INTEGER NOT NULL,
  PRIMARY KEY (job_id, frame_index)
);
CREATE TABLE IF NOT EXISTS nodes (
  id TEXT PRIMARY KEY,
  hostname TEXT NOT NULL,
  device TEXT NOT NULL,
  device_name TEXT NOT NULL,
  last_seen INTEGER NOT NULL,
  chunks_done INTEGER NOT NULL DEFAULT 0,
  frames_upscaled INTEGER NOT NULL DEFAULT 0
);
)sql";

// v2: failed attempts, for per-job node blocklists and the job's error.
constexpr char kSchemaV2[] = R"sql(
CREATE TABLE IF NOT EXISTS chunk_failures (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  chunk_index INTEGER NOT NULL,
  node_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  error TEXT NOT NULL,
  failed_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunk_failures_by_job ON chunk_failures(job_id, node_id);
)sql";

// v3: memory capabilities, matched at lease time.
constexpr char kSchemaV3[] = R"sql(
ALTER TABLE nodes ADD COLUMN memory_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN memory_bytes INTEGER NOT NULL DEFAULT 0;
)sql";

// v4: time nodes spent on completed chunks (their frame rate).
constexpr char kSchemaV4[] = R"sql(
ALTER TABLE nodes ADD COLUMN busy_ms INTEGER NOT NULL DEFAULT 0;
)sql";

// v5: who owns a job and who a node is (access control).
constexpr char kSchemaV5[] = R"sql(
ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE nodes ADD COLUMN principal TEXT NOT NULL DEFAULT '';
)sql";

// v6: nodes' memory as last reported, and capabilities matched at lease
// time (comma-separated lists; '' = an older node, no restriction).
constexpr char kSchemaV6[] = R"sql(
ALTER TABLE nodes ADD COLUMN memory_in_use INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN memory_free INTEGER NOT NULL DEFAULT -1;
ALTER TABLE nodes ADD COLUMN memory_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN model_formats TEXT NOT NULL DEFAULT '';
ALTER TABLE nodes ADD COLUMN precisions TEXT NOT NULL DEFAULT '';
ALTER TABLE nodes ADD COLUMN architectures TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN precision TEXT NOT NULL DEFAULT 'auto';
)sql";

// v7: chunks encoded by nodes show frames upscaled in other chunks; such a
// chunk is leased only once those chunks are done (chunk_deps). Indexes for
// a chunk's frames and for who shows a frame.
constexpr char kSchemaV7[] = R"sql(
CREATE TABLE IF NOT EXISTS chunk_deps (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  chunk_index INTEGER NOT NULL,
  source_chunk INTEGER NOT NULL,
  PRIMARY KEY (job_id, chunk_index, source_chunk)
);
CREATE INDEX IF NOT EXISTS frames_by_chunk ON frames(job_id, chunk_index);
CREATE INDEX IF NOT EXISTS frames_by_source ON frames(job_id, source_index);
)sql";

// v8: a job's model architecture family, learned from the first node that
// loaded it, matched against nodes' architectures at lease time.
constexpr char kSchemaV8[] = R"sql(
ALTER TABLE jobs ADD COLUMN architecture TEXT NOT NULL DEFAULT '';
)sql";

// v9: the rest of a node's reported memory: its caching allocator's
// allocated and reserved bytes (-1 unknown) and its model cache.
constexpr char kSchemaV9[] = R"sql(
ALTER TABLE nodes ADD COLUMN memory_allocated INTEGER NOT NULL DEFAULT -1;
ALTER TABLE nodes ADD COLUMN memory_reserved INTEGER NOT NULL DEFAULT -1;
ALTER TABLE nodes ADD COLUMN model_cache_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN model_cache_budget INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN models_cached INTEGER NOT NULL DEFAULT 0;
)sql";

// v10: what an `anifarm run` job was made from (client/resume.h), so that
// the same command finds it again after a crash.
constexpr char kSchemaV10[] = R"sql(
ALTER TABLE jobs ADD COLUMN resume_key TEXT NOT NULL DEFAULT '';
)sql";

// ',' + list + ',' contains ',' + item + ',': membership in a stored list.
std::string Joined(const google::protobuf::RepeatedPtrField<std::string>& items) {
  return absl::StrJoin(items, ",");
}
void SplitInto(const std::string& text, google::protobuf::RepeatedPtrField<std::string>* items) {
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    items->Add(std::string(item));
  }
}

constexpr char kJobColumns[] =
    "id, state, input_path, output_path, settings, model_path, model_sha256, model_format,"
    " total_frames, unique_frames, frames_upscaled, output_width, output_height, error,"
    " created_at, finished_at, frames_reused,"
    " (SELECT COUNT(*) FROM chunks c WHERE c.job_id = jobs.id),"
    " (SELECT COUNT(*) FROM chunks c WHERE c.job_id = jobs.id AND c.state = 2),"
    " (SELECT COUNT(*) FROM chunks c WHERE c.job_id = jobs.id AND c.state = 1),"
    " memory_bytes, owner, architecture, resume_key";

constexpr char kChunkColumns[] =
    "job_id, chunk_index, state, first_frame, frame_count, unique_count, attempt, node_id,"
    " lease_deadline";

ChunkRecord ReadChunk(const Statement& row) {
  ChunkRecord chunk;
  chunk.job_id = row.Text(0);
  chunk.index = static_cast<int32_t>(row.Int(1));
  chunk.state = static_cast<ChunkState>(row.Int(2));
  chunk.first_frame = row.Int(3);
  chunk.frame_count = row.Int(4);
  chunk.unique_count = row.Int(5);
  chunk.attempt = static_cast<int32_t>(row.Int(6));
  chunk.node_id = row.Text(7);
  chunk.lease_deadline = row.Int(8);
  return chunk;
}

constexpr char kFrameColumns[] = "frame_index, pts, md5, source_index, chunk_index";

FrameRecord ReadFrame(const Statement& row) {
  FrameRecord frame;
  frame.index = row.Int(0);
  frame.pts = row.Int(1);
  frame.md5 = row.Text(2);
  frame.source_index = row.Int(3);
  frame.chunk_index = static_cast<int32_t>(row.Int(4));
  return frame;
}

bool IsTerminal(v1::JobState state) {
  return state == v1::JOB_DONE || state == v1::JOB_FAILED || state == v1::JOB_CANCELLED;
}

// The lease conditions, one home for LeaseNextChunk and NodeFits: SQL terms
// over a job `j` and a node `n`, with ?3 = failures before a blocklist and
// ?4 = the time a node must have been seen since to count as alive.
// A node that failed the job's chunks too often gets none of them...
constexpr char kNodeBlocklisted[] =
    "((SELECT COUNT(*) FROM chunk_failures f WHERE f.job_id = j.id AND f.node_id = n.id) >= ?3)";
// ...its advertised memory (0: unknown) must hold the model...
constexpr char kFitsMemory[] =
    "(j.memory_bytes <= CASE n.memory_bytes WHEN 0 THEN 9223372036854775807"
    " ELSE n.memory_bytes END)";
// ...it loads the model's format...
constexpr char kRunsFormat[] =
    "(n.model_formats = '' OR instr(',' || n.model_formats || ',', ',' || j.model_format ||"
    " ',') > 0)";
// ...recognises the model's architecture, once known...
constexpr char kKnowsArchitecture[] =
    "(j.architecture = '' OR n.architectures = '' OR instr(',' || n.architectures || ',',"
    " ',' || j.architecture || ',') > 0)";
// ...and computes an fp16/bf16 job natively, unless no live node that may
// take the job does (then it runs in fp32 rather than never: a native node
// blocklisted for the job would otherwise hold it up for good). Nodes
// advertising nothing are older ones: no restriction.
constexpr char kComputesPrecision[] =
    "(j.precision NOT IN ('fp16', 'bf16') OR n.precisions = '' OR instr(',' || n.precisions ||"
    " ',', ',' || j.precision || ',') > 0 OR NOT EXISTS (SELECT 1 FROM nodes m WHERE"
    " m.last_seen >= ?4 AND instr(',' || m.precisions || ',', ',' || j.precision || ',') > 0"
    " AND (SELECT COUNT(*) FROM chunk_failures g WHERE g.job_id = j.id AND g.node_id = m.id)"
    " < ?3))";

std::string PrecisionOf(const JobRecord& job) {
  return job.settings.precision().empty() ? std::string("auto") : job.settings.precision();
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteDb> db, SqliteDb::Open(path));
  std::unique_ptr<JobStore> store(new JobStore(std::move(db)));
  RETURN_IF_ERROR(store->Migrate());
  return store;
}

absl::Status JobStore::Migrate() {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement version_query, db_->Prepare("PRAGMA user_version"));
  ASSIGN_OR_RETURN(bool has_row, version_query.Step());
  const int64_t version = has_row ? version_query.Int(0) : 0;
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database schema version ", version, " is newer than this coordinator (",
        kSchemaVersion, "); upgrade AniFarm"));
  }
  if (version == kSchemaVersion) return absl::OkStatus();
  SqliteDb::Transaction tx(db_.get());
  RETURN_IF_ERROR(tx.status());
  // Migrations run in order; each brings the schema one version up.
  if (version < 1) RETURN_IF_ERROR(db_->Exec(kSchemaV1));
  if (version < 2) RETURN_IF_ERROR(db_->Exec(kSchemaV2));
  if (version < 3) RETURN_IF_ERROR(db_->Exec(kSchemaV3));
  if (version < 4) RETURN_IF_ERROR(db_->Exec(kSchemaV4));
  if (version < 5) RETURN_IF_ERROR(db_->Exec(kSchemaV5));
  if (version < 6) RETURN_IF_ERROR(db_->Exec(kSchemaV6));
  if (version < 7) RETURN_IF_ERROR(db_->Exec(kSchemaV7));
  if (version < 8) RETURN_IF_ERROR(db_->Exec(kSchemaV8));
  if (version < 9) RETURN_IF_ERROR(db_->Exec(kSchemaV9));
  if (version < 10) RETURN_IF_ERROR(db_->Exec(kSchemaV10));
  RETURN_IF_ERROR(db_->Exec(absl::StrCat("PRAGMA user_version = ", kSchemaVersion)));
  return tx.Commit();
}

absl::Status JobStore::CreateJob(const JobRecord& job) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement insert,
                   db_->Prepare("INSERT INTO jobs (id, state, input_path, output_path, settings,"
                                " model_path, model_sha256, model_format, created_at, priority,"
                                " memory_bytes, owner, precision, resume_key)"
                                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  insert.Bind(1, job.id)
      .Bind(2, int64_t{job.state})
      .Bind(3, job.input_path)
      .Bind(4, job.output_path)
      .BindBlob(5, job.settings.SerializeAsString())
      .Bind(6, job.model_path)
      .Bind(7, job.model_sha256)
      .Bind(8, job.model_format)
      .Bind(9, job.created_at)
      .Bind(10, int64_t{job.settings.priority()})
      .Bind(11, job.memory_bytes)
      .Bind(12, job.owner)
      .Bind(13, PrecisionOf(job))
      .Bind(14, job.resume_key);
  return insert.Run();
}

absl::StatusOr<std::vector<JobRecord>> JobStore::QueryJobs(const std::string& where,
                                                           const std::string& arg) {
  ASSIGN_OR_RETURN(Statement query,
                   db_->Prepare(absl::StrCat("SELECT ", kJobColumns, " FROM jobs ", where,
                                             " ORDER BY created_at, id")));
  if (!arg.empty()) query.Bind(1, arg);
  std::vector<JobRecord> jobs;
  while (true) {
    ASSIGN_OR_RETURN(bool has_row, query.Step());
    if (!has_row) break;
    JobRecord job;
    job.id = query.Text(0);
    job.state = static_cast<v1::JobState>(query.Int(1));
    job.input_path = query.Text(2);
    job.output_path = query.Text(3);
    job.settings.ParseFromString(query.Text(4));
    job.model_path = query.Text(5);
    job.model_sha256 = query.Text(6);
    job.model_format = query.Text(7);
    job.total_frames = query.Int(8);
    job.unique_frames = query.Int(9);
    job.frames_upscaled = query.Int(10);
    job.output_width = static_cast<int32_t>(query.Int(11));
    job.output_height = static_cast<int32_t>(query.Int(12));
    job.error = query.Text(13);
    job.created_at = query.Int(14);
    job.finished_at = query.Int(15);
    job.frames_reused = query.Int(16);
    job.chunks_total = static_cast<int32_t>(query.Int(17));
    job.chunks_done = static_cast<int32_t>(query.Int(18));
    job.chunks_running = static_cast<int32_t>(query.Int(19));
    job.memory_bytes = query.Int(20);
    job.owner = query.Text(21);
    job.architecture = query.Text(22);
    job.resume_key = query.Text(23);
    jobs.push_back(std::move(job));
  }
  return jobs;
}

absl::StatusOr<JobRecord> JobStore::GetJob(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(std::vector<JobRecord> jobs, QueryJobs("WHERE id = ?", id));
  if (jobs.empty()) return absl::NotFoundError(absl::StrCat("no job '", id, "'"));
  return jobs.front();
}

absl::StatusOr<std::vector<JobRecord>> JobStore::ListJobs() {
  std::lock_guard<std::mutex> lock(mu_);
  return QueryJobs("", "");
}

absl::StatusOr<std::vector<std::string>> JobStore::JobIdsInState(v1::JobState state) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement query,
                   db_->Prepare("SELECT id FROM jobs WHERE state = ? ORDER BY created_at, id"));
  query.Bind(1, int64_t{state});
  std::vector<std::string> ids;
  while (true) {
    ASSIGN_OR_RETURN(bool has_row, query.Step());
    if (!has_row) return ids;
    ids.push_back(query.Text(0));
  }
}

absl::Status JobStore::SetJobState(const std::string& id, v1::JobState state,
                                   const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement update,
                   db_->Prepare("UPDATE jobs SET state = ?, error = ?,"
                                " finished_at = CASE WHEN ? THEN strftime('%s','now') ELSE 0 END"
                                " WHERE id = ?"));
  update.Bind(1, int64_t{state}).Bind(2, error).Bind(3, int64_t{IsTerminal(state)}).Bind(4, id);
  RETURN_IF_ERROR(update.Run());
  if (db_->Changes() == 0) return absl::NotFoundError(absl::StrCat("no job '", id, "'"));
  return absl::OkStatus();
}

absl::StatusOr<bool> JobStore::TransitionJob(const std::string& id, v1::JobState from,
                                             v1::JobState to) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement update,
                   db_->Prepare("UPDATE jobs SET state = ? WHERE id = ? AND state = ?"));
  RETURN_IF_ERROR(update.Bind(1, int64_t{to}).Bind(2, id).Bind(3, int64_t{from}).Run());
  return db_->Changes() > 0;
}

absl::StatusOr<bool> JobStore::TransitionJob(const std::string& id, v1::JobState from,
                                             v1::JobState to, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement update,
                   db_->Prepare("UPDATE jobs SET state = ?, error = ?,"
                                " finished_at = CASE WHEN ? THEN strftime('%s','now') ELSE 0 END"
                                " WHERE id = ? AND state = ?"));
  RETURN_IF_ERROR(update.Bind(1, int64_t{to})
                      .Bind(2, error)
                      .Bind(3, int64_t{IsTerminal(to)})
                      .Bind(4, id)
                      .Bind(5, int64_t{from})
                      .Run());
  return db_->Changes() > 0;
}

absl::StatusOr<v1::JobState> JobStore::RetryJob(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  SqliteDb::Transaction tx(db_.get());
  RETURN_IF_ERROR(tx.status());
  ASSIGN_OR_RETURN(std::vector<JobRecord> jobs, QueryJobs("WHERE id = ?", id));
  if (jobs.empty()) return absl::NotFoundError(absl::StrCat("no job '", id, "'"));
  const JobRecord& job = jobs.front();
  if (job.state != v1::JOB_FAILED && job.state != v1::JOB_CANCELLED) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", id, " has not failed and was not cancelled; nothing to retry"));
  }
  v1::JobState next = v1::JOB_RUNNING;
  if (job.chunks_total == 0) {
    next = v1::JOB_PLANNING;
  } else if (job.chunks_done == job.chunks_total) {
    next = v1::JOB_ASSEMBLING;
  }
  ASSIGN_OR_RETURN(Statement requeue,
                   db_->Prepare("UPDATE chunks SET state = 0, attempt = 0, node_id = '',"
                                " lease_deadline = 0 WHERE job_id = ? AND state != 2"));
  RETURN_IF_ERROR(requeue.Bind(1, id).Run());
  // A retry starts with a clean slate: no node stays blocklisted for it.
  ASSIGN_OR_RETURN(Statement forget,
                   db_->Prepare("DELETE FROM chunk_failures WHERE job_id = ?"));
  RETURN_IF_ERROR(forget.Bind(1, id).Run());
  ASSIGN_OR_RETURN(Statement update, db_->Prepare("UPDATE jobs SET state = ?, error = '',"
                                                  " finished_at = 0 WHERE id = ?"));
  RETURN_IF_ERROR(update.Bind(1, int64_t{next}).Bind(2, id).Run());
  RETURN_IF_ERROR(tx.Commit());
  return next;
}

absl::Status JobStore::RecordOutput(const std::string& id, int width, int height,
                                    int64_t frames_reused) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement update, db_->Prepare("UPDATE jobs SET output_width = ?,"
                                                  " output_height = ?, frames_reused = ?"
                                                  " WHERE id = ?"));
  update.Bind(1, int64_t{width}).Bind(2, int64_t{height}).Bind(3, frames_reused).Bind(4, id);
  return update.Run();
}

absl::Status JobStore::SavePlan(const std::string& job_id, const std::vector<ChunkRecord>& chunks,
                                const std::vector<FrameRecord>& frames, bool encoded_by_nodes) {
  std::lock_guard<std::mutex> lock(mu_);
  SqliteDb::Transaction tx(db_.get());
  RETURN_IF_ERROR(tx.status());
  for (const char* table : {"chunks", "frames", "chunk_deps"}) {
    ASSIGN_OR_RETURN(Statement clear,
                     db_->Prepare(absl::StrCat("DELETE FROM ", table, " WHERE job_id = ?")));
    RETURN_IF_ERROR(clear.Bind(1, job_id).Run());
  }
  ASSIGN_OR_RETURN(Statement insert_chunk,
                   db_->Prepare("INSERT INTO chunks (job_id, chunk_index, state, first_frame,"
                                " frame_count, unique_count) VALUES (?, ?, ?, ?, ?, ?)"));
  for (const ChunkRecord& chunk : chunks) {
    // A chunk encoded by a node is work even when all its pictures come
    // from elsewhere; one whose frames are only upscaled is not.
    const ChunkState state = chunk.unique_count == 0 && !encoded_by_nodes ? ChunkState::kDone
                                                                          : ChunkState::kQueued;
    RETURN_IF_ERROR(insert_chunk.Bind(1, job_id)
                        .Bind(2, int64_t{chunk.index})
                        .Bind(3, static_cast<int64_t>(state))
                        .Bind(4, chunk.first_frame)
                        .Bind(5, chunk.frame_count)
                        .Bind(6, chunk.unique_count)
                        .Run());
    insert_chunk.Reset();
  }
  ASSIGN_OR_RETURN(Statement insert_frame,
                   db_->Prepare("INSERT INTO frames (job_id, frame_index, pts, md5, source_index,"
                                " chunk_index) VALUES (?, ?, ?, ?, ?, ?)"));
  int64_t unique = 0;
  for (const FrameRecord& frame : frames) {
    if (frame.source_index == frame.index) ++unique;
    RETURN_IF_ERROR(insert_frame.Bind(1, job_id)
                        .Bind(2, frame.index)
                        .Bind(3, frame.pts)
                        .Bind(4, frame.md5)
                        .Bind(5, frame.source_index)
                        .Bind(6, int64_t{frame.chunk_index})
                        .Run());
    insert_frame.Reset();
  }
  if (encoded_by_nodes) {
    // Frame indexes are positions in `frames` (presentation order).
    ASSIGN_OR_RETURN(Statement insert_dep,
                     db_->Prepare("INSERT OR IGNORE INTO chunk_deps (job_id, chunk_index,"
                                  " source_chunk) VALUES (?, ?, ?)"));
    for (const FrameRecord& frame : frames) {
      if (frame.source_index < 0 || frame.source_index >= static_cast<int64_t>(frames.size())) {
        return absl::InternalError(absl::StrCat("frame ", frame.index, " of job ", job_id,
                                                " shows unknown frame ", frame.source_index));
      }
      const int32_t source_chunk = frames[frame.source_index].chunk_index;
      if (source_chunk == frame.chunk_index) continue;
      RETURN_IF_ERROR(insert_dep.Bind(1, job_id)
                          .Bind(2, int64_t{frame.chunk_index})
                          .Bind(3, int64_t{source_chunk})
                          .Run());
      insert_dep.Reset();
    }
  }
  ASSIGN_OR_RETURN(Statement update,
                   db_->Prepare("UPDATE jobs SET state = ?, total_frames = ?, unique_frames = ?,"
                                " frames_upscaled = 0, frames_reused = 0"
                                " WHERE id = ? AND state = ?"));
  RETURN_IF_ERROR(update.Bind(1, int64_t{v1::JOB_RUNNING})
                      .Bind(2, static_cast<int64_t>(frames.size()))
                      .Bind(3, unique)
                      .Bind(4, job_id)
                      .Bind(5, int64_t{v1::JOB_PLANNING})
                      .Run());
  if (db_->Changes() == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " is no longer being planned (cancelled?)"));
  }
  return tx.Commit();
}

absl::StatusOr<ChunkRecord> JobStore::GetChunk(const std::string& job_id, int32_t chunk_index) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement query,
                   db_->Prepare(absl::StrCat("SELECT ", kChunkColumns,
                                             " FROM chunks WHERE job_id = ? AND chunk_index = ?")));
  query.Bind(1, job_id).Bind(2, int64_t{chunk_index});
  ASSIGN_OR_RETURN(bool has_row, query.Step());
  if (!has_row) {
    return absl::NotFoundError(absl::StrCat("job ", job_id, " has no chunk ", chunk_index));
  }
  return ReadChunk(query);
}

absl::StatusOr<std::vector<FrameRecord>> JobStore::ChunkFrames(const std::string& job_id,
                                                               int32_t chunk_index) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement query,
                   db_->Prepare(absl::StrCat("SELECT ", kFrameColumns,
                                             " FROM frames WHERE job_id = ? AND chunk_index = ?"
                                             " ORDER BY frame_index")));
  query.Bind(1, job_id).Bind(2, int64_t{chunk_index});
  std::vector<FrameRecord> frames;
  while (true) {
    ASSIGN_OR_RETURN(bool has_row, query.Step());
    if (!has_row) break;
    frames.push_back(ReadFrame(query));
  }
  return frames;
}

absl::StatusOr<std::vector<int64_t>> JobStore::SharedFrames(const std::string& job_id,
                                                            int32_t chunk_index) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement query,
                   db_->Prepare("SELECT DISTINCT s.frame_index FROM frames s JOIN frames f ON"
                                " f.job_id = s.job_id AND f.source_index = s.frame_index"
                                " WHERE s.job_id = ? AND s.chunk_index = ? AND"
                                " f.chunk_index != s.chunk_index ORDER BY s.frame_index"));
  query.Bind(1, job_id).Bind(2, int64_t{chunk_index});
  std::vector<int64_t> shared;
  while (true) {
    ASSIGN_OR_RETURN(bool has_row, query.Step());
    if (!has_row) break;
    shared.push_back(query.Int(0));
  }
  return shared;
}

absl::StatusOr<std::vector<FrameRecord>> JobStore::Frames(const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement query,
                   db_->Prepare(absl::StrCat("SELECT ", kFrameColumns,
                                             " FROM frames WHERE job_id = ? ORDER BY frame_index")));
  query.Bind(1, job_id);
  std::vector<FrameRecord> frames;
  while (true) {
    ASSIGN_OR_RETURN(bool has_row, query.Step());
    if (!has_row) return frames;
    frames.push_back(ReadFrame(query));
  }
}

absl::StatusOr<std::vector<ChunkRecord>> JobStore::Chunks(const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement query,
                   db_->Prepare(absl::StrCat("SELECT ", kChunkColumns,
                                             " FROM chunks WHERE job_id = ? ORDER BY chunk_index")));
  query.Bind(1, job_id);
  std::vector<ChunkRecord> chunks;
  while (true) {
    ASSIGN_OR_RETURN(bool has_row, query.Step());
    if (!has_row) return chunks;
    chunks.push_back(ReadChunk(query));
  }
}

absl::StatusOr<std::optional<ChunkRecord>> JobStore::LeaseNextChunk(const std::string& node_id,
                                                                    int64_t now,
                                                                    int64_t deadline) {
  std::lock_guard<std::mutex> lock(mu_);
  SqliteDb::Transaction tx(db_.get());
  RETURN_IF_ERROR(tx.status());
  ASSIGN_OR_RETURN(
      Statement pick,
      db_->Prepare(absl::StrCat("SELECT ", kChunkColumns,
                                " FROM chunks WHERE state = 0"
                                // Chunks whose frames show pictures of other
                                // chunks wait until those are done.
                                " AND NOT EXISTS (SELECT 1 FROM chunk_deps d JOIN chunks s ON"
                                " s.job_id = d.job_id AND s.chunk_index = d.source_chunk"
                                " WHERE d.job_id = chunks.job_id AND d.chunk_index ="
                                " chunks.chunk_index AND s.state != 2)"
                                " AND job_id IN (SELECT j.id FROM jobs j, nodes n WHERE"
                                " j.state = ?1 AND n.id = ?2 AND NOT ", kNodeBlocklisted,
                                " AND ", kFitsMemory, " AND ", kRunsFormat, " AND ",
                                kKnowsArchitecture, " AND ", kComputesPrecision, ")"
                                " ORDER BY (SELECT -priority FROM jobs WHERE id = job_id),"
                                " (SELECT created_at FROM jobs WHERE id = job_id),"
                                " job_id, chunk_index LIMIT 1")));
  pick.Bind(1, int64_t{v1::JOB_RUNNING})
      .Bind(2, node_id)
      .Bind(3, int64_t{blocklist_after_})
      .Bind(4, now - (deadline - now));  // alive: seen within one lease timeout
  ASSIGN_OR_RETURN(bool has_row, pick.Step());
  if (!has_row) return std::optional<ChunkRecord>();
  ChunkRecord chunk = ReadChunk(pick);
  chunk.state = ChunkState::kLeased;
  chunk.attempt += 1;
  chunk.node_id = node_id;
  chunk.lease_deadline = deadline;
  ASSIGN_OR_RETURN(Statement update,
                   db_->Prepare("UPDATE chunks SET state = 1, attempt = ?, node_id = ?,"
                                " lease_deadline = ? WHERE job_id = ? AND chunk_index = ?"));
  RETURN_IF_ERROR(update.Bind(1, int64_t{chunk.attempt})
                      .Bind(2, node_id)
                      .Bind(3, deadline)
                      .Bind(4, chunk.job_id)
                      .Bind(5, int64_t{chunk.index})
                      .Run());
  ASSIGN_OR_RETURN(Statement touch, db_->Prepare("UPDATE nodes SET last_seen = ? WHERE id = ?"));
  RETURN_IF_ERROR(touch.Bind(1, now).Bind(2, node_id).Run());
  RETURN_IF_ERROR(tx.Commit());
  return std::optional<ChunkRecord>(chunk);
}

absl::StatusOr<std::vector<NodeFit>> JobStore::NodeFits(const JobRecord& job,
                                                        int64_t live_since) {
  std::lock_guard<std::mutex> lock(mu_);
  // The job as values (?1, ?5..?8), so a job not yet stored is judged too.
  ASSIGN_OR_RETURN(
      Statement query,
      db_->Prepare(absl::StrCat(
          "SELECT n.id, n.memory_bytes,"
          " (SELECT COUNT(*) FROM chunk_failures f WHERE f.job_id = j.id AND f.node_id = n.id),",
          kNodeBlocklisted, ", ", kFitsMemory, ", ", kRunsFormat, ", ", kKnowsArchitecture, ", ",
          kComputesPrecision,
          " FROM (SELECT ?1 AS id, ?5 AS memory_bytes, ?6 AS model_format, ?7 AS architecture,"
          " ?8 AS precision) j, nodes n WHERE n.last_seen >= ?4 ORDER BY n.id")));
  query.Bind(1, job.id)
      .Bind(3, int64_t{blocklist_after_})
      .Bind(4, live_since)
      .Bind(5, job.memory_bytes)
      .Bind(6, job.model_format)
      .Bind(7, job.architecture)
      .Bind(8, PrecisionOf(job));
  std::vector<NodeFit> fits;
  while (true) {
    ASSIGN_OR_RETURN(bool has_row, query.Step());
    if (!has_row) return fits;
    NodeFit fit;
    fit.node_id = query.Text(0);
    fit.memory_bytes = query.Int(1);
    fit.failures_in_job = static_cast<int32_t>(query.Int(2));
    fit.blocklisted = query.Int(3) != 0;
    fit.fits_memory = query.Int(4) != 0;
    fit.runs_format = query.Int(5) != 0;
    fit.knows_architecture = query.Int(6) != 0;
    fit.computes_precision = query.Int(7) != 0;
    fits.push_back(std::move(fit));
  }
}

absl::StatusOr<StallFacts> JobStore::StallFactsFor(const std::string& job_id,
                                                   int64_t live_since) {
  StallFacts facts;
  ASSIGN_OR_RETURN(facts.job, GetJob(job_id));
  ASSIGN_OR_RETURN(facts.live_nodes, NodeFits(facts.job, live_since));
  ASSIGN_OR_RETURN(facts.chunks, Chunks(job_id));
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement deps,
                   db_->Prepare("SELECT chunk_index, source_chunk FROM chunk_deps"
                                " WHERE job_id = ? ORDER BY chunk_index, source_chunk"));
  deps.Bind(1, job_id);
  while (true) {
    ASSIGN_OR_RETURN(bool has_row, deps.Step());
    if (!has_row) break;
    facts.deps.emplace_back(static_cast<int32_t>(deps.Int(0)),
                            static_cast<int32_t>(deps.Int(1)));
  }
  ASSIGN_OR_RETURN(Statement failures,
                   db_->Prepare("SELECT chunk_index, node_id, error FROM chunk_failures"
                                " WHERE job_id = ? ORDER BY failed_at, attempt"));
  failures.Bind(1, job_id);
  std::map<int32_t, std::set<std::string>> nodes;
  while (true) {
    ASSIGN_OR_RETURN(bool has_row, failures.Step());
    if (!has_row) break;
    const int32_t chunk = static_cast<int32_t>(failures.Int(0));
    nodes[chunk].insert(failures.Text(1));
    StallFacts::Failures& summary = facts.failures[chunk];
    summary.nodes = static_cast<int32_t>(nodes[chunk].size());
    absl::StrAppend(&summary.errors, summary.errors.empty() ? "" : "; ", failures.Text(1), ": ",
                    failures.Text(2));
  }
  return facts;
}

absl::StatusOr<bool> JobStore::UpdateHeldLease(const char* set_clause,
                                              const std::string& job_id, int32_t chunk_index,
                                              int32_t attempt, const std::string& node_id) {
  ASSIGN_OR_RETURN(Statement update,
                   db_->Prepare(absl::StrCat("UPDATE chunks SET ", set_clause,
                                             " WHERE job_id = ? AND chunk_index = ? AND"
                                             " attempt = ? AND node_id = ? AND state = 1")));
  RETURN_IF_ERROR(update.Bind(1, job_id)
                      .Bind(2, int64_t{chunk_index})
                      .Bind(3, int64_t{attempt})
                      .Bind(4, node_id)
                      .Run());
  return db_->Changes() > 0;
}

absl::Status JobStore::CompleteChunk(const std::string& job_id, int32_t chunk_index,
                                     int32_t attempt, const std::string& node_id,
                                     int64_t frames_upscaled, bool* all_done,
                                     int64_t busy_ms, const std::string& architecture) {
  std::lock_guard<std::mutex> lock(mu_);
  SqliteDb::Transaction tx(db_.get());
  RETURN_IF_ERROR(tx.status());
  ASSIGN_OR_RETURN(bool held, UpdateHeldLease("state = 2, lease_deadline = 0", job_id,
                                               chunk_index, attempt, node_id));
  if (!held) {
    return absl::FailedPreconditionError(absl::StrCat(
        "chunk ", chunk_index, " of job ", job_id, " is not leased to node ", node_id,
        " (attempt ", attempt, "); result ignored"));
  }
  ASSIGN_OR_RETURN(Statement count_job,
                   db_->Prepare("UPDATE jobs SET frames_upscaled = frames_upscaled + ?"
                                " WHERE id = ?"));
  RETURN_IF_ERROR(count_job.Bind(1, frames_upscaled).Bind(2, job_id).Run());
  if (!architecture.empty()) {
    // The first node to load the model says what it is; later chunks go to
    // nodes that recognise it (LeaseNextChunk).
    ASSIGN_OR_RETURN(Statement learn,
                     db_->Prepare("UPDATE jobs SET architecture = ? WHERE id = ? AND"
                                  " architecture = ''"));
    RETURN_IF_ERROR(learn.Bind(1, architecture).Bind(2, job_id).Run());
  }
  ASSIGN_OR_RETURN(Statement count_node,
                   db_->Prepare("UPDATE nodes SET chunks_done = chunks_done + 1,"
                                " frames_upscaled = frames_upscaled + ?, busy_ms = busy_ms + ?,"
                                " last_seen = strftime('%s','now') WHERE id = ?"));
  RETURN_IF_ERROR(count_node.Bind(1, frames_upscaled)
                      .Bind(2, busy_ms > 0 ? busy_ms : int64_t{0})
                      .Bind(3, node_id)
                      .Run());
  ASSIGN_OR_RETURN(Statement remaining,
                   db_->Prepare("SELECT COUNT(*) FROM chunks WHERE job_id = ? AND state != 2"));
  remaining.Bind(1, job_id);
  ASSIGN_OR_RETURN(bool has_row, remaining.Step());
  *all_done = has_row && remaining.Int(0) == 0;
  return tx.Commit();
}

absl::StatusOr<bool> JobStore::RenewLease(const std::string& job_id, int32_t chunk_index,
                                          int32_t attempt, const std::string& node_id,
                                          int64_t now, int64_t deadline) {
  std::lock_guard<std::mutex> lock(mu_);
  SqliteDb::Transaction tx(db_.get());
  RETURN_IF_ERROR(tx.status());
  ASSIGN_OR_RETURN(Statement update,
                   db_->Prepare("UPDATE chunks SET lease_deadline = ?"
                                " WHERE job_id = ? AND chunk_index = ? AND attempt = ?"
                                " AND node_id = ? AND state = 1 AND job_id IN"
                                " (SELECT id FROM jobs WHERE state IN (?, ?))"));
  RETURN_IF_ERROR(update.Bind(1, deadline)
                      .Bind(2, job_id)
                      .Bind(3, int64_t{chunk_index})
                      .Bind(4, int64_t{attempt})
                      .Bind(5, node_id)
                      .Bind(6, int64_t{v1::JOB_RUNNING})
                      .Bind(7, int64_t{v1::JOB_PAUSED})
                      .Run());
  const bool renewed = db_->Changes() > 0;
  ASSIGN_OR_RETURN(Statement touch, db_->Prepare("UPDATE nodes SET last_seen = ? WHERE id = ?"));
  RETURN_IF_ERROR(touch.Bind(1, now).Bind(2, node_id).Run());
  RETURN_IF_ERROR(tx.Commit());
  return renewed;
}

absl::StatusOr<JobStore::FailureTally> JobStore::RecordChunkFailure(
    const std::string& job_id, int32_t chunk_index, int32_t attempt, const std::string& node_id,
    const std::string& error, int64_t now, int64_t live_since, int blocklist_after) {
  std::lock_guard<std::mutex> lock(mu_);
  SqliteDb::Transaction tx(db_.get());
  RETURN_IF_ERROR(tx.status());
  ASSIGN_OR_RETURN(bool held, UpdateHeldLease("state = 0, node_id = '', lease_deadline = 0",
                                               job_id, chunk_index, attempt, node_id));
  if (!held) {
    return absl::FailedPreconditionError(absl::StrCat("chunk ", chunk_index, " of job ", job_id,
                                                      " is not leased to node ", node_id));
  }
  ASSIGN_OR_RETURN(Statement insert,
                   db_->Prepare("INSERT INTO chunk_failures (job_id, chunk_index, node_id,"
                                " attempt, error, failed_at) VALUES (?, ?, ?, ?, ?, ?)"));
  RETURN_IF_ERROR(insert.Bind(1, job_id)
                      .Bind(2, int64_t{chunk_index})
                      .Bind(3, node_id)
                      .Bind(4, int64_t{attempt})
                      .Bind(5, error)
                      .Bind(6, now)
                      .Run());
  FailureTally tally;
  ASSIGN_OR_RETURN(Statement by_node,
                   db_->Prepare("SELECT COUNT(*) FROM chunk_failures WHERE job_id = ? AND"
                                " node_id = ?"));
  by_node.Bind(1, job_id).Bind(2, node_id);
  ASSIGN_OR_RETURN(bool row, by_node.Step());
  if (row) tally.node_failures_in_job = static_cast<int32_t>(by_node.Int(0));
  ASSIGN_OR_RETURN(Statement errors,
                   db_->Prepare("SELECT node_id, error FROM chunk_failures WHERE job_id = ? AND"
                                " chunk_index = ? ORDER BY failed_at, attempt"));
  errors.Bind(1, job_id).Bind(2, int64_t{chunk_index});
  std::set<std::string> nodes;
  while (true) {
    ASSIGN_OR_RETURN(bool more, errors.Step());
    if (!more) break;
    nodes.insert(errors.Text(0));
    absl::StrAppend(&tally.errors, tally.errors.empty() ? "" : "; ", errors.Text(0), ": ",
                    errors.Text(1));
  }
  tally.nodes_failed_chunk = static_cast<int32_t>(nodes.size());
  ASSIGN_OR_RETURN(Statement live,
                   db_->Prepare("SELECT COUNT(*) FROM nodes WHERE last_seen >= ? AND id NOT IN"
                                " (SELECT node_id FROM chunk_failures WHERE job_id = ?"
                                " GROUP BY node_id HAVING COUNT(*) >= ?)"));
  live.Bind(1, live_since).Bind(2, job_id).Bind(3, int64_t{blocklist_after});
  ASSIGN_OR_RETURN(row, live.Step());
  if (row) tally.live_nodes_not_blocked = live.Int(0);
  RETURN_IF_ERROR(tx.Commit());
  return tally;
}

absl::Status JobStore::ExtendLeasesUntil(int64_t deadline) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement update,
                   db_->Prepare("UPDATE chunks SET lease_deadline = MAX(lease_deadline, ?)"
                                " WHERE state = 1"));
  return update.Bind(1, deadline).Run();
}

absl::StatusOr<int64_t> JobStore::RequeueExpiredLeases(int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement update,
                   db_->Prepare("UPDATE chunks SET state = 0, node_id = '', lease_deadline = 0"
                                " WHERE state = 1 AND (? < 0 OR lease_deadline < ?)"));
  RETURN_IF_ERROR(update.Bind(1, now).Bind(2, now).Run());
  return db_->Changes();
}

absl::Status JobStore::UpsertNode(const v1::NodeInfo& node) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement upsert,
                   db_->Prepare("INSERT INTO nodes (id, hostname, device, device_name, last_seen,"
                                " memory_bytes, principal, model_formats, precisions,"
                                " architectures) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                                " ON CONFLICT(id) DO"
                                " UPDATE SET hostname = excluded.hostname, device ="
                                " excluded.device, device_name = excluded.device_name,"
                                " last_seen = excluded.last_seen,"
                                " memory_bytes = excluded.memory_bytes,"
                                " model_formats = excluded.model_formats,"
                                " precisions = excluded.precisions,"
                                " architectures = excluded.architectures"));
  return upsert.Bind(1, node.node_id())
      .Bind(2, node.hostname())
      .Bind(3, node.device())
      .Bind(4, node.device_name())
      .Bind(5, node.last_seen())
      .Bind(6, node.memory_bytes())
      .Bind(7, node.principal())
      .Bind(8, Joined(node.model_formats()))
      .Bind(9, Joined(node.precisions()))
      .Bind(10, Joined(node.architectures()))
      .Run();
}

absl::Status JobStore::TouchNode(const std::string& node_id, int64_t now,
                                 const v1::DeviceMemory* memory) {
  std::lock_guard<std::mutex> lock(mu_);
  if (memory == nullptr) {
    ASSIGN_OR_RETURN(Statement touch,
                     db_->Prepare("UPDATE nodes SET last_seen = ? WHERE id = ?"));
    return touch.Bind(1, now).Bind(2, node_id).Run();
  }
  ASSIGN_OR_RETURN(Statement touch,
                   db_->Prepare("UPDATE nodes SET last_seen = ?, memory_in_use = ?,"
                                " memory_free = ?, memory_total = ?, memory_allocated = ?,"
                                " memory_reserved = ?, model_cache_bytes = ?, model_cache_budget = ?,"
                                " models_cached = ? WHERE id = ?"));
  return touch.Bind(1, now)
      .Bind(2, memory->in_use_bytes())
      .Bind(3, memory->free_bytes())
      .Bind(4, memory->total_bytes())
      .Bind(5, memory->allocated_bytes())
      .Bind(6, memory->reserved_bytes())
      .Bind(7, memory->model_cache_bytes())
      .Bind(8, memory->model_cache_budget_bytes())
      .Bind(9, int64_t{memory->models_cached()})
      .Bind(10, node_id)
      .Run();
}

absl::Status JobStore::ForgetNodesAlive() {
  std::lock_guard<std::mutex> lock(mu_);
  return db_->Exec("UPDATE nodes SET last_seen = 0");
}

absl::StatusOr<std::vector<v1::NodeInfo>> JobStore::ListNodes() {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement query,
                   db_->Prepare("SELECT id, hostname, device, device_name, last_seen,"
                                " chunks_done, frames_upscaled, memory_bytes, busy_ms, principal,"
                                " memory_in_use, memory_free, memory_total,"
                                " (SELECT job_id FROM chunks WHERE node_id = nodes.id AND state = 1"
                                "  ORDER BY lease_deadline DESC LIMIT 1),"
                                " (SELECT chunk_index FROM chunks WHERE node_id = nodes.id AND"
                                "  state = 1 ORDER BY lease_deadline DESC LIMIT 1),"
                                " model_formats, precisions, architectures,"
                                " memory_allocated, memory_reserved, model_cache_bytes,"
                                " model_cache_budget, models_cached"
                                " FROM nodes"
                                " ORDER BY id"));
  std::vector<v1::NodeInfo> nodes;
  while (true) {
    ASSIGN_OR_RETURN(bool has_row, query.Step());
    if (!has_row) return nodes;
    v1::NodeInfo node;
    node.set_node_id(query.Text(0));
    node.set_hostname(query.Text(1));
    node.set_device(query.Text(2));
    node.set_device_name(query.Text(3));
    node.set_last_seen(query.Int(4));
    node.set_chunks_done(static_cast<int32_t>(query.Int(5)));
    node.set_frames_upscaled(query.Int(6));
    node.set_memory_bytes(query.Int(7));
    const int64_t busy_ms = query.Int(8);
    if (busy_ms > 0) node.set_fps(1000.0 * double(node.frames_upscaled()) / double(busy_ms));
    node.set_principal(query.Text(9));
    v1::DeviceMemory* memory = node.mutable_memory_usage();
    memory->set_in_use_bytes(query.Int(10));
    memory->set_free_bytes(query.Int(11));
    memory->set_total_bytes(query.Int(12));
    node.set_current_job_id(query.Text(13));  // NULL reads as ""
    node.set_current_chunk_index(node.current_job_id().empty() ? -1
                                                               : static_cast<int32_t>(query.Int(14)));
    SplitInto(query.Text(15), node.mutable_model_formats());
    SplitInto(query.Text(16), node.mutable_precisions());
    SplitInto(query.Text(17), node.mutable_architectures());
    memory->set_allocated_bytes(query.Int(18));
    memory->set_reserved_bytes(query.Int(19));
    memory->set_model_cache_bytes(query.Int(20));
    memory->set_model_cache_budget_bytes(query.Int(21));
    memory->set_models_cached(static_cast<int32_t>(query.Int(22)));
    nodes.push_back(std::move(node));
  }
}

absl::StatusOr<std::map<int32_t, std::pair<int32_t, std::string>>> JobStore::ChunkFailures(
    const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement query,
                   db_->Prepare("SELECT chunk_index, error FROM chunk_failures WHERE job_id = ?"
                                " ORDER BY failed_at, rowid"));
  query.Bind(1, job_id);
  std::map<int32_t, std::pair<int32_t, std::string>> failures;
  while (true) {
    ASSIGN_OR_RETURN(bool has_row, query.Step());
    if (!has_row) return failures;
    auto& [count, last] = failures[static_cast<int32_t>(query.Int(0))];
    ++count;
    last = query.Text(1);
  }
}

absl::StatusOr<bool> JobStore::HoldsLease(const std::string& job_id, int32_t chunk_index,
                                          int32_t attempt, const std::string& node_id) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement query,
                   db_->Prepare("SELECT 1 FROM chunks WHERE job_id = ? AND chunk_index = ? AND"
                                " attempt = ? AND node_id = ? AND state = 1"));
  query.Bind(1, job_id).Bind(2, int64_t{chunk_index}).Bind(3, int64_t{attempt}).Bind(4, node_id);
  return query.Step();
}

absl::StatusOr<std::string> JobStore::NodePrincipal(const std::string& node_id) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement query, db_->Prepare("SELECT principal FROM nodes WHERE id = ?"));
  query.Bind(1, node_id);
  ASSIGN_OR_RETURN(bool has_row, query.Step());
  if (!has_row) return absl::NotFoundError(absl::StrCat("no node '", node_id, "'"));
  return query.Text(0);
}

}  // namespace anifarm
