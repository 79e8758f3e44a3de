// The outbox half of SqliteApplicationStore: what the forwarder reads and
// records, and what operators list, replay and discard (dead letters).
//
// Order: one application's entries leave in `position` order (NULL: the id),
// ties broken by id. Only the first entry of each application is ever due;
// when that entry is a dead letter the application's later entries wait
// behind it (they are pending but "blocked"), so nothing of an application
// overtakes a delivery the receiver refused.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "store/sqlite_application_rows.h"
#include "store/sqlite_application_store.h"

namespace tongban::node {
namespace {

using sqlite_rows::kOutboxColumns;
using sqlite_rows::ReadOutboxEntries;

absl::Status CheckLimit(int limit) {
  if (limit < 1) return absl::InvalidArgumentError("page limit must be at least 1");
  return absl::OkStatus();
}

// An outbox cursor is the decimal id of the last entry of the previous page.
absl::StatusOr<int64_t> ParseOutboxCursor(const std::string& cursor) {
  if (cursor.empty()) return 0;
  int64_t id = 0;
  if (cursor.size() > 18 || cursor.find_first_not_of("0123456789") != std::string::npos ||
      !absl::SimpleAtoi(cursor, &id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page cursor \"", cursor.substr(0, 40),
        "\" was not issued by this node; pass the next_page_token of a previous page"));
  }
  return id;
}

absl::Status EntryNotFound(int64_t entry_id) {
  return absl::NotFoundError(absl::StrCat(
      "outbox entry ", entry_id, " not found (delivered, discarded or never written)"));
}

// The entry inside the caller's transaction; NOT_FOUND when absent.
absl::StatusOr<OutboxEntry> LoadEntry(sqlite3* db, int64_t entry_id) {
  static const std::string kSql =
      absl::StrCat("SELECT ", kOutboxColumns, " FROM outbox WHERE id = ?1");
  auto stmt = SqliteStatement::Prepare(db, kSql.c_str());
  if (!stmt.ok()) return stmt.status();
  stmt->BindInt64(1, entry_id);
  auto read = ReadOutboxEntries(*stmt);
  if (!read.ok()) return read.status();
  if (read->empty()) return EntryNotFound(entry_id);
  return std::move(read->front());
}

absl::StatusOr<OutboxEntry> LoadDeadLetter(sqlite3* db, int64_t entry_id) {
  auto entry = LoadEntry(db, entry_id);
  if (!entry.ok()) return entry.status();
  if (!entry->dead()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "outbox entry ", entry_id, " is not a dead letter: it is pending (attempts ",
        entry->attempts, "); only dead letters can be replayed or discarded"));
  }
  return entry;
}

}  // namespace

