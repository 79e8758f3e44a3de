// PgConnection: one libpq connection to PostgreSQL, with the statements it
// has prepared, and the small typed layer the PostgreSQL stores use on it.
//
//   PgParams p;
//   p.Text(id).Int(state).Bytes(serialized_proto);
//   absl::StatusOr<PgResult> r = conn.Exec("UPDATE ... WHERE id = $1 ...", p);
//
// Statements: every Exec prepares its SQL once per connection (named
// statement, parameter types fixed by the first call) and runs it with
// PQexecPrepared afterwards; SQL text must therefore be constant per call
// site. Parameters: text and integers go as text, bytes (serialized protos)
// as binary bytea, so no escaping and no size blow-up. Results come back in
// binary format: integers as network-order int2/int4/int8, text as its
// bytes, bytea as raw bytes.
//
// Deferred statements: a write whose result the caller does not need
// (`Defer`) is queued and sent together with the next Exec, ExecScript or
// Commit, in one libpq pipeline (one round trip for all of them). A
// transaction is therefore BEGIN deferred + its first read, then its writes
// deferred + COMMIT: two or three round trips instead of one per statement,
// which shortens the time a transaction holds its row locks (the application
// counter's, which every filing takes) by as many round trips. A deferred
// statement's error is returned by the call that sent it.
//
// Errors: a failed statement returns a status chosen by its SQLSTATE (see
// PgError) carrying the SQLSTATE as a payload (SqlStateOf), so the
// transaction runner can tell a serialization failure from a broken
// connection.
//
// Thread-safety: none; a connection is used by one thread at a time (the
// pool lends it out).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace tongban::node {

// Parameters of one statement, $1 first.
class PgParams final {
 public:
  PgParams& Text(absl::string_view value);
  PgParams& Int(int64_t value);
  PgParams& Bytes(absl::string_view value);  // bytea, sent in binary
  PgParams& Null();                          // a NULL of unspecified type

  int size() const { return static_cast<int>(values_.size()); }

 private:
  friend class PgConnection;
  std::vector<std::string> values_;
  std::vector<bool> null_;
  std::vector<int> formats_;         // 0 text, 1 binary
  std::vector<unsigned int> types_;  // Oid; 0 = inferred by the server
};

// The rows of a statement, in binary format. Owns its PGresult.
class PgResult final {
 public:
  explicit PgResult(PGresult* result) : result_(result, &Clear) {}

  int rows() const;
  // Rows changed by INSERT/UPDATE/DELETE.
  int64_t affected() const;
  bool IsNull(int row, int col) const;
  // An int2, int4, int8 or boolean column; 0 for NULL.
  int64_t Int64(int row, int col) const;
  bool Bool(int row, int col) const { return Int64(row, col) != 0; }
  // A text or bytea column, as its bytes; empty for NULL.
  std::string Bytes(int row, int col) const;
  std::string Text(int row, int col) const { return Bytes(row, col); }

 private:
  friend class PgConnection;
  static void Clear(PGresult* result);
  std::unique_ptr<PGresult, void (*)(PGresult*)> result_;
};

class PgConnection final {
 public:
  // Connects with libpq `conninfo` ("host=... dbname=..." or a postgresql://
  // URI); UNAVAILABLE naming the server when that fails.
  static absl::StatusOr<std::unique_ptr<PgConnection>> Connect(const std::string& conninfo);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs one statement with parameters (prepared once per connection),
  // after the deferred ones (their first error wins).
  absl::StatusOr<PgResult> Exec(const char* sql, const PgParams& params = PgParams());
  // Queues a statement (prepared once per connection) to be sent with the
  // next Exec, ExecScript or Commit. `sql` must outlive that call (a constant).
  void Defer(const char* sql, const PgParams& params = PgParams());
  // Queues a statement without parameters that is not prepared (BEGIN).
  void DeferUnprepared(const char* sql);
  // Sends the deferred statements and COMMIT in one pipeline. When a
  // deferred statement fails, the transaction is rolled back (the
  // connection stays usable) and its error returned.
  absl::Status Commit();
  // Drops the deferred statements and rolls back (ROLLBACK is not sent when
  // nothing of the transaction was sent yet).
  void Rollback();
  // Runs constant SQL without parameters (may hold several statements, as a
  // migration does), through the simple query protocol, after sending the
  // deferred statements.
  absl::Status ExecScript(absl::string_view sql);

  // False once libpq has seen the connection break.
  bool healthy() const;
  // Reconnects with the same conninfo; prepared statements are gone with
  // the old session. UNAVAILABLE when the server cannot be reached.
  absl::Status Reset();
  // Where this connection goes, for messages ("host /run/pg port 5432 db tongban").
  std::string Describe() const;

 private:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}
  // The status of a finished statement; OK for COMMAND_OK / TUPLES_OK.
  absl::Status Check(const PGresult* result, absl::string_view sql) const;

  struct Deferred {
    const char* sql;
    PgParams params;
    bool prepared;
  };
  // Runs the deferred statements, then `last` when set, in one pipeline;
  // the last statement's result (or the first error).
  absl::StatusOr<PgResult> RunPipeline(const Deferred* last);

  PGconn* conn_;
  // SQL text -> name of the statement prepared for it on this session.
  absl::flat_hash_map<std::string, std::string> prepared_;
  std::vector<Deferred> deferred_;
};

// The SQLSTATE a PostgreSQL error status carries; empty for other statuses.
std::string SqlStateOf(const absl::Status& status);

// A status for a PostgreSQL error, chosen by how the caller should react:
//  - 40001 serialization failure, 40P01 deadlock: ABORTED (run the whole
//    transaction again; the store does that itself a few times);
//  - class 08 (connection), 57P0x (server shutting down or starting), class
//    53 (disk full, out of memory, too many connections), 25006 (read-only:
//    a standby after a failover): UNAVAILABLE, naming storage, so callers
//    retry later (never RESOURCE_EXHAUSTED, which clients read as "you are
//    rate limited");
//  - XX001/XX002 (corrupted data): DATA_LOSS;
//  - anything else (a constraint violated, bad SQL): INTERNAL, a bug.
absl::Status PgError(absl::string_view sqlstate, absl::string_view message);

inline constexpr char kSqlStateSerializationFailure[] = "40001";
inline constexpr char kSqlStateDeadlock[] = "40P01";
inline constexpr char kSqlStateConnectionFailure[] = "08006";

}  // namespace tongban::node
