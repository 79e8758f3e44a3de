#include "store/sqlite_licence_store.h"

#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "store/licence_rows.h"

namespace tongban::node {
namespace {

// A holder's licences are read through licences_by_holder: SQLite cannot
// use an index for "(?2 = '' OR holder_id = ?2)", so that filter gets a
// statement of its own. Both take the same parameters.
constexpr char kListLicences[] =
    "SELECT licence_id, record FROM licences WHERE licence_id > ?1 "
    "AND (?2 = '' OR holder_id = ?2) AND (?3 = '' OR type_code = ?3) "
    "AND (?4 < 0 OR revoked = ?4) ORDER BY licence_id LIMIT ?5";
constexpr char kListHolderLicences[] =
    "SELECT licence_id, record FROM licences WHERE holder_id = ?2 AND licence_id > ?1 "
    "AND (?3 = '' OR type_code = ?3) AND (?4 < 0 OR revoked = ?4) ORDER BY licence_id LIMIT ?5";

// Likewise for disclosures: a licence's or a holder's are read through
// their index, backwards from before_sequence.
constexpr char kListDisclosures[] =
    "SELECT sequence, disclosure_id, record FROM licence_disclosures WHERE sequence < ?1 "
    "AND (?2 = '' OR holder_id = ?2) AND (?3 = '' OR licence_id = ?3) "
    "AND (?4 = '' OR requester_province = ?4) ORDER BY sequence DESC LIMIT ?5";
constexpr char kListLicenceDisclosures[] =
    "SELECT sequence, disclosure_id, record FROM licence_disclosures WHERE licence_id = ?3 "
    "AND sequence < ?1 AND (?2 = '' OR holder_id = ?2) "
    "AND (?4 = '' OR requester_province = ?4) ORDER BY sequence DESC LIMIT ?5";
constexpr char kListHolderDisclosures[] =
    "SELECT sequence, disclosure_id, record FROM licence_disclosures WHERE holder_id = ?2 "
    "AND sequence < ?1 AND (?3 = '' OR licence_id = ?3) "
    "AND (?4 = '' OR requester_province = ?4) ORDER BY sequence DESC LIMIT ?5";

}  // namespace

absl::StatusOr<bool> SqliteLicenceStore::IsEmpty() {
  bool empty = true;
  absl::Status status = db_.Read([&](sqlite3* db) {
    auto stmt = SqliteStatement::Prepare(db, "SELECT EXISTS (SELECT 1 FROM licences)");
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    empty = stmt->ColumnInt64(0) == 0;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return empty;
}

absl::Status SqliteLicenceStore::InsertLicences(const std::vector<v1::Licence>& licences) {
  std::vector<LicenceRow> rows;
  rows.reserve(licences.size());
  for (size_t i = 0; i < licences.size(); ++i) {
    auto row = MakeLicenceRow(licences[i], absl::StrCat("licences[", i, "]"));
    if (!row.ok()) return row.status();
    rows.push_back(*std::move(row));
  }
  // A duplicate fails the whole function, whose savepoint then takes back
  // the rows it inserted before: all of the batch or none.
  return db_.Write([&](sqlite3* db) -> absl::Status {
    for (const LicenceRow& row : rows) {
      auto stmt = SqliteStatement::Prepare(
          db,
          "INSERT INTO licences (licence_id, holder_id, type_code, revoked, record) "
          "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (licence_id) DO NOTHING");
      if (!stmt.ok()) return stmt.status();
      stmt->BindText(1, row.licence_id)
          .BindText(2, row.holder_id)
          .BindText(3, row.type_code)
          .BindInt64(4, row.revoked ? 1 : 0)
          .BindBlob(5, row.record);
      if (absl::Status s = stmt->Run(); !s.ok()) return s;
      if (SqliteChanges(db) == 0) {
        return absl::AlreadyExistsError(
            absl::StrCat("licence ", row.licence_id, " already exists"));
      }
    }
    return absl::OkStatus();
  });
}

absl::Status SqliteLicenceStore::UpdateLicence(const v1::Licence& licence) {
  auto row = MakeLicenceRow(licence, "an updated licence");
  if (!row.ok()) return row.status();
  absl::Status written = db_.Write([&](sqlite3* db) -> absl::Status {
    auto stmt = SqliteStatement::Prepare(
        db,
        "UPDATE licences SET holder_id = ?2, type_code = ?3, revoked = ?4, record = ?5 "
        "WHERE licence_id = ?1");
    if (!stmt.ok()) return stmt.status();
    stmt->BindText(1, row->licence_id)
        .BindText(2, row->holder_id)
        .BindText(3, row->type_code)
        .BindInt64(4, row->revoked ? 1 : 0)
        .BindBlob(5, row->record);
    if (absl::Status s = stmt->Run(); !s.ok()) return s;
    if (SqliteChanges(db) == 0) {
      return absl::NotFoundError(absl::StrCat("licence ", row->licence_id, " not found"));
    }
    return absl::OkStatus();
  });
  // After the write: a read that overlapped it (and may have read the old
  // row) keeps nothing, and what was kept before goes.
  Forget(row->licence_id);
  return written;
}

void SqliteLicenceStore::Forget(const std::string& licence_id) {
  absl::MutexLock lock(&kept_mu_);
  kept_.erase(licence_id);
  ++forgets_;
}

absl::StatusOr<v1::Licence> SqliteLicenceStore::GetLicence(const std::string& licence_id) {
  uint64_t forgets_before = 0;
  std::shared_ptr<const v1::Licence> hit;
  {
    absl::MutexLock lock(&kept_mu_);
    auto it = kept_.find(licence_id);
    if (it != kept_.end()) hit = it->second;
    forgets_before = forgets_;
  }
  if (hit != nullptr) return *hit;  // copied outside the lock
  absl::StatusOr<v1::Licence> licence = ReadLicence(licence_id);
  if (!licence.ok()) return licence;  // NOT_FOUND is not kept: a licence may be issued
  auto kept = std::make_shared<const v1::Licence>(*licence);
  absl::MutexLock lock(&kept_mu_);
  if (forgets_ == forgets_before) {
    if (kept_.size() >= kKeptLicences) kept_.clear();
    kept_.emplace(licence_id, std::move(kept));
  }
  return licence;
}

absl::StatusOr<v1::Licence> SqliteLicenceStore::ReadLicence(const std::string& licence_id) {
  v1::Licence licence;
  absl::Status status = db_.Read([&](sqlite3* db) -> absl::Status {
    auto stmt = SqliteStatement::Prepare(db, "SELECT record FROM licences WHERE licence_id = ?1");
    if (!stmt.ok()) return stmt.status();
    stmt->BindText(1, licence_id);
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::NotFoundError(absl::StrCat("licence ", licence_id, " not found"));
    auto parsed = ParseLicence(stmt->ColumnBlob(0), licence_id);
    if (!parsed.ok()) return parsed.status();
    licence = *std::move(parsed);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return licence;
}

absl::StatusOr<std::vector<v1::Licence>> SqliteLicenceStore::ListLicences(
    const LicenceFilter& filter, const std::string& after_licence_id, int limit) {
  if (limit < 1) return absl::InvalidArgumentError("ListLicences limit must be at least 1");
  const int64_t revoked = filter.revoked.has_value() ? (*filter.revoked ? 1 : 0) : -1;
  std::vector<v1::Licence> licences;
  absl::Status status = db_.Read([&](sqlite3* db) {
    auto stmt = SqliteStatement::Prepare(
        db, filter.holder_id.empty() ? kListLicences : kListHolderLicences);
    if (!stmt.ok()) return stmt.status();
    stmt->BindText(1, after_licence_id)
        .BindText(2, filter.holder_id)
        .BindText(3, filter.type_code)
        .BindInt64(4, revoked)
        .BindInt64(5, limit);
    while (true) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::OkStatus();
      auto licence = ParseLicence(stmt->ColumnBlob(1), stmt->ColumnText(0));
      if (!licence.ok()) return licence.status();
      licences.push_back(*std::move(licence));
    }
  });
  if (!status.ok()) return status;
  return licences;
}

namespace {

// The append of one disclosure, run by the writer; `sequence` gets the row's.
SqliteDatabase::Fn AppendFn(const v1::LicenceDisclosure& disclosure, std::string record,
                            int64_t* sequence) {
  return
      [disclosure_id = disclosure.disclosure_id(), holder_id = disclosure.holder_id(),
       licence_id = disclosure.licence_id(), requester_province = disclosure.requester_province(),
       record = std::move(record), sequence](sqlite3* db) -> absl::Status {
        auto stmt = SqliteStatement::Prepare(
            db,
            "INSERT INTO licence_disclosures (disclosure_id, holder_id, licence_id, "
            "requester_province, record) VALUES (?1, ?2, ?3, ?4, ?5) "
            "ON CONFLICT (disclosure_id) DO NOTHING RETURNING sequence");
        if (!stmt.ok()) return stmt.status();
        stmt->BindText(1, disclosure_id)
            .BindText(2, holder_id)
            .BindText(3, licence_id)
            .BindText(4, requester_province)
            .BindBlob(5, record);
        auto row = stmt->Step();
        if (!row.ok()) return row.status();
        if (!*row) {
          return absl::AlreadyExistsError(
              absl::StrCat("disclosure ", disclosure_id, " already exists"));
        }
        *sequence = stmt->ColumnInt64(0);
        return absl::OkStatus();
      };
}

absl::StatusOr<std::string> DisclosureRecord(const v1::LicenceDisclosure& disclosure) {
  if (disclosure.disclosure_id().empty()) {
    return absl::InvalidArgumentError("a disclosure has no disclosure_id");
  }
  std::string record;
  if (!disclosure.SerializeToString(&record)) {
    return absl::InternalError(
        absl::StrCat("cannot serialize disclosure ", disclosure.disclosure_id()));
  }
  return record;
}

}  // namespace

absl::StatusOr<int64_t> SqliteLicenceStore::AppendDisclosure(
    const v1::LicenceDisclosure& disclosure) {
  absl::StatusOr<std::string> record = DisclosureRecord(disclosure);
  if (!record.ok()) return record.status();
  int64_t sequence = 0;
  absl::Status status = db_.Write(AppendFn(disclosure, *std::move(record), &sequence));
  if (!status.ok()) return status;
  return sequence;
}

void SqliteLicenceStore::AppendDisclosureAsync(const v1::LicenceDisclosure& disclosure,
                                               AppendDone done) {
  absl::StatusOr<std::string> record = DisclosureRecord(disclosure);
  if (!record.ok()) {
    done(record.status());
    return;
  }
  // The writer runs the function after this returns: it owns its copies of
  // the row's values, and the sequence lives with `done`.
  auto sequence = std::make_shared<int64_t>(0);
  db_.WriteAsync(AppendFn(disclosure, *std::move(record), sequence.get()),
                 [sequence, done = std::move(done)](absl::Status status) {
                   if (!status.ok()) {
                     done(status);
                   } else {
                     done(*sequence);
                   }
                 });
}

absl::StatusOr<std::vector<StoredDisclosure>> SqliteLicenceStore::ListDisclosures(
    const DisclosureFilter& filter, int64_t before_sequence, int limit) {
  if (limit < 1) return absl::InvalidArgumentError("ListDisclosures limit must be at least 1");
  if (before_sequence < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ListDisclosures before_sequence must not be negative, got ", before_sequence));
  }
  const int64_t below =
      before_sequence == 0 ? std::numeric_limits<int64_t>::max() : before_sequence;
  const char* sql = !filter.licence_id.empty()  ? kListLicenceDisclosures
                    : !filter.holder_id.empty() ? kListHolderDisclosures
                                                : kListDisclosures;
  std::vector<StoredDisclosure> disclosures;
  absl::Status status = db_.Read([&](sqlite3* db) {
    auto stmt = SqliteStatement::Prepare(db, sql);
    if (!stmt.ok()) return stmt.status();
    stmt->BindInt64(1, below)
        .BindText(2, filter.holder_id)
        .BindText(3, filter.licence_id)
        .BindText(4, filter.requester_province)
        .BindInt64(5, limit);
    while (true) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::OkStatus();
      StoredDisclosure stored;
      stored.sequence = stmt->ColumnInt64(0);
      if (!stored.disclosure.ParseFromString(stmt->ColumnBlob(2))) {
        return absl::DataLossError(
            absl::StrCat("stored disclosure ", stmt->ColumnText(1), " cannot be parsed"));
      }
      disclosures.push_back(std::move(stored));
    }
  });
  if (!status.ok()) return status;
  return disclosures;
}

}  // namespace tongban::node
