#include "store/postgres_application_store.h"

#include <unistd.h>

#include <functional>
#include <limits>
#include <optional>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "application_id.h"
#include "province_registry.h"
#include "store/application_history.h"
#include "store/page_cursor.h"
#include "store/postgres_application_rows.h"

namespace tongban::node {
namespace {

using history::AppendEvents;
using history::ParseInto;
using history::SetTimestamp;
using history::TakeEvents;
using history::ToTime;
using pg_rows::LoadApplication;
using pg_rows::PersistMutation;

// Unique among the replicas of a province: host, process and a random part
// (a restarted process on the same host must not inherit its old claims).
std::string NewReplicaId() {
  char host[64] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  absl::BitGen bitgen;
  return absl::StrCat(host, "/", getpid(), "/",
                      absl::Hex(absl::Uniform<uint64_t>(bitgen), absl::kZeroPad16));
}

// The original result when (scope, key) was committed by another
// transaction; ALREADY_EXISTS when its fingerprint differs.
absl::StatusOr<CreateResult> Replay(PgConnection& conn, const CreateRequest& request) {
  auto record = pg_rows::FindIdempotency(conn, request);
  if (!record.ok()) return record.status();
  if (record->fingerprint != request.request_fingerprint) {
    return absl::AlreadyExistsError(
        absl::StrCat("idempotency_key \"", request.idempotency_key,
                     "\" was already used for a different request (application ",
                     record->application_id, "); use a new key for a new request"));
  }
  auto original = LoadApplication(conn, record->application_id, /*with_events=*/true,
                                  /*lock=*/false);
  if (!original.ok()) return original.status();
  return CreateResult{*std::move(original), /*replayed=*/true};
}

// Appends a mutation to `app` in memory and persists it (row updated).
absl::Status ApplyMutation(PgConnection& conn, const std::string& own_province, const Clock& clock,
                           Mutation mutation, v1::Application& app) {
  const int first_new = app.events_size();
  auto latest = AppendEvents(own_province, std::move(mutation.events), app);
  if (!latest.ok()) return latest.status();
  if (mutation.escalation.has_value()) {
    mutation.escalation->set_application_id(app.application_id());
    app.set_escalated(!mutation.escalation->resolved());
  }
  const absl::Time outbox_at = *latest == absl::InfinitePast() ? clock.Now() : *latest;
  return PersistMutation(conn, app, /*insert_row=*/false, first_new, mutation.escalation,
                         mutation.outbox, outbox_at);
}

// Fills a page from rows whose column 0 is the seq; the statement selected
// limit + 1 rows so that one extra row tells a next page exists.
template <typename T, typename ParseRow>
absl::Status CollectPage(const PgResult& rows, int limit, ParseRow parse, Page<T>& page) {
  for (int r = 0; r < rows.rows(); ++r) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_cursor = absl::StrCat(rows.Int64(r - 1, 0));
      return absl::OkStatus();
    }
    auto item = parse(rows, r);
    if (!item.ok()) return item.status();
    page.items.push_back(*std::move(item));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Application> ParseApplicationRow(const PgResult& rows, int r) {
  v1::Application application;
  absl::Status s = ParseInto(rows.Bytes(r, 1), application, "application");
  if (!s.ok()) return s;
  return application;
}

// `sql` selects (seq, application); `params` are its parameters.
absl::StatusOr<Page<v1::Application>> ListApplications(PostgresDatabase& db, const char* sql,
                                                       const PgParams& params, int limit) {
  Page<v1::Application> page;
  absl::Status status = db.Read([&](PgConnection& conn) {
    page = Page<v1::Application>();
    auto rows = conn.Exec(sql, params);
    if (!rows.ok()) return rows.status();
    return CollectPage(*rows, limit, ParseApplicationRow, page);
  });
  if (!status.ok()) return status;
  return page;
}

}  // namespace

PostgresApplicationStore::PostgresApplicationStore(PostgresDatabase& db,
                                                   std::string own_province_code,
                                                   const Clock& clock,
                                                   PostgresApplicationStoreOptions options)
    : db_(db),
      own_province_(std::move(own_province_code)),
      clock_(clock),
      options_(options),
      replica_id_(NewReplicaId()) {}

absl::StatusOr<CreateResult> PostgresApplicationStore::CreateApplication(
    const CreateRequest& request) {
  const v1::Application& proposed = request.application;
  if (FindProvince(proposed.accepting_province()) == nullptr ||
      FindProvince(proposed.handling_province()) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "application needs known accepting and handling provinces, got \"",
        proposed.accepting_province(), "\" and \"", proposed.handling_province(), "\""));
  }
  CreateResult result;
  absl::Status status =
      db_.Write([&](PgConnection& conn) { return CreateInTransaction(conn, request, result); });
  if (!status.ok()) return status;
  return result;
}

