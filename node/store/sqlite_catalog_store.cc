#include "store/sqlite_catalog_store.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace tongban::node {
namespace {

absl::Status ValidateGuideKey(const v1::Guide& guide, absl::string_view what) {
  if (guide.province_code().empty() || guide.item().item_code().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " needs both province_code and item.item_code"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Guide> ParseGuide(const std::string& blob, absl::string_view province,
                                     absl::string_view item) {
  v1::Guide guide;
  if (!guide.ParseFromString(blob)) {
    return absl::DataLossError(
        absl::StrCat("stored guide of ", item, " at ", province, " cannot be parsed"));
  }
  return guide;
}

// Inserts or replaces one guide. With `only_if_not_older`, an existing row
// with a newer version is kept (PutGuides must not roll a cache back).
absl::Status UpsertGuide(sqlite3* db, const v1::Guide& guide, bool only_if_not_older) {
  static constexpr char kSql[] =
      "INSERT INTO guides (province_code, item_code, scope, status, version, name_zh, name_en, "
      "guide) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
      "ON CONFLICT (province_code, item_code) DO UPDATE SET scope = excluded.scope, "
      "status = excluded.status, version = excluded.version, name_zh = excluded.name_zh, "
      "name_en = excluded.name_en, guide = excluded.guide "
      "WHERE ?9 = 0 OR excluded.version >= guides.version";
  std::string blob;
  if (!guide.SerializeToString(&blob)) {
    return absl::InternalError(absl::StrCat(
        "cannot serialize the guide of ", guide.item().item_code(), " at ", guide.province_code()));
  }
  auto stmt = SqliteStatement::Prepare(db, kSql);
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, guide.province_code())
      .BindText(2, guide.item().item_code())
      .BindInt64(3, guide.item().scope())
      .BindInt64(4, guide.status())
      .BindInt64(5, guide.version())
      .BindText(6, guide.item().name_zh())
      .BindText(7, guide.item().name_en())
      .BindBlob(8, blob)
      .BindInt64(9, only_if_not_older ? 1 : 0);
  return stmt->Run();
}

// The stored version of one guide; NOT_FOUND when absent.
absl::StatusOr<int64_t> GuideVersion(sqlite3* db, const std::string& province,
                                     const std::string& item) {
  auto stmt = SqliteStatement::Prepare(
      db, "SELECT version FROM guides WHERE province_code = ?1 AND item_code = ?2");
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, province).BindText(2, item);
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) {
    return absl::NotFoundError(
        absl::StrCat("province ", province, " has no guide for item ", item));
  }
  return stmt->ColumnInt64(0);
}

absl::StatusOr<CatalogCounts> ReadCounts(sqlite3* db, const std::string& province) {
  auto stmt = SqliteStatement::Prepare(
      db,
      "SELECT coalesce(max(version), 0), coalesce(sum(status <> ?2), 0), "
      "coalesce(sum(status = ?2), 0) FROM guides WHERE province_code = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, province).BindInt64(2, v1::ITEM_STATUS_ABOLISHED);
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  CatalogCounts counts;
  counts.catalog_version = stmt->ColumnInt64(0);
  counts.active_items = static_cast<int32_t>(stmt->ColumnInt64(1));
  counts.abolished_items = static_cast<int32_t>(stmt->ColumnInt64(2));
  return counts;
}

}  // namespace

