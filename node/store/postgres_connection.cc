#include "store/postgres_connection.h"

#include <arpa/inet.h>
#include <libpq-fe.h>

#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace tongban::node {
namespace {

// Type oids of pg_type (fixed since PostgreSQL 7; the server headers that
// name them are not part of libpq-dev).
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kTextOid = 25;

constexpr char kSqlStatePayload[] = "tongban.store/sqlstate";

std::string TrimmedMessage(const char* message) {
  return std::string(absl::StripTrailingAsciiWhitespace(message != nullptr ? message : ""));
}

uint64_t ReadBigEndian(const char* data, int length) {
  uint64_t value = 0;
  for (int i = 0; i < length; ++i) value = (value << 8) | static_cast<unsigned char>(data[i]);
  return value;
}

}  // namespace

PgParams& PgParams::Text(absl::string_view value) {
  values_.emplace_back(value);
  null_.push_back(false);
  formats_.push_back(0);
  types_.push_back(kTextOid);
  return *this;
}

PgParams& PgParams::Int(int64_t value) {
  values_.push_back(absl::StrCat(value));
  null_.push_back(false);
  formats_.push_back(0);
  types_.push_back(kInt8Oid);
  return *this;
}

PgParams& PgParams::Bytes(absl::string_view value) {
  values_.emplace_back(value);
  null_.push_back(false);
  formats_.push_back(1);
  types_.push_back(kByteaOid);
  return *this;
}

PgParams& PgParams::Null() {
  values_.emplace_back();
  null_.push_back(true);
  formats_.push_back(0);
  types_.push_back(0);
  return *this;
}

void PgResult::Clear(PGresult* result) { PQclear(result); }

int PgResult::rows() const { return PQntuples(result_.get()); }

int64_t PgResult::affected() const {
  int64_t n = 0;
  return absl::SimpleAtoi(PQcmdTuples(result_.get()), &n) ? n : 0;
}

bool PgResult::IsNull(int row, int col) const { return PQgetisnull(result_.get(), row, col) != 0; }

int64_t PgResult::Int64(int row, int col) const {
  if (IsNull(row, col)) return 0;
  const char* data = PQgetvalue(result_.get(), row, col);
  const int length = PQgetlength(result_.get(), row, col);
  switch (PQftype(result_.get(), col)) {
    case kInt8Oid:
      return static_cast<int64_t>(ReadBigEndian(data, length));
    case kInt4Oid:
      return static_cast<int32_t>(ReadBigEndian(data, length));
    case kInt2Oid:
      return static_cast<int16_t>(ReadBigEndian(data, length));
    case kBoolOid:
      return data[0] != 0 ? 1 : 0;
    default:
      // The stores' SQL selects integers as int2/4/8 only; anything else is
      // a bug the store tests catch.
      return 0;
  }
}

std::string PgResult::Bytes(int row, int col) const {
  if (IsNull(row, col)) return std::string();
  return std::string(PQgetvalue(result_.get(), row, col),
                     static_cast<size_t>(PQgetlength(result_.get(), row, col)));
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::Connect(const std::string& conninfo) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (conn == nullptr) return absl::ResourceExhaustedError("libpq could not allocate a connection");
  auto connection = std::unique_ptr<PgConnection>(new PgConnection(conn));
  // NOTICEs ("relation ... already exists, skipping") are chatter, not
  // errors; libpq would print them to stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  if (PQstatus(conn) != CONNECTION_OK) {
    return PgError(kSqlStateConnectionFailure,
                   absl::StrCat("cannot connect to PostgreSQL (", connection->Describe(),
                                "): ", TrimmedMessage(PQerrorMessage(conn))));
  }
  return connection;
}

PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::healthy() const { return PQstatus(conn_) == CONNECTION_OK; }

absl::Status PgConnection::Reset() {
  prepared_.clear();
  deferred_.clear();
  PQreset(conn_);
  if (PQstatus(conn_) == CONNECTION_OK) return absl::OkStatus();
  return PgError(kSqlStateConnectionFailure,
                 absl::StrCat("cannot reconnect to PostgreSQL (", Describe(),
                              "): ", TrimmedMessage(PQerrorMessage(conn_))));
}

std::string PgConnection::Describe() const {
  const char* host = PQhost(conn_);
  const char* port = PQport(conn_);
  const char* db = PQdb(conn_);
  return absl::StrCat("host ", host != nullptr ? host : "?", " port ", port != nullptr ? port : "?",
                      " database ", db != nullptr ? db : "?");
}

