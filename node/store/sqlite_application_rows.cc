#include "store/sqlite_application_rows.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace tongban::node::sqlite_rows {
namespace {

std::string SerializeWithoutEvents(const v1::Application& application) {
  v1::Application copy = application;
  copy.clear_events();
  return copy.SerializeAsString();
}

absl::Status LoadEvents(sqlite3* db, v1::Application& application) {
  auto stmt = SqliteStatement::Prepare(
      db, "SELECT event FROM application_events WHERE application_id = ?1 ORDER BY ordinal");
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, application.application_id());
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
    absl::Status s = ParseInto(stmt->ColumnBlob(0), *application.add_events(),
                               absl::StrCat("event of ", application.application_id()));
    if (!s.ok()) return s;
  }
}

absl::Status WriteApplicationRow(sqlite3* db, const v1::Application& app, bool insert) {
  static constexpr char kInsert[] =
      "INSERT INTO applications (application_id, applicant_id_number, state, "
      "accepting_province, handling_province, item_code, created_at, application, "
      "rectification_open, rectification_due_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
  static constexpr char kUpdate[] =
      "UPDATE applications SET applicant_id_number = ?2, state = ?3, accepting_province = ?4, "
      "handling_province = ?5, item_code = ?6, created_at = ?7, application = ?8, "
      "rectification_open = ?9, rectification_due_at = ?10 "
      "WHERE application_id = ?1";
  auto stmt = SqliteStatement::Prepare(db, insert ? kInsert : kUpdate);
  if (!stmt.ok()) return stmt.status();
  const bool rectifying = app.has_rectification() && !app.rectification().closed();
  stmt->BindText(1, app.application_id())
      .BindText(2, app.applicant().id_number())
      .BindInt64(3, app.state())
      .BindText(4, app.accepting_province())
      .BindText(5, app.handling_province())
      .BindText(6, app.item_code())
      .BindInt64(7, absl::ToUnixMicros(ToTime(app.created_at())))
      .BindBlob(8, SerializeWithoutEvents(app))
      .BindInt64(9, rectifying ? 1 : 0)
      .BindInt64(10, absl::ToUnixMicros(ToTime(app.rectification().due_at())));
  return stmt->Run();
}