absl::StatusOr<bool> SqliteCatalogStore::IsEmpty() {
  bool empty = true;
  absl::Status status = db_.Read([&](sqlite3* db) {
    auto stmt = SqliteStatement::Prepare(db, "SELECT EXISTS (SELECT 1 FROM guides)");
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    empty = stmt->ColumnInt64(0) == 0;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return empty;
}

absl::StatusOr<std::vector<v1::Guide>> SqliteCatalogStore::ListGuides(
    const GuideFilter& filter, const std::string& after_item_code, int limit) {
  if (filter.province_code.empty()) {
    return absl::InvalidArgumentError("ListGuides needs a province_code");
  }
  if (limit < 1) return absl::InvalidArgumentError("ListGuides limit must be at least 1");
  // One fixed statement; a filter that is off matches every row. lower() is
  // ASCII-only in SQLite, which is what English names need; instr() counts
  // characters, so Chinese substrings match on UTF-8 text as they should.
  static constexpr char kSql[] =
      "SELECT guide FROM guides WHERE province_code = ?1 AND item_code > ?2 "
      "AND (?3 = 0 OR scope = ?3) AND (?4 = 1 OR status <> ?5) "
      "AND (?6 = '' OR instr(name_zh, ?6) > 0 OR instr(lower(name_en), lower(?6)) > 0) "
      "ORDER BY item_code LIMIT ?7";
  std::vector<v1::Guide> guides;
  absl::Status status = db_.Read([&](sqlite3* db) {
    auto stmt = SqliteStatement::Prepare(db, kSql);
    if (!stmt.ok()) return stmt.status();
    stmt->BindText(1, filter.province_code)
        .BindText(2, after_item_code)
        .BindInt64(3, filter.scope)
        .BindInt64(4, filter.include_abolished ? 1 : 0)
        .BindInt64(5, v1::ITEM_STATUS_ABOLISHED)
        .BindText(6, filter.query)
        .BindInt64(7, limit);
    while (true) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::OkStatus();
      auto guide = ParseGuide(stmt->ColumnBlob(0), filter.province_code, "a listed item");
      if (!guide.ok()) return guide.status();
      guides.push_back(*std::move(guide));
    }
  });
  if (!status.ok()) return status;
  return guides;
}

absl::StatusOr<std::vector<ScoredGuide>> SqliteCatalogStore::ScoreGuides(const GuideFilter& filter,
                                                                         const GuideScorer& score) {
  if (filter.province_code.empty()) {
    return absl::InvalidArgumentError("ScoreGuides needs a province_code");
  }
  // The province's rows by primary key (some 60); names are scored here
  // rather than in SQL because synonyms and normalisation are C++.
  static constexpr char kSql[] =
      "SELECT name_zh, name_en, guide FROM guides WHERE province_code = ?1 "
      "AND (?2 = 0 OR scope = ?2) AND (?3 = 1 OR status <> ?4) ORDER BY item_code";
  std::vector<ScoredGuide> found;
  absl::Status status = db_.Read([&](sqlite3* db) {
    auto stmt = SqliteStatement::Prepare(db, kSql);
    if (!stmt.ok()) return stmt.status();
    stmt->BindText(1, filter.province_code)
        .BindInt64(2, filter.scope)
        .BindInt64(3, filter.include_abolished ? 1 : 0)
        .BindInt64(4, v1::ITEM_STATUS_ABOLISHED);
    while (true) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::OkStatus();
      const int32_t relevance = score(stmt->ColumnText(0), stmt->ColumnText(1));
      if (relevance <= 0) continue;
      auto guide = ParseGuide(stmt->ColumnBlob(2), filter.province_code, "a found item");
      if (!guide.ok()) return guide.status();
      found.push_back(ScoredGuide{*std::move(guide), relevance});
    }
  });
  if (!status.ok()) return status;
  return found;
}

