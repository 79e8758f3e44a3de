// Row-level reads and writes of PostgresApplicationStore: one function per
// table operation, each on the connection of the transaction it runs in.
// Transactions, validation and callbacks stay in
// postgres_application_store.cc; this file only knows the tables
// (postgres_schema.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "store/application_store.h"
#include "store/postgres_connection.h"
#include "tongban/v1/application.pb.h"

namespace tongban::node::pg_rows {

// The application (with its events when asked); NOT_FOUND when absent.
// With `lock`, its row stays locked (FOR UPDATE) until the transaction
// ends: every writer of an application's row, events or escalation holds
// that lock, so what is read after it stays true until COMMIT.
absl::StatusOr<v1::Application> LoadApplication(PgConnection& conn, const std::string& id,
                                                bool with_events, bool lock);

// Inserts the row of an application that may already exist (a delivery
// received by two replicas at once): false when a row with its id exists
// (after waiting for a concurrent inserter to commit).
absl::StatusOr<bool> InsertApplicationIfAbsent(PgConnection& conn, const v1::Application& app);

// Writes the application row (inserted or updated), the events from
// `first_new_event` on, the escalation if any, and the outbox entries
// stamped with `outbox_at`.
absl::Status PersistMutation(PgConnection& conn, const v1::Application& app, bool insert_row,
                             int first_new_event, const std::optional<v1::Escalation>& escalation,
                             const std::vector<OutboxEntry>& outbox, absl::Time outbox_at);

struct IdempotencyRecord {
  std::string fingerprint;
  std::string application_id;
};
// Claims (scope, key) for this transaction: true when the claim is ours,
// false when another transaction had it and committed (this one waited for
// it). A claim is completed by CompleteIdempotency in the same transaction.
absl::StatusOr<bool> ClaimIdempotency(PgConnection& conn, const CreateRequest& request);
// The committed record of (scope, key); NOT_FOUND when there is none.
absl::StatusOr<IdempotencyRecord> FindIdempotency(PgConnection& conn, const CreateRequest& request);
absl::Status CompleteIdempotency(PgConnection& conn, const CreateRequest& request,
                                 const std::string& application_id);

// Takes the next application id sequence inside the caller's transaction
// (the counter row stays locked until COMMIT, so replicas take turns).
absl::StatusOr<int64_t> TakeSequence(PgConnection& conn);

// Column list matching ReadOutboxEntries.
inline constexpr char kOutboxColumns[] =
    "id, kind, application_id, target_province, payload, attempts, created_at, "
    "next_attempt_at, last_error, dead_at, dead_code";
// The rows of a statement selecting kOutboxColumns.
absl::StatusOr<std::vector<OutboxEntry>> ReadOutboxEntries(const PgResult& result);

}  // namespace tongban::node::pg_rows
