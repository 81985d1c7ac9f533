// A minimal RAII layer over the SQLite C API: one connection, prepared
// statements with typed binds, and transactions that roll back unless
// committed. Errors carry SQLite's own message.
#ifndef ANIFARM_COORDINATOR_SQLITE_DB_H_
#define ANIFARM_COORDINATOR_SQLITE_DB_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace anifarm {

class SqliteDb;

// A prepared statement. Bind indexes start at 1, column indexes at 0.
class Statement {
 public:
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::string_view value);
  Statement& BindBlob(int index, std::string_view value);
  // Steps once: true while a row is available, false when done.
  absl::StatusOr<bool> Step();
  // Steps to completion (for INSERT/UPDATE/DELETE).
  absl::Status Run();
  // Makes the statement ready to bind and run again.
  void Reset();

  int64_t Int(int column) const;
  std::string Text(int column) const;

 private:
  friend class SqliteDb;
  struct Finalizer {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
  absl::Status bind_status_;
};

class SqliteDb {
 public:
  // Opens (creating) the database file in WAL mode with a busy timeout.
  static absl::StatusOr<std::unique_ptr<SqliteDb>> Open(const std::string& path);

  absl::Status Exec(std::string_view sql);
  absl::StatusOr<Statement> Prepare(std::string_view sql);
  int64_t Changes() const { return sqlite3_changes(db_.get()); }

  // BEGIN IMMEDIATE now; ROLLBACK on destruction unless Commit() succeeded.
  class Transaction {
   public:
    explicit Transaction(SqliteDb* db);
    ~Transaction();
    absl::Status status() const { return begin_status_; }
    absl::Status Commit();

   private:
    SqliteDb* db_;
    absl::Status begin_status_;
    bool done_ = false;
  };

 private:
  struct Closer {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  std::unique_ptr<sqlite3, Closer> db_;
};

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_SQLITE_DB_H_
