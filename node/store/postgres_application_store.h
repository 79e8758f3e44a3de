// PostgresApplicationStore: ApplicationStore on PostgreSQL, for a province
// served by several node replicas from one database (issue 15).
//
// Layout and semantics are those of SqliteApplicationStore (the same test
// suite runs on both): one row per application, one per event, the
// idempotency keys, the escalations and the outbox (its methods:
// postgres_application_outbox.cc). A write method is one transaction of
// PostgresDatabase::Write and returns after its COMMIT.
//
// Several replicas, one database: every guarantee holds across processes
// because it is the database's, not a mutex's:
//  - a mutation locks its application row (SELECT ... FOR UPDATE) before
//    reading it, so a MutateFn's check and the write it leads to are atomic
//    against every other replica;
//  - an idempotency key is claimed first (INSERT ... ON CONFLICT DO
//    NOTHING): a second replica with the same key waits for the first and
//    replays its application (or answers ALREADY_EXISTS);
//  - the application id sequence is a counter row taken with UPDATE ...
//    RETURNING in the creating transaction;
//  - a foreign application delivered to two replicas at once is inserted
//    once (ON CONFLICT DO NOTHING on its id); the other sees it present;
//  - the outbox is claimed: DueOutbox marks the entries it returns as this
//    store's (claimed_by = a random id per store object) until `now +
//    outbox_lease`, locking them with FOR UPDATE SKIP LOCKED, so another
//    replica neither waits for them nor gets them. Recording the outcome
//    (complete, retry, dead letter) releases the claim; the claims of a
//    killed replica expire after the lease. The same store object gets its
//    own claims again (as SQLite's DueOutbox returns due entries again until
//    their outcome is recorded; the forwarder skips the ones in flight).
//    Lease times use the `now` the forwarder passes (its clock), like
//    next_attempt_at; the lease must be longer than a delivery attempt plus
//    the clock skew between replicas.
// Serialization failures and deadlocks are retried by PostgresDatabase, so
// MutateFn, finalize and make_outbox callbacks may run more than once per
// call; only the last run's result is written.
//
// Cursors are the decimal `seq` of the last row returned (BIGSERIAL, never
// reused). A CreateRequest with an empty idempotency_key is filed without
// idempotency.
//
// Thread-safety: every method may be called from any thread. Callbacks run
// on the calling thread inside the transaction and must not call this store
// (FAILED_PRECONDITION).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "clock.h"
#include "store/application_store.h"
#include "store/postgres_database.h"

namespace tongban::node {

struct PostgresApplicationStoreOptions {
  // How long an entry DueOutbox returned stays this replica's.
  absl::Duration outbox_lease = absl::Minutes(2);
};

class PostgresApplicationStore final : public ApplicationStore {
 public:
  // `db` and `clock` must outlive the store. `own_province_code` prefixes the
  // event ids this node assigns; `clock` stamps outbox entries written by a
  // mutation without events.
  PostgresApplicationStore(PostgresDatabase& db, std::string own_province_code, const Clock& clock,
                           PostgresApplicationStoreOptions options = {});

  absl::StatusOr<CreateResult> CreateApplication(const CreateRequest& request) override;
  absl::StatusOr<InsertResult> InsertForeignApplication(const v1::Application& application,
                                                        const MutateFn& on_insert) override;
  absl::StatusOr<v1::Application> MutateApplication(const std::string& application_id,
                                                    const MutateFn& fn) override;
  absl::StatusOr<v1::Application> GetApplication(const std::string& application_id,
                                                 bool with_events) override;
  absl::StatusOr<Page<v1::Application>> ListByApplicant(
      const std::string& id_number, const std::string& cursor, int limit,
      const std::string& accepting_province = "") override;
  absl::StatusOr<Page<v1::Application>> ListByState(v1::ApplicationState state,
                                                    const std::string& cursor, int limit) override;
  absl::StatusOr<Page<v1::Escalation>> ListEscalations(bool include_resolved,
                                                       const std::string& cursor,
                                                       int limit) override;
  absl::StatusOr<std::vector<OutboxEntry>> DueOutbox(absl::Time now, int limit) override;
  absl::Status CompleteOutbox(int64_t entry_id, const MutateFn& on_delivered) override;
  absl::Status RetryOutboxLater(int64_t entry_id, absl::Time next_attempt_at,
                                const std::string& error) override;
  absl::Status DeadLetterOutbox(int64_t entry_id, absl::Time at, const std::string& code,
                                const std::string& error) override;
  absl::Status RedeliverApplicationFirst(
      int64_t entry_id, absl::Time next_attempt_at, const std::string& error,
      const std::function<absl::StatusOr<OutboxEntry>(const v1::Application&)>& make_delivery)
      override;
  absl::StatusOr<OutboxStats> GetOutboxStats() override;
  absl::StatusOr<std::vector<OutboxEntry>> ListOutbox(int limit) override;
  absl::StatusOr<Page<OutboxEntry>> ListOutboxEntries(const OutboxFilter& filter,
                                                      const std::string& cursor,
                                                      int limit) override;
  absl::StatusOr<OutboxEntry> GetOutboxEntry(int64_t entry_id) override;
  absl::StatusOr<OutboxEntry> ReplayDeadLetter(int64_t entry_id, absl::Time now) override;
  absl::StatusOr<OutboxEntry> DiscardDeadLetter(int64_t entry_id,
                                                const MutateFn& on_discard) override;
  absl::StatusOr<int64_t> CountOpenEscalations() override;
  absl::StatusOr<Page<v1::Application>> ListOpenRectifications(absl::Time due_before,
                                                              const std::string& cursor,
                                                              int limit) override;
  absl::StatusOr<RectificationCounts> CountRectifications(absl::Time now) override;
  absl::StatusOr<std::map<v1::ApplicationState, int64_t>> CountOpenApplicationsByState() override;

  // The id this store object claims outbox entries under.
  const std::string& replica_id() const { return replica_id_; }

 private:
  // The body of CreateApplication, inside its transaction.
  absl::Status CreateInTransaction(PgConnection& conn, const CreateRequest& request,
                                   CreateResult& result) const;
  // Locks and loads the application, marks it delivered when asked, runs
  // `fn` (may be empty) on it and writes the result into `application`.
  absl::Status MutateInTransaction(PgConnection& conn, const std::string& application_id,
                                   const MutateFn& fn, bool mark_delivered,
                                   v1::Application& application) const;

  PostgresDatabase& db_;
  const std::string own_province_;
  const Clock& clock_;
  const PostgresApplicationStoreOptions options_;
  const std::string replica_id_;
};

}  // namespace tongban::node