absl::Status PgConnection::Check(const PGresult* result, absl::string_view sql) const {
  const std::string doing = absl::StrCat("PostgreSQL \"", sql.substr(0, 60), "\"");
  if (result == nullptr) {
    return PgError(kSqlStateConnectionFailure,
                   absl::StrCat(doing, ": ", TrimmedMessage(PQerrorMessage(conn_))));
  }
  const ExecStatusType status = PQresultStatus(result);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return absl::OkStatus();
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  // No SQLSTATE: libpq's own failure, i.e. the connection broke.
  std::string sqlstate = state != nullptr ? state : kSqlStateConnectionFailure;
  if (!healthy()) sqlstate = kSqlStateConnectionFailure;
  return PgError(sqlstate, absl::StrCat(doing, ": ", TrimmedMessage(PQresultErrorMessage(result))));
}

void PgConnection::Defer(const char* sql, const PgParams& params) {
  deferred_.push_back(Deferred{sql, params, true});
}

void PgConnection::DeferUnprepared(const char* sql) {
  deferred_.push_back(Deferred{sql, PgParams(), false});
}

absl::Status PgConnection::Commit() {
  Deferred commit{"COMMIT", PgParams(), false};
  absl::StatusOr<PgResult> done = RunPipeline(&commit);
  if (done.ok()) return absl::OkStatus();
  // A deferred write failed: COMMIT was skipped (aborted pipeline), so the
  // transaction is still open, in its failed state. Close it.
  if (healthy() && PQtransactionStatus(conn_) != PQTRANS_IDLE) {
    PgResult rolled_back(PQexec(conn_, "ROLLBACK"));
  }
  return done.status();
}

void PgConnection::Rollback() {
  deferred_.clear();
  // Idle: nothing of the transaction (not even its BEGIN) reached the server.
  if (healthy() && PQtransactionStatus(conn_) != PQTRANS_IDLE) {
    PgResult rolled_back(PQexec(conn_, "ROLLBACK"));
  }
}

absl::StatusOr<PgResult> PgConnection::RunPipeline(const Deferred* last) {
  std::vector<const Deferred*> batch;
  for (const Deferred& d : deferred_) batch.push_back(&d);
  if (last != nullptr) batch.push_back(last);
  if (batch.empty()) return PgResult(nullptr);
  auto clear = [this] { deferred_.clear(); };
  // Blocking mode is fine here: a batch is a handful of small statements,
  // far below the socket buffers, so the server never waits on our reads.
  if (PQenterPipelineMode(conn_) != 1) {
    clear();
    return PgError(kSqlStateConnectionFailure,
                   absl::StrCat("PostgreSQL pipeline: ", TrimmedMessage(PQerrorMessage(conn_))));
  }
  // What each result of the pipeline belongs to: a prepare (its name) or a statement.
  struct Expect {
    const Deferred* statement;
    std::string prepare_name;  // non-empty: the PQsendPrepare of `statement`
  };
  std::vector<Expect> expected;
  absl::flat_hash_map<std::string, std::string> preparing;
  bool sent = true;
  for (const Deferred* d : batch) {
    if (!d->prepared) {
      sent = PQsendQueryParams(conn_, d->sql, 0, nullptr, nullptr, nullptr, nullptr, 1) == 1;
      if (!sent) break;
      expected.push_back({d, ""});
      continue;
    }
    std::string name;
    if (auto found = prepared_.find(d->sql); found != prepared_.end()) {
      name = found->second;
    } else if (auto p = preparing.find(d->sql); p != preparing.end()) {
      name = p->second;
    } else {
      name = absl::StrCat("tb", prepared_.size() + preparing.size() + 1);
      sent = PQsendPrepare(conn_, name.c_str(), d->sql, d->params.size(),
                           d->params.types_.data()) == 1;
      if (!sent) break;
      preparing.emplace(d->sql, name);
      expected.push_back({d, name});
    }
    std::vector<const char*> values(d->params.values_.size());
    std::vector<int> lengths(d->params.values_.size());
    for (size_t i = 0; i < values.size(); ++i) {
      values[i] = d->params.null_[i] ? nullptr : d->params.values_[i].data();
      lengths[i] = static_cast<int>(d->params.values_[i].size());
    }
    sent = PQsendQueryPrepared(conn_, name.c_str(), d->params.size(), values.data(),
                               lengths.data(), d->params.formats_.data(), /*resultFormat=*/1) == 1;
    if (!sent) break;
    expected.push_back({d, ""});
  }
  if (sent) sent = PQpipelineSync(conn_) == 1;
  absl::Status first_error;
  if (!sent) {
    first_error = PgError(kSqlStateConnectionFailure,
                          absl::StrCat("PostgreSQL pipeline: ", TrimmedMessage(PQerrorMessage(conn_))));
  }
  PgResult last_result(nullptr);
  // Each statement's result, then NULL; after the sync, PGRES_PIPELINE_SYNC.
  for (const Expect& e : expected) {
    if (!sent) break;
    PGresult* raw = PQgetResult(conn_);
    PgResult result(raw);
    if (raw == nullptr) {
      if (first_error.ok()) first_error = Check(nullptr, e.statement->sql);
      sent = false;
      break;
    }
    while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);  // the NULL after each result
    if (PQresultStatus(raw) == PGRES_PIPELINE_ABORTED) continue;  // after the first error
    absl::Status s = Check(raw, e.statement->sql);
    if (!s.ok()) {
      if (first_error.ok()) first_error = s;
      continue;
    }
    if (!e.prepare_name.empty()) {
      prepared_.emplace(e.statement->sql, e.prepare_name);
    } else if (e.statement == last) {
      last_result = std::move(result);
    }
  }
  if (sent) {
    // The sync's result; then the connection leaves pipeline mode.
    for (PGresult* r = PQgetResult(conn_); r != nullptr; r = PQgetResult(conn_)) {
      const bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
      PQclear(r);
      if (sync) break;
    }
  }
  if (PQexitPipelineMode(conn_) != 1 && first_error.ok()) {
    first_error = PgError(kSqlStateConnectionFailure,
                          absl::StrCat("PostgreSQL pipeline: ", TrimmedMessage(PQerrorMessage(conn_))));
  }
  clear();
  if (!first_error.ok() && !healthy() && !absl::StartsWith(SqlStateOf(first_error), "08")) {
    // The server ended the session (57P01 administrator command, a crash):
    // libpq notices the closed socket only while draining the pipeline,
    // after the statement's own error was read. Report what the caller
    // must act on: the connection is gone (run again on a new one).
    first_error = PgError(kSqlStateConnectionFailure,
                          absl::StripPrefix(first_error.message(), "storage unavailable: "));
  }
  if (!first_error.ok()) return first_error;
  return last_result;
}

