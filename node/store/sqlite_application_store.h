// SqliteApplicationStore: ApplicationStore on the node's SQLite file.
//
// Layout: one row per application (its proto without events, plus the
// columns lists filter on), one row per event, the idempotency keys, the
// escalations and the outbox (its methods: sqlite_application_outbox.cc). A write method is one SqliteDatabase::Write,
// so its rows commit together or not at all, and it returns only after the
// COMMIT (group commit may share that COMMIT with other callers' writes).
//
// Cursors are the decimal `seq` of the last row returned (applications and
// escalations have a node-local, never reused seq). A CreateRequest with an
// empty idempotency_key is filed without idempotency (every call files).
//
// Thread-safety: every method may be called from any thread. MutateFn
// callbacks and CreateRequest::make_outbox run on the database's writer
// thread inside the transaction:
// they must be quick and must not call this store (that would deadlock;
// SqliteDatabase refuses it with FAILED_PRECONDITION).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "clock.h"
#include "store/application_store.h"
#include "store/sqlite_database.h"

namespace tongban::node {

class SqliteApplicationStore final : public ApplicationStore {
 public:
  // `db` and `clock` must outlive the store. `own_province_code` prefixes the
  // event ids this node assigns; `clock` stamps outbox entries written by a
  // mutation without events.
  SqliteApplicationStore(SqliteDatabase& db, std::string own_province_code, const Clock& clock)
      : db_(db), own_province_(std::move(own_province_code)), clock_(clock) {}

  absl::StatusOr<CreateResult> CreateApplication(const CreateRequest& request) override;
  // Through the group commit's WriteAsync: no thread waits for the commit.
  void CreateApplicationAsync(CreateRequest request, CreateDone done) override;
  bool creates_asynchronously() const override { return true; }
  absl::StatusOr<InsertResult> InsertForeignApplication(const v1::Application& application,
                                                        const MutateFn& on_insert) override;
  absl::StatusOr<v1::Application> MutateApplication(const std::string& application_id,
                                                    const MutateFn& fn) override;
  absl::StatusOr<v1::Application> GetApplication(const std::string& application_id,
                                                 bool with_events) override;
  absl::StatusOr<Page<v1::Application>> ListByApplicant(const std::string& id_number,
                                                        const std::string& cursor, int limit,
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

 private:
  // The body of CreateApplication, on the writer thread inside its Write.
  // `take`, when set, is request.application handed over to be moved from
  // (read only after the idempotency replay check).
  absl::Status CreateInTransaction(sqlite3* db, const CreateRequest& request,
                                   v1::Application* take, CreateResult& result) const;
  // Loads the application, marks it delivered when asked, runs `fn` (may be
  // empty) on it and writes the result into `application`. Runs on the
  // writer thread inside a Write.
  absl::Status MutateInTransaction(sqlite3* db, const std::string& application_id,
                                   const MutateFn& fn, bool mark_delivered,
                                   v1::Application& application) const;

  SqliteDatabase& db_;
  const std::string own_province_;
  const Clock& clock_;
};

}  // namespace tongban::node