absl::StatusOr<std::vector<OutboxEntry>> SqliteApplicationStore::DueOutbox(absl::Time now,
                                                                           int limit) {
  if (absl::Status s = CheckLimit(limit); !s.ok()) return s;
  // Only the head of each application is a candidate: a later delivery must
  // not overtake an earlier one waiting for its retry, nor a dead letter.
  static const std::string kSql = absl::StrCat(
      "SELECT ", kOutboxColumns,
      " FROM outbox WHERE id IN (SELECT id FROM (SELECT id, dead_at, next_attempt_at, "
      "row_number() OVER (PARTITION BY application_id ORDER BY coalesce(position, id), id) "
      "AS rank FROM outbox) WHERE rank = 1 AND dead_at IS NULL AND next_attempt_at <= ?1) "
      "ORDER BY id LIMIT ?2");
  std::vector<OutboxEntry> entries;
  absl::Status status = db_.Read([&](sqlite3* db) {
    auto stmt = SqliteStatement::Prepare(db, kSql.c_str());
    if (!stmt.ok()) return stmt.status();
    stmt->BindInt64(1, absl::ToUnixMicros(now)).BindInt64(2, limit);
    auto read = ReadOutboxEntries(*stmt);
    if (!read.ok()) return read.status();
    entries = *std::move(read);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return entries;
}

absl::Status SqliteApplicationStore::CompleteOutbox(int64_t entry_id,
                                                    const MutateFn& on_delivered) {
  return db_.Write([&](sqlite3* db) -> absl::Status {
    auto stmt = SqliteStatement::Prepare(
        db, "DELETE FROM outbox WHERE id = ?1 RETURNING kind, application_id");
    if (!stmt.ok()) return stmt.status();
    stmt->BindInt64(1, entry_id);
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) {
      return EntryNotFound(entry_id);
    }
    const bool delivered_application =
        stmt->ColumnInt64(0) == static_cast<int64_t>(OutboxEntry::Kind::kDeliverApplication);
    const std::string application_id = stmt->ColumnText(1);
    if (absl::Status s = stmt->Run(); !s.ok()) return s;  // finish the DELETE
    if (!delivered_application && !on_delivered) return absl::OkStatus();
    v1::Application unused;
    return MutateInTransaction(db, application_id, on_delivered, delivered_application, unused);
  });
}

absl::Status SqliteApplicationStore::RetryOutboxLater(int64_t entry_id, absl::Time next_attempt_at,
                                                      const std::string& error) {
  return db_.Write([&](sqlite3* db) -> absl::Status {
    auto stmt = SqliteStatement::Prepare(
        db,
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 "
        "WHERE id = ?1");
    if (!stmt.ok()) return stmt.status();
    stmt->BindInt64(1, entry_id)
        .BindInt64(2, absl::ToUnixMicros(next_attempt_at))
        .BindText(3, error);
    if (absl::Status s = stmt->Run(); !s.ok()) return s;
    if (SqliteChanges(db) == 0) {
      return EntryNotFound(entry_id);
    }
    return absl::OkStatus();
  });
}

absl::Status SqliteApplicationStore::DeadLetterOutbox(int64_t entry_id, absl::Time at,
                                                      const std::string& code,
                                                      const std::string& error) {
  return db_.Write([&](sqlite3* db) -> absl::Status {
    auto stmt = SqliteStatement::Prepare(
        db,
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?3, dead_at = ?2, "
        "dead_code = ?4 WHERE id = ?1");
    if (!stmt.ok()) return stmt.status();
    stmt->BindInt64(1, entry_id).BindInt64(2, absl::ToUnixMicros(at)).BindText(3, error).BindText(
        4, code);
    if (absl::Status s = stmt->Run(); !s.ok()) return s;
    if (SqliteChanges(db) == 0) {
      return EntryNotFound(entry_id);
    }
    return absl::OkStatus();
  });
}

absl::Status SqliteApplicationStore::RedeliverApplicationFirst(
    int64_t entry_id, absl::Time next_attempt_at, const std::string& error,
    const std::function<absl::StatusOr<OutboxEntry>(const v1::Application&)>& make_delivery) {
  return db_.Write([&](sqlite3* db) -> absl::Status {
    auto stmt = SqliteStatement::Prepare(
        db, "SELECT application_id, coalesce(position, id) FROM outbox WHERE id = ?1");
    if (!stmt.ok()) return stmt.status();
    stmt->BindInt64(1, entry_id);
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) {
      return EntryNotFound(entry_id);
    }
    const std::string application_id = stmt->ColumnText(0);
    const int64_t position = stmt->ColumnInt64(1);
    if (absl::Status s = stmt->Run(); !s.ok()) return s;

    auto app = sqlite_rows::LoadApplication(db, application_id, /*with_events=*/true);
    if (!app.ok()) return app.status();
    absl::StatusOr<OutboxEntry> delivery = make_delivery(*app);
    if (!delivery.ok()) return delivery.status();

    // The entry being retried is its application's head, so nothing of the
    // application sits at position - 1: the re-delivery goes first.
    auto insert = SqliteStatement::Prepare(
        db,
        "INSERT INTO outbox (kind, application_id, target_province, payload, attempts, "
        "created_at, next_attempt_at, position) VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5, ?6)");
    if (!insert.ok()) return insert.status();
    insert->BindInt64(1, static_cast<int64_t>(delivery->kind))
        .BindText(2, application_id)
        .BindText(3, delivery->target_province)
        .BindBlob(4, delivery->payload)
        .BindInt64(5, absl::ToUnixMicros(next_attempt_at))
        .BindInt64(6, position - 1);
    if (absl::Status s = insert->Run(); !s.ok()) return s;

    auto update = SqliteStatement::Prepare(
        db,
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 "
        "WHERE id = ?1");
    if (!update.ok()) return update.status();
    update->BindInt64(1, entry_id)
        .BindInt64(2, absl::ToUnixMicros(next_attempt_at))
        .BindText(3, error);
    return update->Run();
  });
}

