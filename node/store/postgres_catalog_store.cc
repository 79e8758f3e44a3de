#include "store/postgres_catalog_store.h"

#include <algorithm>
#include <optional>
#include <tuple>
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
absl::Status UpsertGuide(PgConnection& conn, const v1::Guide& guide, bool only_if_not_older) {
  std::string blob;
  if (!guide.SerializeToString(&blob)) {
    return absl::InternalError(absl::StrCat(
        "cannot serialize the guide of ", guide.item().item_code(), " at ", guide.province_code()));
  }
  PgParams p;
  p.Text(guide.province_code())
      .Text(guide.item().item_code())
      .Int(guide.item().scope())
      .Int(guide.status())
      .Int(guide.version())
      .Text(guide.item().name_zh())
      .Text(guide.item().name_en())
      .Bytes(blob)
      .Int(only_if_not_older ? 1 : 0);
  auto done = conn.Exec(
      "INSERT INTO guides (province_code, item_code, scope, status, version, name_zh, name_en, "
      "guide) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
      "ON CONFLICT (province_code, item_code) DO UPDATE SET scope = excluded.scope, "
      "status = excluded.status, version = excluded.version, name_zh = excluded.name_zh, "
      "name_en = excluded.name_en, guide = excluded.guide "
      "WHERE $9 = 0 OR excluded.version >= guides.version",
      p);
  return done.status();
}

absl::StatusOr<CatalogCounts> ReadCounts(PgConnection& conn, const std::string& province) {
  PgParams p;
  p.Text(province).Int(v1::ITEM_STATUS_ABOLISHED);
  auto row = conn.Exec(
      "SELECT coalesce(max(version), 0), count(CASE WHEN status <> $2 THEN 1 END), "
      "count(CASE WHEN status = $2 THEN 1 END) FROM guides WHERE province_code = $1",
      p);
  if (!row.ok()) return row.status();
  CatalogCounts counts;
  counts.catalog_version = row->Int64(0, 0);
  counts.active_items = static_cast<int32_t>(row->Int64(0, 1));
  counts.abolished_items = static_cast<int32_t>(row->Int64(0, 2));
  return counts;
}

}  // namespace

