#include "store/sqlite_application_store.h"

#include <functional>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "application_id.h"
#include "province_registry.h"
#include "store/sqlite_application_rows.h"

namespace tongban::node {
namespace {

using sqlite_rows::AppendEvents;
using sqlite_rows::FindIdempotency;
using sqlite_rows::IdempotencyRecord;
using sqlite_rows::LoadApplication;
using sqlite_rows::ParseInto;
using sqlite_rows::PersistMutation;
using sqlite_rows::RecordIdempotency;
using sqlite_rows::SetTimestamp;
using sqlite_rows::TakeEvents;
using sqlite_rows::TakeSequence;
using sqlite_rows::ToTime;

absl::Status CheckLimit(int limit) {
  if (limit < 1) return absl::InvalidArgumentError("page limit must be at least 1");
  return absl::OkStatus();
}

// A cursor is the decimal seq of the last row of the previous page.
absl::StatusOr<int64_t> ParseCursor(const std::string& cursor, int64_t if_empty) {
  if (cursor.empty()) return if_empty;
  int64_t seq = 0;
  const bool digits =
      cursor.size() <= 18 && cursor.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || !absl::SimpleAtoi(cursor, &seq)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page cursor \"", cursor.substr(0, 40),
        "\" was not issued by this node; pass the next_page_token of a previous page"));
  }
  return seq;
}

// The original result when (scope, key) was seen with the same
// fingerprint; nullopt when unseen or when the request has no key.
absl::StatusOr<std::optional<CreateResult>> ReplayIfSeen(sqlite3* db,
                                                         const CreateRequest& request) {
  if (request.idempotency_key.empty()) return std::optional<CreateResult>();
  auto seen = FindIdempotency(db, request);
  if (!seen.ok()) return seen.status();
  if (!seen->has_value()) return std::optional<CreateResult>();
  const IdempotencyRecord& record = **seen;
  if (record.fingerprint != request.request_fingerprint) {
    return absl::AlreadyExistsError(
        absl::StrCat("idempotency_key \"", request.idempotency_key,
                     "\" was already used for a different request (application ",
                     record.application_id, "); use a new key for a new request"));
  }
  auto original = LoadApplication(db, record.application_id, /*with_events=*/true);
  if (!original.ok()) return original.status();
  return std::optional<CreateResult>(CreateResult{*std::move(original), /*replayed=*/true});
}

// Appends a mutation to `app` in memory and persists it (row updated).
absl::Status ApplyMutation(sqlite3* db, const std::string& own_province, const Clock& clock,
                           Mutation mutation, v1::Application& app) {
  const int first_new = app.events_size();
  auto latest = AppendEvents(own_province, std::move(mutation.events), app);
  if (!latest.ok()) return latest.status();
  if (mutation.escalation.has_value()) {
    mutation.escalation->set_application_id(app.application_id());
    app.set_escalated(!mutation.escalation->resolved());
  }
  const absl::Time outbox_at = *latest == absl::InfinitePast() ? clock.Now() : *latest;
  return PersistMutation(db, app, /*insert_row=*/false, first_new, mutation.escalation,
                         mutation.outbox, outbox_at);
}

// Reads rows whose column 0 is the seq and fills a page; the statement was
// bound with LIMIT limit + 1 so that one extra row tells a next page exists.
template <typename T, typename ParseRow>
absl::Status CollectPage(SqliteStatement& stmt, int limit, ParseRow parse, Page<T>& page) {
  int64_t last_seq = 0;
  while (true) {
    auto row = stmt.Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_cursor = absl::StrCat(last_seq);
      return absl::OkStatus();
    }
    auto item = parse(stmt);
    if (!item.ok()) return item.status();
    page.items.push_back(*std::move(item));
    last_seq = stmt.ColumnInt64(0);
  }
}

absl::StatusOr<v1::Application> ParseApplicationRow(const SqliteStatement& stmt) {
  v1::Application application;
  absl::Status s = ParseInto(stmt.ColumnBlob(1), application, "application");
  if (!s.ok()) return s;
  return application;
}

// `sql` selects (seq, application) with ?1 the filter key (bound by
// `bind_key`), ?2 the cursor seq and ?3 the row limit.
absl::StatusOr<Page<v1::Application>> ListApplications(
    SqliteDatabase& db, const char* sql, const std::function<void(SqliteStatement&)>& bind_key,
    int64_t after, int limit) {
  Page<v1::Application> page;
  absl::Status status = db.Read([&](sqlite3* conn) {
    auto stmt = SqliteStatement::Prepare(conn, sql);
    if (!stmt.ok()) return stmt.status();
    bind_key(*stmt);
    stmt->BindInt64(2, after).BindInt64(3, static_cast<int64_t>(limit) + 1);
    return CollectPage(*stmt, limit, ParseApplicationRow, page);
  });
  if (!status.ok()) return status;
  return page;
}

