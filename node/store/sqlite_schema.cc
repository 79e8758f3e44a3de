#include "store/sqlite_schema.h"

namespace tongban::node {
namespace {

// Migration 1: every table of the node. Times are unix microseconds; each
// proto is stored whole as a blob next to the columns that are searched.
constexpr std::string_view kMigration1 = R"sql(
CREATE TABLE guides (
  province_code TEXT NOT NULL,
  item_code TEXT NOT NULL,
  scope INTEGER NOT NULL,
  status INTEGER NOT NULL,
  version INTEGER NOT NULL,
  name_zh TEXT NOT NULL,
  name_en TEXT NOT NULL,
  guide BLOB NOT NULL,              -- tongban.v1.Guide
  PRIMARY KEY (province_code, item_code)
) WITHOUT ROWID;
CREATE INDEX guides_by_version ON guides (province_code, version);

CREATE TABLE alliances (
  alliance_id TEXT PRIMARY KEY,
  alliance BLOB NOT NULL            -- tongban.v1.Alliance
) WITHOUT ROWID;

-- Counters that must never go back, even across crashes.
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('application_sequence', 0);

CREATE TABLE applications (
  seq INTEGER PRIMARY KEY,          -- node-local order, used by cursors
  application_id TEXT NOT NULL UNIQUE,
  applicant_id_number TEXT NOT NULL,
  state INTEGER NOT NULL,
  accepting_province TEXT NOT NULL,
  handling_province TEXT NOT NULL,
  item_code TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  application BLOB NOT NULL         -- tongban.v1.Application without events
);
CREATE INDEX applications_by_applicant ON applications (applicant_id_number, seq);
CREATE INDEX applications_by_state ON applications (state, seq);
CREATE INDEX applications_by_accepting ON applications (accepting_province, seq);
CREATE INDEX applications_by_handling ON applications (handling_province, seq);
CREATE INDEX applications_by_created ON applications (created_at);

CREATE TABLE application_events (
  application_id TEXT NOT NULL REFERENCES applications (application_id),
  ordinal INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  event BLOB NOT NULL,              -- tongban.v1.ApplicationEvent
  PRIMARY KEY (application_id, ordinal),
  UNIQUE (application_id, event_id)
) WITHOUT ROWID;

CREATE TABLE idempotency (
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  application_id TEXT NOT NULL REFERENCES applications (application_id),
  PRIMARY KEY (scope, key)
) WITHOUT ROWID;

-- AUTOINCREMENT: a cursor is a seq, so a seq is never handed out twice.
CREATE TABLE escalations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  application_id TEXT NOT NULL UNIQUE REFERENCES applications (application_id),
  open INTEGER NOT NULL,
  escalation BLOB NOT NULL          -- tongban.v1.Escalation
);
CREATE INDEX escalations_by_open ON escalations (open, seq);

-- AUTOINCREMENT: entry ids increase and are never reused.
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind INTEGER NOT NULL,
  application_id TEXT NOT NULL REFERENCES applications (application_id),
  target_province TEXT NOT NULL,
  payload BLOB NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_by_application ON outbox (application_id, id);
)sql";

// Migration 2: dead letters (docs/protocol.md, "Deliveries that cannot be
// delivered"). A refused entry stays in the outbox with dead_at set, so the
// "oldest entry of each application" rule keeps its later entries behind it.
// `position` orders one application's entries when it is not their id: an
// application re-delivered ahead of an event the receiver could not place
// (NULL: the id).
constexpr std::string_view kMigration2 = R"sql(
ALTER TABLE outbox ADD COLUMN dead_at INTEGER;        -- NULL while pending
ALTER TABLE outbox ADD COLUMN dead_code TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN position INTEGER;
CREATE INDEX outbox_dead_letters ON outbox (dead_at) WHERE dead_at IS NOT NULL;
)sql";

// Migration 3: 好差评 rectifications (docs/ratings.md). The rectification
// itself lives in the application blob; these columns mirror whether it is
// open and its deadline (unix micros) so the open/overdue gauges and list
// read only the open ones (a partial index), whatever the node's history.
constexpr std::string_view kMigration3 = R"sql(
ALTER TABLE applications ADD COLUMN rectification_open INTEGER NOT NULL DEFAULT 0;
ALTER TABLE applications ADD COLUMN rectification_due_at INTEGER;
CREATE INDEX applications_open_rectifications ON applications (rectification_due_at, seq)
  WHERE rectification_open = 1;
)sql";

// Migration 4: indexes no query reads. Every filing wrote three index
// entries nobody looked up (per-province lists go by applicant or state;
// nothing orders by created_at), costing B-tree inserts and WAL pages on the
// hot path (docs/performance.md, issue #14).
constexpr std::string_view kMigration4 = R"sql(
DROP INDEX applications_by_accepting;
DROP INDEX applications_by_handling;
DROP INDEX applications_by_created;
)sql";

// Migration 5: 电子证照 (docs/licences.md). Each licence and disclosure is
// kept whole as its signed proto next to the columns it is listed by.
// AUTOINCREMENT: a disclosure's sequence is a page cursor, so it is never
// handed out twice. No index by requester province: a province asks often,
// so walking the sequence backwards finds its page quickly, and every check
// writes a disclosure (one index entry less on that path).
constexpr std::string_view kMigration5 = R"sql(
CREATE TABLE licences (
  licence_id TEXT PRIMARY KEY,
  holder_id TEXT NOT NULL,
  type_code TEXT NOT NULL,
  revoked INTEGER NOT NULL,         -- 1 once the record holds a revocation
  record BLOB NOT NULL              -- tongban.v1.Licence
) WITHOUT ROWID;
CREATE INDEX licences_by_holder ON licences (holder_id, licence_id);

CREATE TABLE licence_disclosures (
  sequence INTEGER PRIMARY KEY AUTOINCREMENT,
  disclosure_id TEXT NOT NULL UNIQUE,
  holder_id TEXT NOT NULL,
  licence_id TEXT NOT NULL,         -- '' when no licence matched
  requester_province TEXT NOT NULL,
  record BLOB NOT NULL              -- tongban.v1.LicenceDisclosure
);
CREATE INDEX licence_disclosures_by_holder ON licence_disclosures (holder_id, sequence);
CREATE INDEX licence_disclosures_by_licence ON licence_disclosures (licence_id, sequence);
)sql";

}  // namespace

const std::vector<std::string_view>& NodeSchemaMigrations() {
  // Migration N + 1 is one more line here, e.g. `kMigration2,` with
  // "ALTER TABLE outbox ADD COLUMN ...". Never edit a migration that shipped.
  static const auto* const kMigrations = new std::vector<std::string_view>{
      kMigration1,
      kMigration2,
      kMigration3,
      kMigration4,
      kMigration5,
  };
  return *kMigrations;
}

}  // namespace tongban::node