absl::StatusOr<OutboxStats> SqliteApplicationStore::GetOutboxStats() {
  OutboxStats stats;
  // One pass over the outbox (it holds work in progress, not history); the
  // dead letters' applications come from their partial index.
  static constexpr char kSql[] =
      "WITH dead_apps AS (SELECT DISTINCT application_id FROM outbox WHERE dead_at IS NOT NULL) "
      "SELECT count(*) FILTER (WHERE dead_at IS NULL), "
      "count(*) FILTER (WHERE dead_at IS NOT NULL), "
      "count(*) FILTER (WHERE dead_at IS NULL AND application_id IN dead_apps), "
      "min(created_at) FILTER (WHERE dead_at IS NULL AND application_id NOT IN dead_apps) "
      "FROM outbox";
  absl::Status status = db_.Read([&](sqlite3* db) {
    auto stmt = SqliteStatement::Prepare(db, kSql);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    stats.depth = stmt->ColumnInt64(0);
    stats.dead_letters = stmt->ColumnInt64(1);
    stats.blocked = stmt->ColumnInt64(2);
    if (!stmt->ColumnIsNull(3)) {
      stats.oldest_created_at = absl::FromUnixMicros(stmt->ColumnInt64(3));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return stats;
}

absl::StatusOr<std::vector<OutboxEntry>> SqliteApplicationStore::ListOutbox(int limit) {
  if (absl::Status s = CheckLimit(limit); !s.ok()) return s;
  static const std::string kSql =
      absl::StrCat("SELECT ", kOutboxColumns, " FROM outbox ORDER BY id LIMIT ?1");
  std::vector<OutboxEntry> entries;
  absl::Status status = db_.Read([&](sqlite3* db) {
    auto stmt = SqliteStatement::Prepare(db, kSql.c_str());
    if (!stmt.ok()) return stmt.status();
    stmt->BindInt64(1, limit);
    auto read = ReadOutboxEntries(*stmt);
    if (!read.ok()) return read.status();
    entries = *std::move(read);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return entries;
}

absl::StatusOr<Page<OutboxEntry>> SqliteApplicationStore::ListOutboxEntries(
    const OutboxFilter& filter, const std::string& cursor, int limit) {
  if (absl::Status s = CheckLimit(limit); !s.ok()) return s;
  absl::StatusOr<int64_t> after = ParseOutboxCursor(cursor);
  if (!after.ok()) return after.status();
  // ?1 status (0 any, 1 pending, 2 dead), ?2 application ('' any), ?3 target
  // ('' any), ?4 cursor id, ?5 limit + 1 (one more row says a next page exists).
  static const std::string kSql = absl::StrCat(
      "SELECT ", kOutboxColumns,
      " FROM outbox WHERE id > ?4 "
      "AND (?1 = 0 OR (?1 = 1 AND dead_at IS NULL) OR (?1 = 2 AND dead_at IS NOT NULL)) "
      "AND (?2 = '' OR application_id = ?2) AND (?3 = '' OR target_province = ?3) "
      "ORDER BY id LIMIT ?5");
  Page<OutboxEntry> page;
  absl::Status status = db_.Read([&](sqlite3* db) {
    auto stmt = SqliteStatement::Prepare(db, kSql.c_str());
    if (!stmt.ok()) return stmt.status();
    const int64_t status_code = filter.status == OutboxFilter::Status::kPending      ? 1
                                : filter.status == OutboxFilter::Status::kDeadLetter ? 2
                                                                                     : 0;
    stmt->BindInt64(1, status_code)
        .BindText(2, filter.application_id)
        .BindText(3, filter.target_province)
        .BindInt64(4, *after)
        .BindInt64(5, static_cast<int64_t>(limit) + 1);
    auto read = ReadOutboxEntries(*stmt);
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

absl::StatusOr<OutboxEntry> SqliteApplicationStore::GetOutboxEntry(int64_t entry_id) {
  absl::StatusOr<OutboxEntry> entry = EntryNotFound(entry_id);
  absl::Status status = db_.Read([&](sqlite3* db) {
    entry = LoadEntry(db, entry_id);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return entry;
}

absl::StatusOr<OutboxEntry> SqliteApplicationStore::ReplayDeadLetter(int64_t entry_id,
                                                                      absl::Time now) {
  OutboxEntry replayed;
  absl::Status status = db_.Write([&](sqlite3* db) -> absl::Status {
    auto entry = LoadDeadLetter(db, entry_id);
    if (!entry.ok()) return entry.status();
    auto stmt = SqliteStatement::Prepare(
        db,
        "UPDATE outbox SET attempts = 0, next_attempt_at = ?2, dead_at = NULL, dead_code = '' "
        "WHERE id = ?1");
    if (!stmt.ok()) return stmt.status();
    stmt->BindInt64(1, entry_id).BindInt64(2, absl::ToUnixMicros(now));
    if (absl::Status s = stmt->Run(); !s.ok()) return s;
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

absl::StatusOr<OutboxEntry> SqliteApplicationStore::DiscardDeadLetter(int64_t entry_id,
                                                                       const MutateFn& on_discard) {
  if (!on_discard) {
    return absl::InvalidArgumentError("a discard must record an event (on_discard is empty)");
  }
  OutboxEntry discarded;
  absl::Status status = db_.Write([&](sqlite3* db) -> absl::Status {
    auto entry = LoadDeadLetter(db, entry_id);
    if (!entry.ok()) return entry.status();
    auto stmt = SqliteStatement::Prepare(db, "DELETE FROM outbox WHERE id = ?1");
    if (!stmt.ok()) return stmt.status();
    stmt->BindInt64(1, entry_id);
    if (absl::Status s = stmt->Run(); !s.ok()) return s;
    v1::Application unused;
    if (absl::Status s = MutateInTransaction(db, entry->application_id, on_discard,
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