absl::Status CheckProvincesKnown(const v1::Application& proposed) {
  if (FindProvince(proposed.accepting_province()) == nullptr ||
      FindProvince(proposed.handling_province()) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "application needs known accepting and handling provinces, got \"",
        proposed.accepting_province(), "\" and \"", proposed.handling_province(), "\""));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CreateResult> SqliteApplicationStore::CreateApplication(
    const CreateRequest& request) {
  if (absl::Status known = CheckProvincesKnown(request.application); !known.ok()) return known;
  CreateResult result;
  absl::Status status =
      db_.Write([&](sqlite3* db) { return CreateInTransaction(db, request, nullptr, result); });
  if (!status.ok()) return status;
  return result;
}

void SqliteApplicationStore::CreateApplicationAsync(CreateRequest request, CreateDone done) {
  if (absl::Status known = CheckProvincesKnown(request.application); !known.ok()) {
    done(known);
    return;
  }
  // The writer runs the function after this returns: the request and the
  // result live with the two functions. It runs once (a batch that fails
  // is answered, never re-run), so it may take the application.
  struct Pending {
    CreateRequest request;
    CreateResult result;
  };
  auto pending = std::make_shared<Pending>(Pending{std::move(request), CreateResult{}});
  db_.WriteAsync(
      [this, pending](sqlite3* db) {
        return CreateInTransaction(db, pending->request, &pending->request.application,
                                   pending->result);
      },
      [pending, done = std::move(done)](absl::Status status) {
        if (!status.ok()) {
          done(status);
        } else {
          done(std::move(pending->result));
        }
      });
}

absl::Status SqliteApplicationStore::CreateInTransaction(sqlite3* db, const CreateRequest& request,
                                                         v1::Application* take,
                                                         CreateResult& result) const {
  // Idempotency check and insert share the transaction, so two racing
  // requests with one key cannot both file.
  auto replay = ReplayIfSeen(db, request);
  if (!replay.ok()) return replay.status();
  if (replay->has_value()) {
    result = **std::move(replay);
    return absl::OkStatus();
  }
  auto seq = TakeSequence(db);
  if (!seq.ok()) return seq.status();
  // Moved when the caller hands its application over, else copied.
  v1::Application app = take != nullptr ? std::move(*take) : request.application;
  std::vector<v1::ApplicationEvent> events = TakeEvents(app);
  if (!app.has_created_at()) SetTimestamp(clock_.Now(), app.mutable_created_at());
  app.set_application_id(FormatApplicationId(app.accepting_province(), app.handling_province(),
                                             ToTime(app.created_at()), *seq));
  if (request.finalize) {
    if (absl::Status s = request.finalize(app, events); !s.ok()) return s;
  }
  auto latest = AppendEvents(own_province_, std::move(events), app);
  if (!latest.ok()) return latest.status();
  std::vector<OutboxEntry> outbox;
  if (request.make_outbox) outbox = request.make_outbox(app);
  const absl::Time outbox_at = *latest == absl::InfinitePast() ? clock_.Now() : *latest;
  if (absl::Status s =
          PersistMutation(db, app, /*insert_row=*/true, 0, std::nullopt, outbox, outbox_at);
      !s.ok()) {
    return s;
  }
  if (!request.idempotency_key.empty()) {
    if (absl::Status s = RecordIdempotency(db, request, app.application_id()); !s.ok()) return s;
  }
  result = CreateResult{std::move(app), /*replayed=*/false};
  return absl::OkStatus();
}

