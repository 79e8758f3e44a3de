#include "store/postgres_schema.h"

namespace tongban::node {
namespace {

// Migration 1: every table of the node, as in the SQLite schema
// (sqlite_schema.cc, migrations 1 and 2) plus what replicas need. Times are
// unix microseconds (BIGINT), each proto is stored whole as BYTEA next to
// the columns that are searched. Column names avoid words that are
// keywords in some PostgreSQL-compatible products (key, open, position).
constexpr std::string_view kMigration1 = R"sql(
CREATE TABLE guides (
  province_code TEXT NOT NULL,
  item_code TEXT NOT NULL,
  scope INTEGER NOT NULL,
  status INTEGER NOT NULL,
  version BIGINT NOT NULL,
  name_zh TEXT NOT NULL,
  name_en TEXT NOT NULL,
  guide BYTEA NOT NULL,             -- tongban.v1.Guide
  PRIMARY KEY (province_code, item_code)
);
CREATE INDEX guides_by_version ON guides (province_code, version);

CREATE TABLE alliances (
  alliance_id TEXT PRIMARY KEY,
  alliance BYTEA NOT NULL           -- tongban.v1.Alliance
);

-- Counters that must never go back. Taken with UPDATE ... RETURNING inside
-- the writing transaction: the row lock makes replicas take turns, and a
-- rolled-back transaction gives its number back.
CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO counters (name, value) VALUES ('application_sequence', 0);

-- seq: the order cursors page by (BIGSERIAL: never reused).
CREATE TABLE applications (
  seq BIGSERIAL PRIMARY KEY,
  application_id TEXT NOT NULL UNIQUE,
  applicant_id_number TEXT NOT NULL,
  state INTEGER NOT NULL,
  accepting_province TEXT NOT NULL,
  handling_province TEXT NOT NULL,
  item_code TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  application BYTEA NOT NULL        -- tongban.v1.Application without events
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
  event BYTEA NOT NULL,             -- tongban.v1.ApplicationEvent
  PRIMARY KEY (application_id, ordinal),
  UNIQUE (application_id, event_id)
);

-- application_id is NULL only inside the transaction that claimed the key
-- (the claim comes first, so a racing replica waits on it instead of
-- filing a second application).
CREATE TABLE idempotency (
  scope TEXT NOT NULL,
  request_key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  application_id TEXT REFERENCES applications (application_id),
  PRIMARY KEY (scope, request_key)
);

CREATE TABLE escalations (
  seq BIGSERIAL PRIMARY KEY,
  application_id TEXT NOT NULL UNIQUE REFERENCES applications (application_id),
  is_open BOOLEAN NOT NULL,
  escalation BYTEA NOT NULL         -- tongban.v1.Escalation
);
CREATE INDEX escalations_by_open ON escalations (is_open, seq);

-- The outbox. dead_at: a dead letter (NULL while pending). ordering: the
-- place among its application's entries when it is not the id (a
-- re-delivery ahead of an event). claimed_by / claimed_until: the replica
-- working the entry and until when (unix micros); a claim past its time is
-- free again, so a killed replica's entries are taken over.
CREATE TABLE outbox (
  id BIGSERIAL PRIMARY KEY,
  kind INTEGER NOT NULL,
  application_id TEXT NOT NULL REFERENCES applications (application_id),
  target_province TEXT NOT NULL,
  payload BYTEA NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  next_attempt_at BIGINT NOT NULL,
  last_error TEXT NOT NULL DEFAULT '',
  dead_at BIGINT,
  dead_code TEXT NOT NULL DEFAULT '',
  ordering BIGINT,
  claimed_by TEXT,
  claimed_until BIGINT
);
CREATE INDEX outbox_by_application ON outbox (application_id, id);
CREATE INDEX outbox_dead_letters ON outbox (dead_at) WHERE dead_at IS NOT NULL;
)sql";

// Migration 2: 好差评 rectifications, as SQLite's migration 3: whether the
// application's rectification (in its blob) is open, and its deadline.
constexpr std::string_view kMigration2 = R"sql(
ALTER TABLE applications ADD COLUMN rectification_open BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE applications ADD COLUMN rectification_due_at BIGINT;
CREATE INDEX applications_open_rectifications ON applications (rectification_due_at, seq)
  WHERE rectification_open;
)sql";

// Migration 3: indexes no query reads, as SQLite's migration 4.
constexpr std::string_view kMigration3 = R"sql(
DROP INDEX applications_by_accepting;
DROP INDEX applications_by_handling;
DROP INDEX applications_by_created;
)sql";

// Migration 4: 电子证照, as SQLite's migration 5. licence_id is compared
// byte by byte (COLLATE "C"): licences are listed and paged in licence_id
// order, which must not depend on the server's locale (en_US orders
// "510000-MZ01-..." ignoring the hyphens) and must be SQLite's order.
// sequence: BIGSERIAL, never reused; replicas appending at once each take
// their own.
constexpr std::string_view kMigration4 = R"sql(
CREATE TABLE licences (
  licence_id TEXT COLLATE "C" PRIMARY KEY,
  holder_id TEXT NOT NULL,
  type_code TEXT NOT NULL,
  revoked BOOLEAN NOT NULL,         -- true once the record holds a revocation
  record BYTEA NOT NULL             -- tongban.v1.Licence
);
CREATE INDEX licences_by_holder ON licences (holder_id, licence_id);

CREATE TABLE licence_disclosures (
  sequence BIGSERIAL PRIMARY KEY,
  disclosure_id TEXT NOT NULL UNIQUE,
  holder_id TEXT NOT NULL,
  licence_id TEXT NOT NULL,         -- '' when no licence matched
  requester_province TEXT NOT NULL,
  record BYTEA NOT NULL             -- tongban.v1.LicenceDisclosure
);
CREATE INDEX licence_disclosures_by_holder ON licence_disclosures (holder_id, sequence);
CREATE INDEX licence_disclosures_by_licence ON licence_disclosures (licence_id, sequence);
)sql";

}  // namespace

const std::vector<std::string_view>& PostgresSchemaMigrations() {
  static const auto* const kMigrations = new std::vector<std::string_view>{
      kMigration1,
      kMigration2,
      kMigration3,
      kMigration4,
  };
  return *kMigrations;
}

}  // namespace tongban::node