absl::Status PostgresApplicationStore::CreateInTransaction(PgConnection& conn,
                                                           const CreateRequest& request,
                                                           CreateResult& result) const {
  // The key is claimed before anything else: a replica racing with the same
  // key waits here for this transaction and then replays what it filed.
  if (!request.idempotency_key.empty()) {
    auto claimed = pg_rows::ClaimIdempotency(conn, request);
    if (!claimed.ok()) return claimed.status();
    if (!*claimed) {
      auto replay = Replay(conn, request);
      if (!replay.ok()) return replay.status();
      result = *std::move(replay);
      return absl::OkStatus();
    }
  }
  auto seq = pg_rows::TakeSequence(conn);
  if (!seq.ok()) return seq.status();
  v1::Application app = request.application;
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
          PersistMutation(conn, app, /*insert_row=*/true, 0, std::nullopt, outbox, outbox_at);
      !s.ok()) {
    return s;
  }
  if (!request.idempotency_key.empty()) {
    if (absl::Status s = pg_rows::CompleteIdempotency(conn, request, app.application_id());
        !s.ok()) {
      return s;
    }
  }
  result = CreateResult{std::move(app), /*replayed=*/false};
  return absl::OkStatus();
}

absl::StatusOr<InsertResult> PostgresApplicationStore::InsertForeignApplication(
    const v1::Application& application, const MutateFn& on_insert) {
  if (auto parsed = ParseApplicationId(application.application_id()); !parsed.ok()) {
    return parsed.status();
  }
  InsertResult result;
  absl::Status status = db_.Write([&](PgConnection& conn) -> absl::Status {
    // Its history as the other province recorded it, ids kept.
    v1::Application app = application;
    std::vector<v1::ApplicationEvent> events = TakeEvents(app);
    auto appended = AppendEvents(own_province_, std::move(events), app);
    if (!appended.ok()) return appended.status();
    auto inserted = pg_rows::InsertApplicationIfAbsent(conn, app);
    if (!inserted.ok()) return inserted.status();
    if (!*inserted) {
      auto existing = LoadApplication(conn, application.application_id(), /*with_events=*/true,
                                      /*lock=*/false);
      if (!existing.ok()) return existing.status();
      result = InsertResult{*std::move(existing), /*already_present=*/true};
      return absl::OkStatus();
    }
    if (absl::Status s = PersistMutation(conn, app, /*insert_row=*/false, 0, std::nullopt, {},
                                         absl::InfinitePast());
        !s.ok()) {
      return s;
    }
    if (on_insert) {
      if (absl::Status s = MutateInTransaction(conn, app.application_id(), on_insert,
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

absl::Status PostgresApplicationStore::MutateInTransaction(PgConnection& conn,
                                                           const std::string& application_id,
                                                           const MutateFn& fn, bool mark_delivered,
                                                           v1::Application& application) const {
  auto stored = LoadApplication(conn, application_id, /*with_events=*/true, /*lock=*/true);
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
  if (absl::Status s = ApplyMutation(conn, own_province_, clock_, std::move(mutation), app);
      !s.ok()) {
    return s;
  }
  application = std::move(app);
  return absl::OkStatus();
}

absl::StatusOr<v1::Application> PostgresApplicationStore::MutateApplication(
    const std::string& application_id, const MutateFn& fn) {
  v1::Application result;
  absl::Status status = db_.Write([&](PgConnection& conn) {
    return MutateInTransaction(conn, application_id, fn, /*mark_delivered=*/false, result);
  });
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<v1::Application> PostgresApplicationStore::GetApplication(
    const std::string& application_id, bool with_events) {
  v1::Application result;
  absl::Status status = db_.Read([&](PgConnection& conn) {
    auto loaded = LoadApplication(conn, application_id, with_events, /*lock=*/false);
    if (!loaded.ok()) return loaded.status();
    result = *std::move(loaded);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<Page<v1::Application>> PostgresApplicationStore::ListByApplicant(
    const std::string& id_number, const std::string& cursor, int limit,
    const std::string& accepting_province) {
  if (absl::Status s = CheckPageLimit(limit); !s.ok()) return s;
  if (id_number.empty()) return absl::InvalidArgumentError("applicant id_number is empty");
  auto before = ParsePageCursor(cursor, std::numeric_limits<int64_t>::max());
  if (!before.ok()) return before.status();
  PgParams p;
  p.Text(id_number).Int(*before).Int(static_cast<int64_t>(limit) + 1).Text(accepting_province);
  return ListApplications(
      db_,
      "SELECT seq, application FROM applications WHERE applicant_id_number = $1 AND seq < $2 "
      "AND ($4 = '' OR accepting_province = $4) ORDER BY seq DESC LIMIT $3",
      p, limit);
}

absl::StatusOr<Page<v1::Application>> PostgresApplicationStore::ListByState(
    v1::ApplicationState state, const std::string& cursor, int limit) {
  if (absl::Status s = CheckPageLimit(limit); !s.ok()) return s;
  auto after = ParsePageCursor(cursor, 0);
  if (!after.ok()) return after.status();
  PgParams p;
  p.Int(state).Int(*after).Int(static_cast<int64_t>(limit) + 1);
  return ListApplications(db_,
                          "SELECT seq, application FROM applications WHERE state = $1 "
                          "AND seq > $2 ORDER BY seq LIMIT $3",
                          p, limit);
}

absl::StatusOr<Page<v1::Escalation>> PostgresApplicationStore::ListEscalations(
    bool include_resolved, const std::string& cursor, int limit) {
  if (absl::Status s = CheckPageLimit(limit); !s.ok()) return s;
  auto after = ParsePageCursor(cursor, 0);
  if (!after.ok()) return after.status();
  auto parse = [](const PgResult& rows, int r) -> absl::StatusOr<v1::Escalation> {
    v1::Escalation escalation;
    if (absl::Status s = ParseInto(rows.Bytes(r, 1), escalation, "escalation"); !s.ok()) {
      return s;
    }
    escalation.set_application_state(static_cast<v1::ApplicationState>(rows.Int64(r, 2)));
    escalation.set_item_code(rows.Text(r, 3));
    return escalation;
  };
  PgParams p;
  p.Int(include_resolved ? 1 : 0).Int(*after).Int(static_cast<int64_t>(limit) + 1);
  Page<v1::Escalation> page;
  absl::Status status = db_.Read([&](PgConnection& conn) {
    page = Page<v1::Escalation>();
    auto rows = conn.Exec(
        "SELECT e.seq, e.escalation, a.state, a.item_code FROM escalations e "
        "JOIN applications a ON a.application_id = e.application_id "
        "WHERE ($1 = 1 OR e.is_open) AND e.seq > $2 ORDER BY e.seq LIMIT $3",
        p);
    if (!rows.ok()) return rows.status();
    return CollectPage(*rows, limit, parse, page);
  });
  if (!status.ok()) return status;
  return page;
}

// The outbox methods are in postgres_application_outbox.cc.

absl::StatusOr<int64_t> PostgresApplicationStore::CountOpenEscalations() {
  int64_t open = 0;
  // On the escalations_by_open index: as many rows as are open.
  absl::Status status = db_.Read([&](PgConnection& conn) {
    auto row = conn.Exec("SELECT count(*) FROM escalations WHERE is_open");
    if (!row.ok()) return row.status();
    open = row->Int64(0, 0);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return open;
}

absl::StatusOr<std::map<v1::ApplicationState, int64_t>>
PostgresApplicationStore::CountOpenApplicationsByState() {
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
  absl::Status status = db_.Read([&](PgConnection& conn) {
    counts.clear();
    auto rows = conn.Exec(kSql.c_str());
    if (!rows.ok()) return rows.status();
    for (int r = 0; r < rows->rows(); ++r) {
      counts[static_cast<v1::ApplicationState>(rows->Int64(r, 0))] = rows->Int64(r, 1);
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return counts;
}

absl::StatusOr<Page<v1::Application>> PostgresApplicationStore::ListOpenRectifications(
    absl::Time due_before, const std::string& cursor, int limit) {
  if (absl::Status s = CheckPageLimit(limit); !s.ok()) return s;
  auto after = ParsePageCursor(cursor, 0);
  if (!after.ok()) return after.status();
  const int64_t before = due_before == absl::InfiniteFuture()
                             ? std::numeric_limits<int64_t>::max()
                             : absl::ToUnixMicros(due_before);
  PgParams p;
  p.Int(before).Int(*after).Int(static_cast<int64_t>(limit) + 1);
  return ListApplications(db_,
                          "SELECT seq, application FROM applications WHERE rectification_open "
                          "AND rectification_due_at < $1 AND seq > $2 ORDER BY seq LIMIT $3",
                          p, limit);
}

absl::StatusOr<RectificationCounts> PostgresApplicationStore::CountRectifications(absl::Time now) {
  RectificationCounts counts;
  PgParams p;
  p.Int(absl::ToUnixMicros(now));
  // On the partial index of open rectifications: as many rows as are open.
  absl::Status status = db_.Read([&](PgConnection& conn) {
    auto row = conn.Exec(
        "SELECT count(*), count(*) FILTER (WHERE rectification_due_at < $1) FROM applications "
        "WHERE rectification_open",
        p);
    if (!row.ok()) return row.status();
    counts.open = row->Int64(0, 0);
    counts.overdue = row->Int64(0, 1);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return counts;
}

}  // namespace tongban::node