absl::StatusOr<InsertResult> SqliteApplicationStore::InsertForeignApplication(
    const v1::Application& application, const MutateFn& on_insert) {
  if (auto parsed = ParseApplicationId(application.application_id()); !parsed.ok()) {
    return parsed.status();
  }
  InsertResult result;
  absl::Status status = db_.Write([&](sqlite3* db) -> absl::Status {
    auto existing = LoadApplication(db, application.application_id(), /*with_events=*/true);
    if (existing.ok()) {
      result = InsertResult{*std::move(existing), /*already_present=*/true};
      return absl::OkStatus();
    }
    if (!absl::IsNotFound(existing.status())) return existing.status();
    // Its history as the other province recorded it, ids kept.
    v1::Application app = application;
    std::vector<v1::ApplicationEvent> events = TakeEvents(app);
    auto appended = AppendEvents(own_province_, std::move(events), app);
    if (!appended.ok()) return appended.status();
    if (absl::Status s = PersistMutation(db, app, /*insert_row=*/true, 0, std::nullopt, {},
                                         absl::InfinitePast());
        !s.ok()) {
      return s;
    }
    if (on_insert) {
      if (absl::Status s = MutateInTransaction(db, app.application_id(), on_insert,
                                               /*mark_delivered=*/false, app);
          !s.ok()) {
        return s;
      }
    }
    result = InsertResult{std::move(app), /*already_present=*/false};
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return result;
}

absl::Status SqliteApplicationStore::MutateInTransaction(sqlite3* db,
                                                         const std::string& application_id,
                                                         const MutateFn& fn, bool mark_delivered,
                                                         v1::Application& application) const {
  auto stored = LoadApplication(db, application_id, /*with_events=*/true);
  if (!stored.ok()) return stored.status();
  v1::Application app = *stored;
  if (mark_delivered) app.set_forwarding(v1::FORWARDING_STATE_DELIVERED);
  Mutation mutation;
  if (fn) {
    auto returned = fn(app);
    if (!returned.ok()) return returned.status();
    mutation = *std::move(returned);
  }
  if (app.application_id() != application_id) {
    return absl::InternalError(absl::StrCat("a mutation of application ", application_id,
                                            " tried to change its id to ", app.application_id()));
  }
  // The history is append-only: it grows through Mutation::events alone,
  // whatever the callback did to app.events.
  *app.mutable_events() = stored->events();
  if (absl::Status s = ApplyMutation(db, own_province_, clock_, std::move(mutation), app);
      !s.ok()) {
    return s;
  }
  application = std::move(app);
  return absl::OkStatus();
}

absl::StatusOr<v1::Application> SqliteApplicationStore::MutateApplication(
    const std::string& application_id, const MutateFn& fn) {
  v1::Application result;
  absl::Status status = db_.Write([&](sqlite3* db) {
    return MutateInTransaction(db, application_id, fn, /*mark_delivered=*/false, result);
  });
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<v1::Application> SqliteApplicationStore::GetApplication(
    const std::string& application_id, bool with_events) {
  v1::Application result;
  absl::Status status = db_.Read([&](sqlite3* db) {
    auto loaded = LoadApplication(db, application_id, with_events);
    if (!loaded.ok()) return loaded.status();
    result = *std::move(loaded);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<Page<v1::Application>> SqliteApplicationStore::ListByApplicant(
    const std::string& id_number, const std::string& cursor, int limit,
    const std::string& accepting_province) {
  if (absl::Status s = CheckLimit(limit); !s.ok()) return s;
  if (id_number.empty()) return absl::InvalidArgumentError("applicant id_number is empty");
  auto before = ParseCursor(cursor, std::numeric_limits<int64_t>::max());
  if (!before.ok()) return before.status();
  return ListApplications(
      db_,
      "SELECT seq, application FROM applications WHERE applicant_id_number = "
      "?1 AND seq < ?2 AND (?4 = '' OR accepting_province = ?4) ORDER BY seq DESC LIMIT ?3",
      [&](SqliteStatement& stmt) {
        stmt.BindText(1, id_number);
        stmt.BindText(4, accepting_province);
      },
      *before, limit);
}

absl::StatusOr<Page<v1::Application>> SqliteApplicationStore::ListByState(
    v1::ApplicationState state, const std::string& cursor, int limit) {
  if (absl::Status s = CheckLimit(limit); !s.ok()) return s;
  auto after = ParseCursor(cursor, 0);
  if (!after.ok()) return after.status();
  return ListApplications(
      db_,
      "SELECT seq, application FROM applications WHERE state = ?1 "
      "AND seq > ?2 ORDER BY seq LIMIT ?3",
      [&](SqliteStatement& stmt) { stmt.BindInt64(1, state); }, *after, limit);
}

absl::StatusOr<Page<v1::Escalation>> SqliteApplicationStore::ListEscalations(
    bool include_resolved, const std::string& cursor, int limit) {
  if (absl::Status s = CheckLimit(limit); !s.ok()) return s;
  auto after = ParseCursor(cursor, 0);
  if (!after.ok()) return after.status();
  auto parse = [](const SqliteStatement& stmt) -> absl::StatusOr<v1::Escalation> {
    v1::Escalation escalation;
    if (absl::Status s = ParseInto(stmt.ColumnBlob(1), escalation, "escalation"); !s.ok()) {
      return s;
    }
    escalation.set_application_state(static_cast<v1::ApplicationState>(stmt.ColumnInt64(2)));
    escalation.set_item_code(stmt.ColumnText(3));
    return escalation;
  };
  Page<v1::Escalation> page;
  absl::Status status = db_.Read([&](sqlite3* db) {
    auto stmt = SqliteStatement::Prepare(
        db,
        "SELECT e.seq, e.escalation, a.state, a.item_code FROM escalations e "
        "JOIN applications a ON a.application_id = e.application_id "
        "WHERE (?1 = 1 OR e.open = 1) AND e.seq > ?2 ORDER BY e.seq LIMIT ?3");
    if (!stmt.ok()) return stmt.status();
    stmt->BindInt64(1, include_resolved ? 1 : 0)
        .BindInt64(2, *after)
        .BindInt64(3, static_cast<int64_t>(limit) + 1);
    return CollectPage(*stmt, limit, parse, page);
  });
  if (!status.ok()) return status;
  return page;
}

// The outbox methods are in sqlite_application_outbox.cc.

absl::StatusOr<int64_t> SqliteApplicationStore::CountOpenEscalations() {
  int64_t open = 0;
  // Counted on the escalations_by_open index: as many rows as are open.
  absl::Status status = db_.Read([&](sqlite3* db) {
    auto stmt = SqliteStatement::Prepare(db, "SELECT count(*) FROM escalations WHERE open = 1");
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    open = stmt->ColumnInt64(0);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return open;
}

absl::StatusOr<std::map<v1::ApplicationState, int64_t>>
SqliteApplicationStore::CountOpenApplicationsByState() {
  // Ranges of the applications_by_state index for the non-terminal states
  // only, so the cost follows the work in progress, not the node's history.
  static const std::string kSql = absl::StrCat(
      "SELECT state, count(*) FROM applications WHERE state IN (",
      static_cast<int>(v1::APPLICATION_STATE_RECEIVED), ", ",
      static_cast<int>(v1::APPLICATION_STATE_PENDING_SUPPLEMENT), ", ",
      static_cast<int>(v1::APPLICATION_STATE_ACCEPTED), ", ",
      static_cast<int>(v1::APPLICATION_STATE_IN_REVIEW), ", ",
      static_cast<int>(v1::APPLICATION_STATE_WAITING_FOR_MATERIALS), ") GROUP BY state");
  std::map<v1::ApplicationState, int64_t> counts;
  absl::Status status = db_.Read([&](sqlite3* db) {
    auto stmt = SqliteStatement::Prepare(db, kSql.c_str());
    if (!stmt.ok()) return stmt.status();
    for (;;) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::OkStatus();
      counts[static_cast<v1::ApplicationState>(stmt->ColumnInt64(0))] = stmt->ColumnInt64(1);
    }
  });
  if (!status.ok()) return status;
  return counts;
}

absl::StatusOr<Page<v1::Application>> SqliteApplicationStore::ListOpenRectifications(
    absl::Time due_before, const std::string& cursor, int limit) {
  if (absl::Status s = CheckLimit(limit); !s.ok()) return s;
  auto after = ParseCursor(cursor, 0);
  if (!after.ok()) return after.status();
  const int64_t before = due_before == absl::InfiniteFuture()
                             ? std::numeric_limits<int64_t>::max()
                             : absl::ToUnixMicros(due_before);
  return ListApplications(
      db_,
      "SELECT seq, application FROM applications WHERE rectification_open = 1 "
      "AND rectification_due_at < ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
      [&](SqliteStatement& stmt) { stmt.BindInt64(1, before); }, *after, limit);
}

absl::StatusOr<RectificationCounts> SqliteApplicationStore::CountRectifications(absl::Time now) {
  RectificationCounts counts;
  // On the partial index of open rectifications: as many rows as are open.
  absl::Status status = db_.Read([&](sqlite3* db) {
    auto stmt = SqliteStatement::Prepare(
        db,
        "SELECT count(*), coalesce(sum(rectification_due_at < ?1), 0) FROM applications "
        "WHERE rectification_open = 1");
    if (!stmt.ok()) return stmt.status();
    stmt->BindInt64(1, absl::ToUnixMicros(now));
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    counts.open = stmt->ColumnInt64(0);
    counts.overdue = stmt->ColumnInt64(1);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return counts;
}

}  // namespace tongban::node
