// The outbox half of PostgresApplicationStore: what the forwarder reads and
// records, and what operators list, replay and discard (dead letters).
//
// Order: as in SQLite (sqlite_application_outbox.cc), one application's
// entries leave in `ordering` order (NULL: the id), ties broken by id; only
// the first entry of each application is ever due, and a dead letter holds
// back the entries behind it. Claims (postgres_application_store.h) make
// sure one replica at a time works an application's head entry.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "store/page_cursor.h"
#include "store/postgres_application_rows.h"
#include "store/postgres_application_store.h"

namespace tongban::node {
namespace {

using pg_rows::kOutboxColumns;
using pg_rows::ReadOutboxEntries;

absl::Status EntryNotFound(int64_t entry_id) {
  return absl::NotFoundError(absl::StrCat("outbox entry ", entry_id,
                                          " not found (delivered, discarded or never written)"));
}

// The entry inside the caller's transaction, locked when asked; NOT_FOUND
// when absent.
absl::StatusOr<OutboxEntry> LoadEntry(PgConnection& conn, int64_t entry_id, bool lock) {
  static const std::string kSql =
      absl::StrCat("SELECT ", kOutboxColumns, " FROM outbox WHERE id = $1");
  static const std::string kLockedSql = absl::StrCat(kSql, " FOR UPDATE");
  PgParams p;
  p.Int(entry_id);
  auto rows = conn.Exec(lock ? kLockedSql.c_str() : kSql.c_str(), p);
  if (!rows.ok()) return rows.status();
  auto read = ReadOutboxEntries(*rows);
  if (!read.ok()) return read.status();
  if (read->empty()) return EntryNotFound(entry_id);
  return std::move(read->front());
}

absl::StatusOr<OutboxEntry> LoadDeadLetter(PgConnection& conn, int64_t entry_id) {
  auto entry = LoadEntry(conn, entry_id, /*lock=*/true);
  if (!entry.ok()) return entry.status();
  if (!entry->dead()) {
    return absl::FailedPreconditionError(
        absl::StrCat("outbox entry ", entry_id, " is not a dead letter: it is pending (attempts ",
                     entry->attempts, "); only dead letters can be replayed or discarded"));
  }
  return entry;
}

// Records a failed attempt and releases the claim: the entry is due again
// at `next_attempt_at`, for whichever replica reads it then.
absl::Status RecordRetry(PgConnection& conn, int64_t entry_id, absl::Time next_attempt_at,
                         const std::string& error) {
  PgParams p;
  p.Int(entry_id).Int(absl::ToUnixMicros(next_attempt_at)).Text(error);
  auto done = conn.Exec(
      "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3, "
      "claimed_by = NULL, claimed_until = NULL WHERE id = $1",
      p);
  if (!done.ok()) return done.status();
  if (done->affected() == 0) return EntryNotFound(entry_id);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<OutboxEntry>> PostgresApplicationStore::DueOutbox(absl::Time now,
                                                                             int limit) {
  if (absl::Status s = CheckPageLimit(limit); !s.ok()) return s;
  // Candidates: the head of each application (a later delivery must not
  // overtake an earlier one waiting for its retry, nor a dead letter), due,
  // not claimed by another replica (or that claim expired). FOR UPDATE SKIP
  // LOCKED: an entry another replica is claiming right now is left to it,
  // without waiting. REPEATABLE READ: the heads and the claims are read
  // from one snapshot; an entry another replica claimed or completed after
  // that snapshot cannot be locked here (serialization failure, and the
  // claim runs again on a fresh snapshot) rather than be claimed twice.
  static const std::string kSql = absl::StrCat(
      "UPDATE outbox SET claimed_by = $3, claimed_until = $4 WHERE id IN ("
      "SELECT o.id FROM outbox o WHERE o.id IN (SELECT h.id FROM (SELECT id, row_number() OVER "
      "(PARTITION BY application_id ORDER BY coalesce(ordering, id), id) AS head_rank "
      "FROM outbox) h WHERE h.head_rank = 1) "
      "AND o.dead_at IS NULL AND o.next_attempt_at <= $1 "
      "AND (o.claimed_by IS NULL OR o.claimed_until <= $1 OR o.claimed_by = $3) "
      "ORDER BY o.id LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING ",
      kOutboxColumns);
  PgParams p;
  p.Int(absl::ToUnixMicros(now))
      .Int(limit)
      .Text(replica_id_)
      .Int(absl::ToUnixMicros(now + options_.outbox_lease));
  std::vector<OutboxEntry> entries;
  absl::Status status = db_.Write(
      [&](PgConnection& conn) -> absl::Status {
        auto rows = conn.Exec(kSql.c_str(), p);
        if (!rows.ok()) return rows.status();
        auto read = ReadOutboxEntries(*rows);
        if (!read.ok()) return read.status();
        entries = *std::move(read);
        return absl::OkStatus();
      },
      PgIsolation::kRepeatableRead);
  if (!status.ok()) return status;
  // RETURNING has no order of its own: oldest first, as documented.
  std::sort(entries.begin(), entries.end(),
            [](const OutboxEntry& a, const OutboxEntry& b) { return a.id < b.id; });
  return entries;
}

absl::Status PostgresApplicationStore::CompleteOutbox(int64_t entry_id,
                                                      const MutateFn& on_delivered) {
  return db_.Write([&](PgConnection& conn) -> absl::Status {
    PgParams p;
    p.Int(entry_id);
    auto row = conn.Exec("DELETE FROM outbox WHERE id = $1 RETURNING kind, application_id", p);
    if (!row.ok()) return row.status();
    if (row->rows() == 0) return EntryNotFound(entry_id);
    const bool delivered_application =
        row->Int64(0, 0) == static_cast<int64_t>(OutboxEntry::Kind::kDeliverApplication);
    const std::string application_id = row->Text(0, 1);
    if (!delivered_application && !on_delivered) return absl::OkStatus();
    v1::Application unused;
    return MutateInTransaction(conn, application_id, on_delivered, delivered_application, unused);
  });
}

absl::Status PostgresApplicationStore::RetryOutboxLater(int64_t entry_id,
                                                        absl::Time next_attempt_at,
                                                        const std::string& error) {
  return db_.Write(
      [&](PgConnection& conn) { return RecordRetry(conn, entry_id, next_attempt_at, error); });
}

absl::Status PostgresApplicationStore::DeadLetterOutbox(int64_t entry_id, absl::Time at,
                                                        const std::string& code,
                                                        const std::string& error) {
  return db_.Write([&](PgConnection& conn) -> absl::Status {
    PgParams p;
    p.Int(entry_id).Int(absl::ToUnixMicros(at)).Text(error).Text(code);
    auto done = conn.Exec(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $3, dead_at = $2, "
        "dead_code = $4, claimed_by = NULL, claimed_until = NULL WHERE id = $1",
        p);
    if (!done.ok()) return done.status();
    if (done->affected() == 0) return EntryNotFound(entry_id);
    return absl::OkStatus();
  });
}

absl::Status PostgresApplicationStore::RedeliverApplicationFirst(
    int64_t entry_id, absl::Time next_attempt_at, const std::string& error,
    const std::function<absl::StatusOr<OutboxEntry>(const v1::Application&)>& make_delivery) {
  return db_.Write([&](PgConnection& conn) -> absl::Status {
    PgParams p;
    p.Int(entry_id);
    auto row = conn.Exec(
        "SELECT application_id, coalesce(ordering, id) FROM outbox WHERE id = $1 FOR UPDATE", p);
    if (!row.ok()) return row.status();
    if (row->rows() == 0) return EntryNotFound(entry_id);
    const std::string application_id = row->Text(0, 0);
    const int64_t position = row->Int64(0, 1);

    // Locked: the delivery is built from the application as it stands at
    // COMMIT (outbox row first, then the application: the order every
    // outbox method takes them in).
    auto app = pg_rows::LoadApplication(conn, application_id, /*with_events=*/true,
                                        /*lock=*/true);
    if (!app.ok()) return app.status();
    absl::StatusOr<OutboxEntry> delivery = make_delivery(*app);
    if (!delivery.ok()) return delivery.status();

    // The entry being retried is its application's head, so nothing of the
    // application sits at position - 1: the re-delivery goes first.
    PgParams insert;
    insert.Int(static_cast<int64_t>(delivery->kind))
        .Text(application_id)
        .Text(delivery->target_province)
        .Bytes(delivery->payload)
        .Int(absl::ToUnixMicros(next_attempt_at))
        .Int(position - 1);
    auto inserted = conn.Exec(
        "INSERT INTO outbox (kind, application_id, target_province, payload, attempts, "
        "created_at, next_attempt_at, ordering) VALUES ($1, $2, $3, $4, 0, $5, $5, $6)",
        insert);
    if (!inserted.ok()) return inserted.status();
    return RecordRetry(conn, entry_id, next_attempt_at, error);
  });
}

absl::StatusOr<OutboxStats> PostgresApplicationStore::GetOutboxStats() {
  OutboxStats stats;
  // One pass over the outbox (work in progress, not history); the dead
  // letters' applications come from their partial index. count(CASE ...)
  // rather than FILTER: the portable spelling.
  static constexpr char kSql[] =
      "WITH dead_apps AS (SELECT DISTINCT application_id FROM outbox WHERE dead_at IS NOT NULL) "
      "SELECT count(CASE WHEN dead_at IS NULL THEN 1 END), "
      "count(CASE WHEN dead_at IS NOT NULL THEN 1 END), "
      "count(CASE WHEN dead_at IS NULL AND application_id IN "
      "(SELECT application_id FROM dead_apps) THEN 1 END), "
      "min(CASE WHEN dead_at IS NULL AND application_id NOT IN "
      "(SELECT application_id FROM dead_apps) THEN created_at END) "
      "FROM outbox";
  absl::Status status = db_.Read([&](PgConnection& conn) {
    auto row = conn.Exec(kSql);
    if (!row.ok()) return row.status();
    stats.depth = row->Int64(0, 0);
    stats.dead_letters = row->Int64(0, 1);
    stats.blocked = row->Int64(0, 2);
    stats.oldest_created_at =
        row->IsNull(0, 3) ? absl::InfinitePast() : absl::FromUnixMicros(row->Int64(0, 3));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return stats;
}

absl::StatusOr<std::vector<OutboxEntry>> PostgresApplicationStore::ListOutbox(int limit) {
  if (absl::Status s = CheckPageLimit(limit); !s.ok()) return s;
  static const std::string kSql =
      absl::StrCat("SELECT ", kOutboxColumns, " FROM outbox ORDER BY id LIMIT $1");
  std::vector<OutboxEntry> entries;
  absl::Status status = db_.Read([&](PgConnection& conn) {
    PgParams p;
    p.Int(limit);
    auto rows = conn.Exec(kSql.c_str(), p);
    if (!rows.ok()) return rows.status();
    auto read = ReadOutboxEntries(*rows);
    if (!read.ok()) return read.status();
    entries = *std::move(read);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return entries;
}

absl::StatusOr<Page<OutboxEntry>> PostgresApplicationStore::ListOutboxEntries(
    const OutboxFilter& filter, const std::string& cursor, int limit) {
  if (absl::Status s = CheckPageLimit(limit); !s.ok()) return s;
  absl::StatusOr<int64_t> after = ParsePageCursor(cursor, 0);
  if (!after.ok()) return after.status();
  // $1 status (0 any, 1 pending, 2 dead), $2 application ('' any), $3 target
  // ('' any), $4 cursor id, $5 limit + 1 (one more row says a next page exists).
  static const std::string kSql = absl::StrCat(
      "SELECT ", kOutboxColumns,
      " FROM outbox WHERE id > $4 "
      "AND ($1 = 0 OR ($1 = 1 AND dead_at IS NULL) OR ($1 = 2 AND dead_at IS NOT NULL)) "
      "AND ($2 = '' OR application_id = $2) AND ($3 = '' OR target_province = $3) "
      "ORDER BY id LIMIT $5");
  const int64_t status_code = filter.status == OutboxFilter::Status::kPending      ? 1
                              : filter.status == OutboxFilter::Status::kDeadLetter ? 2
                                                                                   : 0;
  PgParams p;
  p.Int(status_code)
      .Text(filter.application_id)
      .Text(filter.target_province)
      .Int(*after)
      .Int(static_cast<int64_t>(limit) + 1);
  Page<OutboxEntry> page;
  absl::Status status = db_.Read([&](PgConnection& conn) {
    auto rows = conn.Exec(kSql.c_str(), p);
    if (!rows.ok()) return rows.status();
    auto read = ReadOutboxEntries(*rows);
    if (!read.ok()) return read.status();
    page.items = *std::move(read);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  if (static_cast<int>(page.items.size()) > limit) {
    page.items.resize(limit);
    page.next_cursor = absl::StrCat(page.items.back().id);
  }
  return page;
}

absl::StatusOr<OutboxEntry> PostgresApplicationStore::GetOutboxEntry(int64_t entry_id) {
  absl::StatusOr<OutboxEntry> entry = EntryNotFound(entry_id);
  absl::Status status = db_.Read([&](PgConnection& conn) {
    entry = LoadEntry(conn, entry_id, /*lock=*/false);
    // A database error fails the read; NOT_FOUND is the answer.
    return entry.ok() || absl::IsNotFound(entry.status()) ? absl::OkStatus() : entry.status();
  });
  if (!status.ok()) return status;
  return entry;
}

absl::StatusOr<OutboxEntry> PostgresApplicationStore::ReplayDeadLetter(int64_t entry_id,
                                                                       absl::Time now) {
  OutboxEntry replayed;
  absl::Status status = db_.Write([&](PgConnection& conn) -> absl::Status {
    auto entry = LoadDeadLetter(conn, entry_id);
    if (!entry.ok()) return entry.status();
    PgParams p;
    p.Int(entry_id).Int(absl::ToUnixMicros(now));
    auto done = conn.Exec(
        "UPDATE outbox SET attempts = 0, next_attempt_at = $2, dead_at = NULL, dead_code = '', "
        "claimed_by = NULL, claimed_until = NULL WHERE id = $1",
        p);
    if (!done.ok()) return done.status();
    replayed = *std::move(entry);
    replayed.attempts = 0;
    replayed.next_attempt_at = now;
    replayed.dead_at = absl::InfinitePast();
    replayed.dead_code.clear();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return replayed;
}

absl::StatusOr<OutboxEntry> PostgresApplicationStore::DiscardDeadLetter(
    int64_t entry_id, const MutateFn& on_discard) {
  if (!on_discard) {
    return absl::InvalidArgumentError("a discard must record an event (on_discard is empty)");
  }
  OutboxEntry discarded;
  absl::Status status = db_.Write([&](PgConnection& conn) -> absl::Status {
    auto entry = LoadDeadLetter(conn, entry_id);
    if (!entry.ok()) return entry.status();
    PgParams p;
    p.Int(entry_id);
    auto done = conn.Exec("DELETE FROM outbox WHERE id = $1", p);
    if (!done.ok()) return done.status();
    v1::Application unused;
    if (absl::Status s = MutateInTransaction(conn, entry->application_id, on_discard,
                                             /*mark_delivered=*/false, unused);
        !s.ok()) {
      return s;
    }
    discarded = *std::move(entry);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return discarded;
}

}  // namespace tongban::node
