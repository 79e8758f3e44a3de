#include "store/postgres_application_rows.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "store/application_history.h"

namespace tongban::node::pg_rows {
namespace {

using history::kMaxApplicationSequence;
using history::ParseInto;
using history::ToTime;

std::string SerializeWithoutEvents(const v1::Application& application) {
  v1::Application copy = application;
  copy.clear_events();
  return copy.SerializeAsString();
}

PgParams RowParams(const v1::Application& app) {
  PgParams p;
  p.Text(app.application_id())
      .Text(app.applicant().id_number())
      .Int(app.state())
      .Text(app.accepting_province())
      .Text(app.handling_province())
      .Text(app.item_code())
      .Int(absl::ToUnixMicros(ToTime(app.created_at())))
      .Bytes(SerializeWithoutEvents(app))
      .Int(app.has_rectification() && !app.rectification().closed() ? 1 : 0)
      .Int(absl::ToUnixMicros(ToTime(app.rectification().due_at())));
  return p;
}

absl::Status LoadEvents(PgConnection& conn, v1::Application& application) {
  PgParams p;
  p.Text(application.application_id());
  auto rows = conn.Exec(
      "SELECT event FROM application_events WHERE application_id = $1 ORDER BY ordinal", p);
  if (!rows.ok()) return rows.status();
  for (int r = 0; r < rows->rows(); ++r) {
    absl::Status s = ParseInto(rows->Bytes(r, 0), *application.add_events(),
                               absl::StrCat("event of ", application.application_id()));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status WriteApplicationRow(PgConnection& conn, const v1::Application& app, bool insert) {
  static constexpr char kInsert[] =
      "INSERT INTO applications (application_id, applicant_id_number, state, "
      "accepting_province, handling_province, item_code, created_at, application, "
      "rectification_open, rectification_due_at) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9 = 1, $10)";
  static constexpr char kUpdate[] =
      "UPDATE applications SET applicant_id_number = $2, state = $3, accepting_province = $4, "
      "handling_province = $5, item_code = $6, created_at = $7, application = $8, "
      "rectification_open = ($9 = 1), rectification_due_at = $10 "
      "WHERE application_id = $1";
  // Sent with COMMIT (PgConnection::Defer); an error surfaces there.
  conn.Defer(insert ? kInsert : kUpdate, RowParams(app));
  return absl::OkStatus();
}

absl::Status InsertEvents(PgConnection& conn, const v1::Application& app, int first) {
  for (int i = first; i < app.events_size(); ++i) {
    PgParams p;
    p.Text(app.application_id())
        .Int(i)
        .Text(app.events(i).event_id())
        .Bytes(app.events(i).SerializeAsString());
    conn.Defer(
        "INSERT INTO application_events (application_id, ordinal, event_id, event) "
        "VALUES ($1, $2, $3, $4)",
        p);
  }
  return absl::OkStatus();
}

// One escalation per application. Re-opening a resolved one gives it a new
// seq, so it moves to the end of the oldest-first queue like a new one.
absl::Status UpsertEscalation(PgConnection& conn, const v1::Escalation& escalation) {
  const bool open = !escalation.resolved();
  if (open) {
    PgParams p;
    p.Text(escalation.application_id());
    conn.Defer("DELETE FROM escalations WHERE application_id = $1 AND NOT is_open", p);
  }
  PgParams p;
  p.Text(escalation.application_id()).Int(open ? 1 : 0).Bytes(escalation.SerializeAsString());
  conn.Defer(
      "INSERT INTO escalations (application_id, is_open, escalation) VALUES ($1, $2 = 1, $3) "
      "ON CONFLICT (application_id) DO UPDATE SET is_open = excluded.is_open, "
      "escalation = excluded.escalation",
      p);
  return absl::OkStatus();
}

absl::Status InsertOutbox(PgConnection& conn, const std::string& application_id,
                          const std::vector<OutboxEntry>& entries, absl::Time at) {
  for (const OutboxEntry& entry : entries) {
    if (entry.target_province.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("an outbox entry of application ",
                                                     application_id, " has no target province"));
    }
    PgParams p;
    p.Int(static_cast<int64_t>(entry.kind))
        .Text(entry.application_id.empty() ? application_id : entry.application_id)
        .Text(entry.target_province)
        .Bytes(entry.payload)
        .Int(absl::ToUnixMicros(at));
    conn.Defer(
        "INSERT INTO outbox (kind, application_id, target_province, payload, attempts, "
        "created_at, next_attempt_at) VALUES ($1, $2, $3, $4, 0, $5, $5)",
        p);
  }
  return absl::OkStatus();
}

absl::StatusOr<OutboxEntry> ReadOutboxEntry(const PgResult& result, int r) {
  OutboxEntry entry;
  entry.id = result.Int64(r, 0);
  const int64_t kind = result.Int64(r, 1);
  if (kind != static_cast<int64_t>(OutboxEntry::Kind::kDeliverApplication) &&
      kind != static_cast<int64_t>(OutboxEntry::Kind::kDeliverEvent)) {
    return absl::DataLossError(absl::StrCat("outbox entry ", entry.id, " has unknown kind ", kind));
  }
  entry.kind = static_cast<OutboxEntry::Kind>(kind);
  entry.application_id = result.Text(r, 2);
  entry.target_province = result.Text(r, 3);
  entry.payload = result.Bytes(r, 4);
  entry.attempts = static_cast<int32_t>(result.Int64(r, 5));
  entry.created_at = absl::FromUnixMicros(result.Int64(r, 6));
  entry.next_attempt_at = absl::FromUnixMicros(result.Int64(r, 7));
  entry.last_error = result.Text(r, 8);
  if (!result.IsNull(r, 9)) entry.dead_at = absl::FromUnixMicros(result.Int64(r, 9));
  entry.dead_code = result.Text(r, 10);
  return entry;
}

}  // namespace

absl::StatusOr<v1::Application> LoadApplication(PgConnection& conn, const std::string& id,
                                                bool with_events, bool lock) {
  PgParams p;
  p.Text(id);
  auto row = conn.Exec(lock ? "SELECT application FROM applications WHERE application_id = $1 "
                              "FOR UPDATE"
                            : "SELECT application FROM applications WHERE application_id = $1",
                       p);
  if (!row.ok()) return row.status();
  if (row->rows() == 0) return absl::NotFoundError(absl::StrCat("application ", id, " not found"));
  v1::Application application;
  if (absl::Status s = ParseInto(row->Bytes(0, 0), application, absl::StrCat("application ", id));
      !s.ok()) {
    return s;
  }
  if (with_events) {
    if (absl::Status s = LoadEvents(conn, application); !s.ok()) return s;
  }
  return application;
}

absl::StatusOr<bool> InsertApplicationIfAbsent(PgConnection& conn, const v1::Application& app) {
  auto done = conn.Exec(
      "INSERT INTO applications (application_id, applicant_id_number, state, "
      "accepting_province, handling_province, item_code, created_at, application, "
      "rectification_open, rectification_due_at) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9 = 1, $10) "
      "ON CONFLICT (application_id) DO NOTHING",
      RowParams(app));
  if (!done.ok()) return done.status();
  return done->affected() == 1;
}

absl::Status PersistMutation(PgConnection& conn, const v1::Application& app, bool insert_row,
                             int first_new_event, const std::optional<v1::Escalation>& escalation,
                             const std::vector<OutboxEntry>& outbox, absl::Time outbox_at) {
  if (absl::Status s = WriteApplicationRow(conn, app, insert_row); !s.ok()) return s;
  if (absl::Status s = InsertEvents(conn, app, first_new_event); !s.ok()) return s;
  if (escalation.has_value()) {
    if (absl::Status s = UpsertEscalation(conn, *escalation); !s.ok()) return s;
  }
  return InsertOutbox(conn, app.application_id(), outbox, outbox_at);
}

absl::StatusOr<bool> ClaimIdempotency(PgConnection& conn, const CreateRequest& request) {
  PgParams p;
  p.Text(request.idempotency_scope).Text(request.idempotency_key).Text(request.request_fingerprint);
  // ON CONFLICT waits for a concurrent claimer of the key: when it commits,
  // nothing is inserted here; when it rolls back, this claim goes in.
  auto done = conn.Exec(
      "INSERT INTO idempotency (scope, request_key, fingerprint) VALUES ($1, $2, $3) "
      "ON CONFLICT (scope, request_key) DO NOTHING",
      p);
  if (!done.ok()) return done.status();
  return done->affected() == 1;
}

absl::StatusOr<IdempotencyRecord> FindIdempotency(PgConnection& conn,
                                                  const CreateRequest& request) {
  PgParams p;
  p.Text(request.idempotency_scope).Text(request.idempotency_key);
  auto row = conn.Exec(
      "SELECT fingerprint, application_id FROM idempotency WHERE scope = $1 AND request_key = $2",
      p);
  if (!row.ok()) return row.status();
  if (row->rows() == 0 || row->IsNull(0, 1)) {
    return absl::NotFoundError(
        absl::StrCat("idempotency key \"", request.idempotency_key, "\" is not recorded"));
  }
  return IdempotencyRecord{row->Text(0, 0), row->Text(0, 1)};
}

absl::Status CompleteIdempotency(PgConnection& conn, const CreateRequest& request,
                                 const std::string& application_id) {
  PgParams p;
  p.Text(request.idempotency_scope).Text(request.idempotency_key).Text(application_id);
  conn.Defer("UPDATE idempotency SET application_id = $3 WHERE scope = $1 AND request_key = $2",
             p);
  return absl::OkStatus();
}

// Inside the caller's transaction: if it commits, the counter moved with it;
// if not, nobody saw the number. Either way a sequence is never handed out twice.
absl::StatusOr<int64_t> TakeSequence(PgConnection& conn) {
  auto row = conn.Exec(
      "UPDATE counters SET value = value + 1 WHERE name = 'application_sequence' RETURNING value");
  if (!row.ok()) return row.status();
  if (row->rows() == 0) {
    return absl::DataLossError("the application sequence counter is missing from counters");
  }
  const int64_t seq = row->Int64(0, 0);
  if (seq > kMaxApplicationSequence) {
    return absl::ResourceExhaustedError("this node has used all 99,999,999 application ids");
  }
  return seq;
}

absl::StatusOr<std::vector<OutboxEntry>> ReadOutboxEntries(const PgResult& result) {
  std::vector<OutboxEntry> entries;
  entries.reserve(result.rows());
  for (int r = 0; r < result.rows(); ++r) {
    auto entry = ReadOutboxEntry(result, r);
    if (!entry.ok()) return entry.status();
    entries.push_back(*std::move(entry));
  }
  return entries;
}

}  // namespace tongban::node::pg_rows