absl::Status InsertEvents(sqlite3* db, const v1::Application& app, int first) {
  for (int i = first; i < app.events_size(); ++i) {
    auto stmt = SqliteStatement::Prepare(
        db,
        "INSERT INTO application_events (application_id, ordinal, event_id, event) "
        "VALUES (?1, ?2, ?3, ?4)");
    if (!stmt.ok()) return stmt.status();
    stmt->BindText(1, app.application_id())
        .BindInt64(2, i)
        .BindText(3, app.events(i).event_id())
        .BindBlob(4, app.events(i).SerializeAsString());
    if (absl::Status s = stmt->Run(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// One escalation per application. Re-opening a resolved one gives it a new
// seq, so it moves to the end of the oldest-first queue like a new one.
absl::Status UpsertEscalation(sqlite3* db, const v1::Escalation& escalation) {
  const bool open = !escalation.resolved();
  if (open) {
    auto drop = SqliteStatement::Prepare(
        db, "DELETE FROM escalations WHERE application_id = ?1 AND open = 0");
    if (!drop.ok()) return drop.status();
    drop->BindText(1, escalation.application_id());
    if (absl::Status s = drop->Run(); !s.ok()) return s;
  }
  auto stmt = SqliteStatement::Prepare(
      db,
      "INSERT INTO escalations (application_id, open, escalation) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (application_id) DO UPDATE SET open = excluded.open, "
      "escalation = excluded.escalation");
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, escalation.application_id())
      .BindInt64(2, open ? 1 : 0)
      .BindBlob(3, escalation.SerializeAsString());
  return stmt->Run();
}

absl::Status InsertOutbox(sqlite3* db, const std::string& application_id,
                          const std::vector<OutboxEntry>& entries, absl::Time at) {
  for (const OutboxEntry& entry : entries) {
    if (entry.target_province.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("an outbox entry of application ",
                                                     application_id, " has no target province"));
    }
    auto stmt = SqliteStatement::Prepare(
        db,
        "INSERT INTO outbox (kind, application_id, target_province, payload, attempts, "
        "created_at, next_attempt_at) VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5)");
    if (!stmt.ok()) return stmt.status();
    stmt->BindInt64(1, static_cast<int64_t>(entry.kind))
        .BindText(2, entry.application_id.empty() ? application_id : entry.application_id)
        .BindText(3, entry.target_province)
        .BindBlob(4, entry.payload)
        .BindInt64(5, absl::ToUnixMicros(at));
    if (absl::Status s = stmt->Run(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<OutboxEntry> ReadOutboxEntry(const SqliteStatement& stmt) {
  OutboxEntry entry;
  entry.id = stmt.ColumnInt64(0);
  const int64_t kind = stmt.ColumnInt64(1);
  if (kind != static_cast<int64_t>(OutboxEntry::Kind::kDeliverApplication) &&
      kind != static_cast<int64_t>(OutboxEntry::Kind::kDeliverEvent)) {
    return absl::DataLossError(absl::StrCat("outbox entry ", entry.id, " has unknown kind ", kind));
  }
  entry.kind = static_cast<OutboxEntry::Kind>(kind);
  entry.application_id = stmt.ColumnText(2);
  entry.target_province = stmt.ColumnText(3);
  entry.payload = stmt.ColumnBlob(4);
  entry.attempts = static_cast<int32_t>(stmt.ColumnInt64(5));
  entry.created_at = absl::FromUnixMicros(stmt.ColumnInt64(6));
  entry.next_attempt_at = absl::FromUnixMicros(stmt.ColumnInt64(7));
  entry.last_error = stmt.ColumnText(8);
  if (!stmt.ColumnIsNull(9)) entry.dead_at = absl::FromUnixMicros(stmt.ColumnInt64(9));
  entry.dead_code = stmt.ColumnText(10);
  return entry;
}

}  // namespace

// NOT_FOUND when absent.
absl::StatusOr<v1::Application> LoadApplication(sqlite3* db, const std::string& id,
                                                bool with_events) {
  auto stmt = SqliteStatement::Prepare(
      db, "SELECT application FROM applications WHERE application_id = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, id);
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::NotFoundError(absl::StrCat("application ", id, " not found"));
  v1::Application application;
  if (absl::Status s =
          ParseInto(stmt->ColumnBlob(0), application, absl::StrCat("application ", id));
      !s.ok()) {
    return s;
  }
  if (with_events) {
    if (absl::Status s = LoadEvents(db, application); !s.ok()) return s;
  }
  return application;
}

absl::Status PersistMutation(sqlite3* db, const v1::Application& app, bool insert_row,
                             int first_new_event, const std::optional<v1::Escalation>& escalation,
                             const std::vector<OutboxEntry>& outbox, absl::Time outbox_at) {
  if (absl::Status s = WriteApplicationRow(db, app, insert_row); !s.ok()) return s;
  if (absl::Status s = InsertEvents(db, app, first_new_event); !s.ok()) return s;
  if (escalation.has_value()) {
    if (absl::Status s = UpsertEscalation(db, *escalation); !s.ok()) return s;
  }
  return InsertOutbox(db, app.application_id(), outbox, outbox_at);
}

absl::StatusOr<std::optional<IdempotencyRecord>> FindIdempotency(sqlite3* db,
                                                                 const CreateRequest& request) {
  auto stmt = SqliteStatement::Prepare(
      db, "SELECT fingerprint, application_id FROM idempotency WHERE scope = ?1 AND key = ?2");
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, request.idempotency_scope).BindText(2, request.idempotency_key);
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<IdempotencyRecord>();
  return std::optional<IdempotencyRecord>(
      IdempotencyRecord{stmt->ColumnText(0), stmt->ColumnText(1)});
}

absl::Status RecordIdempotency(sqlite3* db, const CreateRequest& request,
                               const std::string& application_id) {
  auto stmt = SqliteStatement::Prepare(
      db,
      "INSERT INTO idempotency (scope, key, fingerprint, application_id) VALUES (?1, ?2, ?3, ?4)");
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, request.idempotency_scope)
      .BindText(2, request.idempotency_key)
      .BindText(3, request.request_fingerprint)
      .BindText(4, application_id);
  return stmt->Run();
}

// Takes the next id sequence inside the caller's transaction: if that
// transaction commits, the counter moved with it; if not, nobody saw the
// number. Either way a sequence is never handed out twice.
absl::StatusOr<int64_t> TakeSequence(sqlite3* db) {
  auto stmt = SqliteStatement::Prepare(
      db, "UPDATE meta SET value = value + 1 WHERE key = 'application_sequence' RETURNING value");
  if (!stmt.ok()) return stmt.status();
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::DataLossError("the application sequence counter is missing from meta");
  const int64_t seq = stmt->ColumnInt64(0);
  if (absl::Status s = stmt->Run(); !s.ok()) return s;  // finish the statement
  if (seq > kMaxApplicationSequence) {
    return absl::ResourceExhaustedError("this node has used all 99,999,999 application ids");
  }
  return seq;
}

absl::StatusOr<std::vector<OutboxEntry>> ReadOutboxEntries(SqliteStatement& stmt) {
  std::vector<OutboxEntry> entries;
  while (true) {
    auto row = stmt.Step();
    if (!row.ok()) return row.status();
    if (!*row) return entries;
    auto entry = ReadOutboxEntry(stmt);
    if (!entry.ok()) return entry.status();
    entries.push_back(*std::move(entry));
  }
}

}  // namespace tongban::node::sqlite_rows
