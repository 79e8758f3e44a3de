#include "node_config.h"

#include "absl/strings/str_cat.h"
#include "input_validation.h"
#include "peer_identity.h"
#include "service/application_ratings.h"
#include "text_config.h"

namespace tongban::node {
namespace {

// Exactly one store: SQLite at database_path, or PostgreSQL.
absl::Status FinishStoreConfig(v1::NodeConfig& c) {
  if (!c.has_postgres()) {
    if (c.database_path().empty()) {
      return absl::InvalidArgumentError(
          "database_path is required (the SQLite file; created when missing), unless "
          "postgres { conninfo } names a PostgreSQL database");
    }
    return absl::OkStatus();
  }
  v1::PostgresStoreConfig* pg = c.mutable_postgres();
  if (!c.database_path().empty()) {
    return absl::InvalidArgumentError(
        "database_path and postgres are both set: the store is either SQLite (database_path) "
        "or PostgreSQL (postgres { conninfo }), not both");
  }
  if (pg->conninfo().empty()) {
    return absl::InvalidArgumentError(
        "postgres.conninfo is required with postgres { }, e.g. \"host=pg port=5432 "
        "dbname=tongban_430000 user=tongban\"");
  }
  if (pg->pool_size() == 0) pg->set_pool_size(8);
  if (pg->pool_size() < 1 || pg->pool_size() > 100) {
    return absl::InvalidArgumentError("postgres.pool_size must be 1 to 100");
  }
  if (pg->outbox_lease_seconds() == 0) pg->set_outbox_lease_seconds(120);
  if (pg->outbox_lease_seconds() < 10 || pg->outbox_lease_seconds() > 3600) {
    return absl::InvalidArgumentError("postgres.outbox_lease_seconds must be 10 to 3600");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::NodeConfig> ReadNodeConfig(const std::string& path) {
  v1::NodeConfig config;
  if (path.empty()) return config;
  absl::Status read = ReadTextProtoFile(path, &config);
  if (!read.ok()) return read;
  return config;
}

absl::StatusOr<v1::NodeConfig> FinishNodeConfig(v1::NodeConfig c) {
  absl::Status s = ValidateProvinceCode("province_code", c.province_code());
  if (!s.ok()) return s;
  if (c.listen_address().empty()) c.set_listen_address("127.0.0.1:0");
  if (absl::Status store = FinishStoreConfig(c); !store.ok()) return store;
  if (c.tls().cert_file().empty() || c.tls().key_file().empty() || c.tls().ca_file().empty()) {
    return absl::InvalidArgumentError(
        "tls.cert_file, tls.key_file and tls.ca_file are required: the node serves mTLS only");
  }
  if (c.max_message_bytes() == 0) c.set_max_message_bytes(4 * 1024 * 1024);
  if (c.max_message_bytes() < 64 * 1024 || c.max_message_bytes() > 64 * 1024 * 1024) {
    return absl::InvalidArgumentError("max_message_bytes must be 65536 to 67108864");
  }
  if (c.drain_delay_ms() == 0) c.set_drain_delay_ms(500);
  if (c.drain_delay_ms() < 0 || c.drain_delay_ms() > 60000) {
    return absl::InvalidArgumentError("drain_delay_ms must be 1 to 60000");
  }
  if (c.shutdown_grace_seconds() == 0) c.set_shutdown_grace_seconds(10);
  if (c.shutdown_grace_seconds() < 0 || c.shutdown_grace_seconds() > 600) {
    return absl::InvalidArgumentError("shutdown_grace_seconds must be 1 to 600");
  }
  if (c.max_commit_batch() == 0) c.set_max_commit_batch(256);
  if (c.max_commit_batch() < 1 || c.max_commit_batch() > 10000) {
    return absl::InvalidArgumentError("max_commit_batch must be 1 to 10000");
  }
  v1::TimeLimitConfig* t = c.mutable_time_limits();
  if (t->calendar_files().empty()) t->add_calendar_files(TONGBAN_DEFAULT_CALENDAR_FILE);
  for (int i = 0; i < t->calendar_files_size(); ++i) {
    if (t->calendar_files(i).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("time_limits.calendar_files[", i, "] is empty: name a calendar file"));
    }
  }
  for (int i = 0; i < t->extension_approvers_size(); ++i) {
    if (!IsValidOfficerId(t->extension_approvers(i))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "time_limits.extension_approvers[", i, "] \"", t->extension_approvers(i).substr(0, 40),
          "\" is not an officer id (1 to 32 of [a-z0-9-])"));
    }
  }
  if (t->due_soon_working_days() == 0) t->set_due_soon_working_days(3);
  if (t->due_soon_working_days() < 1 || t->due_soon_working_days() > 60) {
    return absl::InvalidArgumentError("time_limits.due_soon_working_days must be 1 to 60");
  }
  if (t->refresh_interval_seconds() == 0) t->set_refresh_interval_seconds(60);
  if (t->refresh_interval_seconds() < 1 || t->refresh_interval_seconds() > 3600) {
    return absl::InvalidArgumentError("time_limits.refresh_interval_seconds must be 1 to 3600");
  }
  v1::RatingConfig* r = c.mutable_rating();
  if (r->default_after_days() == 0) r->set_default_after_days(kDefaultRatingAfterDays);
  if (r->default_after_days() < 1 || r->default_after_days() > kMaxRatingAfterDays) {
    return absl::InvalidArgumentError(
        absl::StrCat("rating.default_after_days must be 1 to ", kMaxRatingAfterDays));
  }
  if (r->rectification_working_days() == 0) {
    r->set_rectification_working_days(kDefaultRectificationWorkingDays);
  }
  if (r->rectification_working_days() < 1 ||
      r->rectification_working_days() > kMaxRectificationWorkingDays) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rating.rectification_working_days must be 1 to ", kMaxRectificationWorkingDays));
  }
  v1::WatchConfig* w = c.mutable_watch();
  if (w->heartbeat_seconds() == 0) w->set_heartbeat_seconds(15);
  if (w->heartbeat_seconds() < 1 || w->heartbeat_seconds() > 300) {
    return absl::InvalidArgumentError("watch.heartbeat_seconds must be 1 to 300");
  }
  if (w->max_watches() == 0) w->set_max_watches(10000);
  if (w->max_watches() < 1 || w->max_watches() > 1000000) {
    return absl::InvalidArgumentError("watch.max_watches must be 1 to 1000000");
  }
  if (w->max_stream_seconds() == 0) w->set_max_stream_seconds(3600);
  if (w->max_stream_seconds() < 10 || w->max_stream_seconds() > 86400) {
    return absl::InvalidArgumentError("watch.max_stream_seconds must be 10 to 86400");
  }
  if (w->poll_ms() == 0 && c.has_postgres()) w->set_poll_ms(1000);
  if (w->poll_ms() != 0 && (w->poll_ms() < 100 || w->poll_ms() > 60000)) {
    return absl::InvalidArgumentError("watch.poll_ms must be 0 (none) or 100 to 60000");
  }
  return c;
}

}  // namespace tongban::node