absl::StatusOr<bool> PostgresCatalogStore::IsEmpty() {
  bool empty = true;
  absl::Status status = db_.Read([&](PgConnection& conn) {
    auto row = conn.Exec("SELECT count(*) FROM (SELECT 1 FROM guides LIMIT 1) AS any_guide");
    if (!row.ok()) return row.status();
    empty = row->Int64(0, 0) == 0;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return empty;
}

absl::StatusOr<std::vector<v1::Guide>> PostgresCatalogStore::ListGuides(
    const GuideFilter& filter, const std::string& after_item_code, int limit) {
  if (filter.province_code.empty()) {
    return absl::InvalidArgumentError("ListGuides needs a province_code");
  }
  if (limit < 1) return absl::InvalidArgumentError("ListGuides limit must be at least 1");
  // One fixed statement; a filter that is off matches every row. POSITION
  // counts characters, so Chinese substrings match on UTF-8 text; lower()
  // folds the English names (ASCII is all they need).
  PgParams p;
  p.Text(filter.province_code)
      .Text(after_item_code)
      .Int(filter.scope)
      .Int(filter.include_abolished ? 1 : 0)
      .Int(v1::ITEM_STATUS_ABOLISHED)
      .Text(filter.query)
      .Int(limit);
  std::vector<v1::Guide> guides;
  absl::Status status = db_.Read([&](PgConnection& conn) {
    guides.clear();
    auto rows = conn.Exec(
        "SELECT guide FROM guides WHERE province_code = $1 AND item_code > $2 "
        "AND ($3 = 0 OR scope = $3) AND ($4 = 1 OR status <> $5) "
        "AND ($6 = '' OR POSITION($6 IN name_zh) > 0 OR POSITION(lower($6) IN lower(name_en)) > 0) "
        "ORDER BY item_code LIMIT $7",
        p);
    if (!rows.ok()) return rows.status();
    for (int r = 0; r < rows->rows(); ++r) {
      auto guide = ParseGuide(rows->Bytes(r, 0), filter.province_code, "a listed item");
      if (!guide.ok()) return guide.status();
      guides.push_back(*std::move(guide));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return guides;
}

absl::StatusOr<std::vector<ScoredGuide>> PostgresCatalogStore::ScoreGuides(
    const GuideFilter& filter, const GuideScorer& score) {
  if (filter.province_code.empty()) {
    return absl::InvalidArgumentError("ScoreGuides needs a province_code");
  }
  // Names are scored here rather than in SQL because synonyms and
  // normalisation are C++; only the accepted guides are parsed.
  PgParams p;
  p.Text(filter.province_code)
      .Int(filter.scope)
      .Int(filter.include_abolished ? 1 : 0)
      .Int(v1::ITEM_STATUS_ABOLISHED);
  std::vector<ScoredGuide> found;
  absl::Status status = db_.Read([&](PgConnection& conn) {
    found.clear();
    auto rows = conn.Exec(
        "SELECT name_zh, name_en, guide FROM guides WHERE province_code = $1 "
        "AND ($2 = 0 OR scope = $2) AND ($3 = 1 OR status <> $4) ORDER BY item_code",
        p);
    if (!rows.ok()) return rows.status();
    for (int r = 0; r < rows->rows(); ++r) {
      const int32_t relevance = score(rows->Text(r, 0), rows->Text(r, 1));
      if (relevance <= 0) continue;
      auto guide = ParseGuide(rows->Bytes(r, 2), filter.province_code, "a found item");
      if (!guide.ok()) return guide.status();
      found.push_back(ScoredGuide{*std::move(guide), relevance});
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return found;
}

absl::StatusOr<v1::Guide> PostgresCatalogStore::GetGuide(const std::string& province_code,
                                                         const std::string& item_code) {
  v1::Guide guide;
  absl::Status status = db_.Read([&](PgConnection& conn) -> absl::Status {
    PgParams p;
    p.Text(province_code).Text(item_code);
    auto row = conn.Exec("SELECT guide FROM guides WHERE province_code = $1 AND item_code = $2", p);
    if (!row.ok()) return row.status();
    if (row->rows() == 0) {
      return absl::NotFoundError(
          absl::StrCat("province ", province_code, " has no guide for item ", item_code));
    }
    auto parsed = ParseGuide(row->Bytes(0, 0), province_code, item_code);
    if (!parsed.ok()) return parsed.status();
    guide = *std::move(parsed);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return guide;
}

absl::Status PostgresCatalogStore::PutGuides(const std::vector<v1::Guide>& guides) {
  for (size_t i = 0; i < guides.size(); ++i) {
    if (absl::Status s = ValidateGuideKey(guides[i], absl::StrCat("guides[", i, "]")); !s.ok()) {
      return s;
    }
  }
  // In key order: concurrent writers lock rows in the same order.
  std::vector<const v1::Guide*> ordered;
  ordered.reserve(guides.size());
  for (const v1::Guide& guide : guides) ordered.push_back(&guide);
  std::stable_sort(ordered.begin(), ordered.end(), [](const v1::Guide* a, const v1::Guide* b) {
    return std::tie(a->province_code(), a->item().item_code()) <
           std::tie(b->province_code(), b->item().item_code());
  });
  return db_.Write([&](PgConnection& conn) {
    for (const v1::Guide* guide : ordered) {
      if (absl::Status s = UpsertGuide(conn, *guide, /*only_if_not_older=*/true); !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Guide> PostgresCatalogStore::AmendGuide(const v1::Guide& guide,
                                                           int64_t expected_version,
                                                           int64_t now_unix_seconds) {
  if (absl::Status s = ValidateGuideKey(guide, "an amended guide"); !s.ok()) return s;
  const std::string& province = guide.province_code();
  const std::string& item = guide.item().item_code();
  v1::Guide stored;
  absl::Status status = db_.Write([&](PgConnection& conn) -> absl::Status {
    // Every guide row of the province locked, in key order: the version
    // check, the catalog version + 1 and the write are one step against
    // every other replica's amendment.
    PgParams p;
    p.Text(province);
    auto rows = conn.Exec(
        "SELECT item_code, version FROM guides WHERE province_code = $1 ORDER BY item_code "
        "FOR UPDATE",
        p);
    if (!rows.ok()) return rows.status();
    std::optional<int64_t> current;
    int64_t catalog_version = 0;
    for (int r = 0; r < rows->rows(); ++r) {
      catalog_version = std::max(catalog_version, rows->Int64(r, 1));
      if (rows->Text(r, 0) == item) current = rows->Int64(r, 1);
    }
    if (!current.has_value()) {
      return absl::NotFoundError(
          absl::StrCat("province ", province, " has no guide for item ", item));
    }
    if (*current != expected_version) {
      return absl::AbortedError(absl::StrCat("guide of ", item, " at ", province, " is at version ",
                                             *current, ", not ", expected_version,
                                             "; re-read and retry"));
    }
    stored = guide;
    stored.set_version(catalog_version + 1);
    stored.mutable_updated_at()->set_seconds(now_unix_seconds);
    stored.mutable_updated_at()->set_nanos(0);
    return UpsertGuide(conn, stored, /*only_if_not_older=*/false);
  });
  if (!status.ok()) return status;
  return stored;
}

absl::StatusOr<CatalogCounts> PostgresCatalogStore::Counts(const std::string& province_code) {
  CatalogCounts counts;
  absl::Status status = db_.Read([&](PgConnection& conn) {
    auto read = ReadCounts(conn, province_code);
    if (!read.ok()) return read.status();
    counts = *read;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return counts;
}

absl::Status PostgresCatalogStore::PutAlliances(const std::vector<v1::Alliance>& alliances) {
  for (size_t i = 0; i < alliances.size(); ++i) {
    if (alliances[i].alliance_id().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("alliances[", i, "] has no alliance_id"));
    }
  }
  std::vector<const v1::Alliance*> ordered;
  for (const v1::Alliance& alliance : alliances) ordered.push_back(&alliance);
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const v1::Alliance* a, const v1::Alliance* b) {
                     return a->alliance_id() < b->alliance_id();
                   });
  return db_.Write([&](PgConnection& conn) {
    for (const v1::Alliance* alliance : ordered) {
      std::string blob;
      if (!alliance->SerializeToString(&blob)) {
        return absl::InternalError(
            absl::StrCat("cannot serialize alliance ", alliance->alliance_id()));
      }
      PgParams p;
      p.Text(alliance->alliance_id()).Bytes(blob);
      auto done = conn.Exec(
          "INSERT INTO alliances (alliance_id, alliance) VALUES ($1, $2) "
          "ON CONFLICT (alliance_id) DO UPDATE SET alliance = excluded.alliance",
          p);
      if (!done.ok()) return done.status();
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<v1::Alliance>> PostgresCatalogStore::ListAlliances() {
  std::vector<v1::Alliance> alliances;
  absl::Status status = db_.Read([&](PgConnection& conn) {
    alliances.clear();
    auto rows = conn.Exec("SELECT alliance_id, alliance FROM alliances ORDER BY alliance_id");
    if (!rows.ok()) return rows.status();
    for (int r = 0; r < rows->rows(); ++r) {
      v1::Alliance alliance;
      if (!alliance.ParseFromString(rows->Bytes(r, 1))) {
        return absl::DataLossError(
            absl::StrCat("stored alliance ", rows->Text(r, 0), " cannot be parsed"));
      }
      alliances.push_back(std::move(alliance));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return alliances;
}

}  // namespace tongban::node