absl::StatusOr<v1::Guide> SqliteCatalogStore::GetGuide(const std::string& province_code,
                                                       const std::string& item_code) {
  v1::Guide guide;
  absl::Status status = db_.Read([&](sqlite3* db) -> absl::Status {
    auto stmt = SqliteStatement::Prepare(
        db, "SELECT guide FROM guides WHERE province_code = ?1 AND item_code = ?2");
    if (!stmt.ok()) return stmt.status();
    stmt->BindText(1, province_code).BindText(2, item_code);
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) {
      return absl::NotFoundError(
          absl::StrCat("province ", province_code, " has no guide for item ", item_code));
    }
    auto parsed = ParseGuide(stmt->ColumnBlob(0), province_code, item_code);
    if (!parsed.ok()) return parsed.status();
    guide = *std::move(parsed);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return guide;
}

absl::Status SqliteCatalogStore::PutGuides(const std::vector<v1::Guide>& guides) {
  for (size_t i = 0; i < guides.size(); ++i) {
    if (absl::Status s = ValidateGuideKey(guides[i], absl::StrCat("guides[", i, "]")); !s.ok()) {
      return s;
    }
  }
  return db_.Write([&](sqlite3* db) {
    for (const v1::Guide& guide : guides) {
      if (absl::Status s = UpsertGuide(db, guide, /*only_if_not_older=*/true); !s.ok()) return s;
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Guide> SqliteCatalogStore::AmendGuide(const v1::Guide& guide,
                                                         int64_t expected_version,
                                                         int64_t now_unix_seconds) {
  if (absl::Status s = ValidateGuideKey(guide, "an amended guide"); !s.ok()) return s;
  const std::string& province = guide.province_code();
  const std::string& item = guide.item().item_code();
  v1::Guide stored = guide;
  // Check, version bump and write in one transaction: two officers amending
  // the same guide cannot both win, and catalog versions never repeat.
  absl::Status status = db_.Write([&](sqlite3* db) -> absl::Status {
    auto current = GuideVersion(db, province, item);
    if (!current.ok()) return current.status();
    if (*current != expected_version) {
      return absl::AbortedError(absl::StrCat("guide of ", item, " at ", province, " is at version ",
                                             *current, ", not ", expected_version,
                                             "; re-read and retry"));
    }
    auto counts = ReadCounts(db, province);
    if (!counts.ok()) return counts.status();
    stored.set_version(counts->catalog_version + 1);
    stored.mutable_updated_at()->set_seconds(now_unix_seconds);
    stored.mutable_updated_at()->set_nanos(0);
    return UpsertGuide(db, stored, /*only_if_not_older=*/false);
  });
  if (!status.ok()) return status;
  return stored;
}

absl::StatusOr<CatalogCounts> SqliteCatalogStore::Counts(const std::string& province_code) {
  CatalogCounts counts;
  absl::Status status = db_.Read([&](sqlite3* db) {
    auto read = ReadCounts(db, province_code);
    if (!read.ok()) return read.status();
    counts = *read;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return counts;
}

absl::Status SqliteCatalogStore::PutAlliances(const std::vector<v1::Alliance>& alliances) {
  for (size_t i = 0; i < alliances.size(); ++i) {
    if (alliances[i].alliance_id().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("alliances[", i, "] has no alliance_id"));
    }
  }
  return db_.Write([&](sqlite3* db) {
    for (const v1::Alliance& alliance : alliances) {
      std::string blob;
      if (!alliance.SerializeToString(&blob)) {
        return absl::InternalError(
            absl::StrCat("cannot serialize alliance ", alliance.alliance_id()));
      }
      auto stmt = SqliteStatement::Prepare(
          db,
          "INSERT INTO alliances (alliance_id, alliance) VALUES (?1, ?2) "
          "ON CONFLICT (alliance_id) DO UPDATE SET alliance = excluded.alliance");
      if (!stmt.ok()) return stmt.status();
      stmt->BindText(1, alliance.alliance_id()).BindBlob(2, blob);
      if (absl::Status s = stmt->Run(); !s.ok()) return s;
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<v1::Alliance>> SqliteCatalogStore::ListAlliances() {
  std::vector<v1::Alliance> alliances;
  absl::Status status = db_.Read([&](sqlite3* db) {
    auto stmt = SqliteStatement::Prepare(
        db, "SELECT alliance_id, alliance FROM alliances ORDER BY alliance_id");
    if (!stmt.ok()) return stmt.status();
    while (true) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::OkStatus();
      v1::Alliance alliance;
      if (!alliance.ParseFromString(stmt->ColumnBlob(1))) {
        return absl::DataLossError(
            absl::StrCat("stored alliance ", stmt->ColumnText(0), " cannot be parsed"));
      }
      alliances.push_back(std::move(alliance));
    }
  });
  if (!status.ok()) return status;
  return alliances;
}

}  // namespace tongban::node