absl::StatusOr<PgResult> PgConnection::Exec(const char* sql, const PgParams& params) {
  if (!deferred_.empty()) {
    Deferred statement{sql, params, true};
    return RunPipeline(&statement);
  }
  auto found = prepared_.find(sql);
  if (found == prepared_.end()) {
    std::string name = absl::StrCat("tb", prepared_.size() + 1);
    PgResult prepared(PQprepare(conn_, name.c_str(), sql, params.size(), params.types_.data()));
    if (absl::Status s = Check(prepared.result_.get(), sql); !s.ok()) return s;
    found = prepared_.emplace(sql, std::move(name)).first;
  }
  std::vector<const char*> values(params.values_.size());
  std::vector<int> lengths(params.values_.size());
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = params.null_[i] ? nullptr : params.values_[i].data();
    lengths[i] = static_cast<int>(params.values_[i].size());
  }
  PgResult result(PQexecPrepared(conn_, found->second.c_str(), params.size(), values.data(),
                                 lengths.data(), params.formats_.data(), /*resultFormat=*/1));
  if (absl::Status s = Check(result.result_.get(), sql); !s.ok()) return s;
  return result;
}

absl::Status PgConnection::ExecScript(absl::string_view sql) {
  if (!deferred_.empty()) {
    if (absl::StatusOr<PgResult> flushed = RunPipeline(nullptr); !flushed.ok()) {
      return flushed.status();
    }
  }
  const std::string text(sql);
  PgResult result(PQexec(conn_, text.c_str()));
  return Check(result.result_.get(), absl::StripLeadingAsciiWhitespace(sql));
}

std::string SqlStateOf(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kSqlStatePayload);
  return payload.has_value() ? std::string(*payload) : std::string();
}

absl::Status PgError(absl::string_view sqlstate, absl::string_view message) {
  absl::Status status;
  const std::string text = absl::StrCat(message, " (SQLSTATE ", sqlstate, ")");
  if (sqlstate == kSqlStateSerializationFailure || sqlstate == kSqlStateDeadlock) {
    status = absl::AbortedError(text);
  } else if (absl::StartsWith(sqlstate, "08") || absl::StartsWith(sqlstate, "57P") ||
             sqlstate == "25006") {
    status = absl::UnavailableError(absl::StrCat("storage unavailable: ", text));
  } else if (absl::StartsWith(sqlstate, "53")) {
    status = absl::UnavailableError(
        absl::StrCat(sqlstate == "53100" ? "storage full: " : "storage out of resources: ", text));
  } else if (sqlstate == "XX001" || sqlstate == "XX002") {
    status = absl::DataLossError(text);
  } else {
    status = absl::InternalError(text);
  }
  status.SetPayload(kSqlStatePayload, absl::Cord(sqlstate));
  return status;
}

}  // namespace tongban::node
