// Row-level reads and writes of SqliteApplicationStore: one function per
// table operation, each taking the connection of the Read or Write it runs
// in. Transactions, validation of requests and callbacks stay in
// sqlite_application_store.cc; this file only knows the tables.
//
// Tables (see sqlite_schema.cc): applications (proto without events),
// application_events, idempotency, escalations, outbox, meta.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "store/application_history.h"
#include "store/application_store.h"
#include "store/sqlite_database.h"
#include "tongban/v1/application.pb.h"

namespace tongban::node::sqlite_rows {

// Shared with the PostgreSQL store (application_history.h).
using history::AppendEvents;
using history::kMaxApplicationSequence;
using history::ParseInto;
using history::SetTimestamp;
using history::TakeEvents;
using history::ToTime;

// The application (with its events when asked); NOT_FOUND when absent.
absl::StatusOr<v1::Application> LoadApplication(sqlite3* db, const std::string& id,
                                                bool with_events);

// Writes the application row (inserted or updated), the events from
// `first_new_event` on, the escalation if any, and the outbox entries
// stamped with `outbox_at`.
absl::Status PersistMutation(sqlite3* db, const v1::Application& app, bool insert_row,
                             int first_new_event, const std::optional<v1::Escalation>& escalation,
                             const std::vector<OutboxEntry>& outbox, absl::Time outbox_at);

struct IdempotencyRecord {
  std::string fingerprint;
  std::string application_id;
};
absl::StatusOr<std::optional<IdempotencyRecord>> FindIdempotency(sqlite3* db,
                                                                 const CreateRequest& request);
absl::Status RecordIdempotency(sqlite3* db, const CreateRequest& request,
                               const std::string& application_id);

// Takes the next application id sequence inside the caller's transaction.
absl::StatusOr<int64_t> TakeSequence(sqlite3* db);

// Column list matching ReadOutboxEntries.
inline constexpr char kOutboxColumns[] =
    "id, kind, application_id, target_province, payload, attempts, created_at, "
    "next_attempt_at, last_error, dead_at, dead_code";
// Steps `stmt` (selecting kOutboxColumns) to the end.
absl::StatusOr<std::vector<OutboxEntry>> ReadOutboxEntries(SqliteStatement& stmt);

}  // namespace tongban::node::sqlite_rows
