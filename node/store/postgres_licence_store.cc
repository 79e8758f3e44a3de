#include "store/postgres_licence_store.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "store/licence_rows.h"

namespace tongban::node {
namespace {

// A holder's licences are read through licences_by_holder: a generic plan
// cannot use an index for "($2 = '' OR holder_id = $2)", so that filter
// gets a statement of its own. Both take the same parameters.
constexpr char kListLicences[] =
    "SELECT licence_id, record FROM licences WHERE licence_id > $1 "
    "AND ($2 = '' OR holder_id = $2) AND ($3 = '' OR type_code = $3) "
    "AND ($4 < 0 OR revoked = ($4 = 1)) ORDER BY licence_id LIMIT $5";
constexpr char kListHolderLicences[] =
    "SELECT licence_id, record FROM licences WHERE holder_id = $2 AND licence_id > $1 "
    "AND ($3 = '' OR type_code = $3) AND ($4 < 0 OR revoked = ($4 = 1)) "
    "ORDER BY licence_id LIMIT $5";

// Likewise for disclosures: a licence's or a holder's are read through
// their index, backwards from before_sequence.
constexpr char kListDisclosures[] =
    "SELECT sequence, disclosure_id, record FROM licence_disclosures WHERE sequence < $1 "
    "AND ($2 = '' OR holder_id = $2) AND ($3 = '' OR licence_id = $3) "
    "AND ($4 = '' OR requester_province = $4) ORDER BY sequence DESC LIMIT $5";
constexpr char kListLicenceDisclosures[] =
    "SELECT sequence, disclosure_id, record FROM licence_disclosures WHERE licence_id = $3 "
    "AND sequence < $1 AND ($2 = '' OR holder_id = $2) "
    "AND ($4 = '' OR requester_province = $4) ORDER BY sequence DESC LIMIT $5";
constexpr char kListHolderDisclosures[] =
    "SELECT sequence, disclosure_id, record FROM licence_disclosures WHERE holder_id = $2 "
    "AND sequence < $1 AND ($3 = '' OR licence_id = $3) "
    "AND ($4 = '' OR requester_province = $4) ORDER BY sequence DESC LIMIT $5";

}  // namespace

absl::StatusOr<bool> PostgresLicenceStore::IsEmpty() {
  bool empty = true;
  absl::Status status = db_.Read([&](PgConnection& conn) {
    auto row = conn.Exec("SELECT count(*) FROM (SELECT 1 FROM licences LIMIT 1) AS any_licence");
    if (!row.ok()) return row.status();
    empty = row->Int64(0, 0) == 0;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return empty;
}

absl::Status PostgresLicenceStore::InsertLicences(const std::vector<v1::Licence>& licences) {
  std::vector<LicenceRow> rows;
  rows.reserve(licences.size());
  for (size_t i = 0; i < licences.size(); ++i) {
    auto row = MakeLicenceRow(licences[i], absl::StrCat("licences[", i, "]"));
    if (!row.ok()) return row.status();
    rows.push_back(*std::move(row));
  }
  // In key order: replicas inserting overlapping batches wait on each
  // other's keys in the same order.
  std::stable_sort(rows.begin(), rows.end(), [](const LicenceRow& a, const LicenceRow& b) {
    return a.licence_id < b.licence_id;
  });
  // ON CONFLICT DO NOTHING waits for a replica inserting the same id: when
  // it commits, nothing is inserted here and the batch fails (rolled back
  // whole); when it rolls back, this row goes in.
  return db_.Write([&](PgConnection& conn) -> absl::Status {
    for (const LicenceRow& row : rows) {
      PgParams p;
      p.Text(row.licence_id)
          .Text(row.holder_id)
          .Text(row.type_code)
          .Int(row.revoked ? 1 : 0)
          .Bytes(row.record);
      auto done = conn.Exec(
          "INSERT INTO licences (licence_id, holder_id, type_code, revoked, record) "
          "VALUES ($1, $2, $3, $4 = 1, $5) ON CONFLICT (licence_id) DO NOTHING",
          p);
      if (!done.ok()) return done.status();
      if (done->affected() == 0) {
        return absl::AlreadyExistsError(
            absl::StrCat("licence ", row.licence_id, " already exists"));
      }
    }
    return absl::OkStatus();
  });
}

absl::Status PostgresLicenceStore::UpdateLicence(const v1::Licence& licence) {
  auto row = MakeLicenceRow(licence, "an updated licence");
  if (!row.ok()) return row.status();
  PgParams p;
  p.Text(row->licence_id)
      .Text(row->holder_id)
      .Text(row->type_code)
      .Int(row->revoked ? 1 : 0)
      .Bytes(row->record);
  return db_.Write([&](PgConnection& conn) -> absl::Status {
    auto done = conn.Exec(
        "UPDATE licences SET holder_id = $2, type_code = $3, revoked = ($4 = 1), record = $5 "
        "WHERE licence_id = $1",
        p);
    if (!done.ok()) return done.status();
    if (done->affected() == 0) {
      return absl::NotFoundError(absl::StrCat("licence ", row->licence_id, " not found"));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Licence> PostgresLicenceStore::GetLicence(const std::string& licence_id) {
  v1::Licence licence;
  absl::Status status = db_.Read([&](PgConnection& conn) -> absl::Status {
    PgParams p;
    p.Text(licence_id);
    auto row = conn.Exec("SELECT record FROM licences WHERE licence_id = $1", p);
    if (!row.ok()) return row.status();
    if (row->rows() == 0) {
      return absl::NotFoundError(absl::StrCat("licence ", licence_id, " not found"));
    }
    auto parsed = ParseLicence(row->Bytes(0, 0), licence_id);
    if (!parsed.ok()) return parsed.status();
    licence = *std::move(parsed);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return licence;
}

absl::StatusOr<std::vector<v1::Licence>> PostgresLicenceStore::ListLicences(
    const LicenceFilter& filter, const std::string& after_licence_id, int limit) {
  if (limit < 1) return absl::InvalidArgumentError("ListLicences limit must be at least 1");
  PgParams p;
  p.Text(after_licence_id)
      .Text(filter.holder_id)
      .Text(filter.type_code)
      .Int(filter.revoked.has_value() ? (*filter.revoked ? 1 : 0) : -1)
      .Int(limit);
  const char* sql = filter.holder_id.empty() ? kListLicences : kListHolderLicences;
  std::vector<v1::Licence> licences;
  absl::Status status = db_.Read([&](PgConnection& conn) {
    licences.clear();
    auto rows = conn.Exec(sql, p);
    if (!rows.ok()) return rows.status();
    for (int r = 0; r < rows->rows(); ++r) {
      auto licence = ParseLicence(rows->Bytes(r, 1), rows->Text(r, 0));
      if (!licence.ok()) return licence.status();
      licences.push_back(*std::move(licence));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return licences;
}

absl::StatusOr<int64_t> PostgresLicenceStore::AppendDisclosure(
    const v1::LicenceDisclosure& disclosure) {
  if (disclosure.disclosure_id().empty()) {
    return absl::InvalidArgumentError("a disclosure has no disclosure_id");
  }
  std::string record;
  if (!disclosure.SerializeToString(&record)) {
    return absl::InternalError(
        absl::StrCat("cannot serialize disclosure ", disclosure.disclosure_id()));
  }
  PgParams p;
  p.Text(disclosure.disclosure_id())
      .Text(disclosure.holder_id())
      .Text(disclosure.licence_id())
      .Text(disclosure.requester_province())
      .Bytes(record);
  int64_t sequence = 0;
  absl::Status status = db_.Write([&](PgConnection& conn) -> absl::Status {
    auto row = conn.Exec(
        "INSERT INTO licence_disclosures (disclosure_id, holder_id, licence_id, "
        "requester_province, record) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (disclosure_id) DO NOTHING RETURNING sequence",
        p);
    if (!row.ok()) return row.status();
    if (row->rows() == 0) {
      return absl::AlreadyExistsError(
          absl::StrCat("disclosure ", disclosure.disclosure_id(), " already exists"));
    }
    sequence = row->Int64(0, 0);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return sequence;
}

absl::StatusOr<std::vector<StoredDisclosure>> PostgresLicenceStore::ListDisclosures(
    const DisclosureFilter& filter, int64_t before_sequence, int limit) {
  if (limit < 1) return absl::InvalidArgumentError("ListDisclosures limit must be at least 1");
  if (before_sequence < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ListDisclosures before_sequence must not be negative, got ", before_sequence));
  }
  PgParams p;
  p.Int(before_sequence == 0 ? std::numeric_limits<int64_t>::max() : before_sequence)
      .Text(filter.holder_id)
      .Text(filter.licence_id)
      .Text(filter.requester_province)
      .Int(limit);
  const char* sql = !filter.licence_id.empty()  ? kListLicenceDisclosures
                    : !filter.holder_id.empty() ? kListHolderDisclosures
                                                : kListDisclosures;
  std::vector<StoredDisclosure> disclosures;
  absl::Status status = db_.Read([&](PgConnection& conn) {
    disclosures.clear();
    auto rows = conn.Exec(sql, p);
    if (!rows.ok()) return rows.status();
    for (int r = 0; r < rows->rows(); ++r) {
      StoredDisclosure stored;
      stored.sequence = rows->Int64(r, 0);
      if (!stored.disclosure.ParseFromString(rows->Bytes(r, 2))) {
        return absl::DataLossError(
            absl::StrCat("stored disclosure ", rows->Text(r, 1), " cannot be parsed"));
      }
      disclosures.push_back(std::move(stored));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return disclosures;
}

}  // namespace tongban::node
