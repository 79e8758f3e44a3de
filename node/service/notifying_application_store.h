// NotifyingApplicationStore: an ApplicationStore that tells the watch hub
// (application_watch_hub.h) which application a committed write changed, so
// open WatchApplication streams send the new events at once. It wraps the
// node's store; every method delegates, and a write that may append events
// (create, insert, mutate, an outbox completion or discard that mutates)
// notifies after it returned OK, i.e. after its commit.
#pragma once

#include <memory>
#include <string>

#include "service/application_watch_hub.h"
#include "store/application_store.h"

namespace tongban::node {

class NotifyingApplicationStore final : public ApplicationStore {
 public:
  // `hub` is not owned and must outlive the store.
  NotifyingApplicationStore(std::unique_ptr<ApplicationStore> store, ApplicationWatchHub* hub)
      : store_(std::move(store)), hub_(hub) {}

  absl::StatusOr<CreateResult> CreateApplication(const CreateRequest& request) override;
  void CreateApplicationAsync(CreateRequest request, CreateDone done) override;
  bool creates_asynchronously() const override { return store_->creates_asynchronously(); }
  absl::StatusOr<InsertResult> InsertForeignApplication(const v1::Application& application,
                                                        const MutateFn& on_insert) override;
  absl::StatusOr<v1::Application> MutateApplication(const std::string& application_id,
                                                    const MutateFn& fn) override;
  absl::StatusOr<v1::Application> GetApplication(const std::string& application_id,
                                                 bool with_events) override {
    return store_->GetApplication(application_id, with_events);
  }
  absl::StatusOr<Page<v1::Application>> ListByApplicant(
      const std::string& id_number, const std::string& cursor, int limit,
      const std::string& accepting_province = "") override {
    return store_->ListByApplicant(id_number, cursor, limit, accepting_province);
  }
  absl::StatusOr<Page<v1::Application>> ListByState(v1::ApplicationState state,
                                                    const std::string& cursor, int limit) override {
    return store_->ListByState(state, cursor, limit);
  }
  absl::StatusOr<Page<v1::Escalation>> ListEscalations(bool include_resolved,
                                                       const std::string& cursor,
                                                       int limit) override {
    return store_->ListEscalations(include_resolved, cursor, limit);
  }
  absl::StatusOr<Page<v1::Application>> ListOpenRectifications(absl::Time due_before,
                                                               const std::string& cursor,
                                                               int limit) override {
    return store_->ListOpenRectifications(due_before, cursor, limit);
  }
  absl::StatusOr<std::vector<OutboxEntry>> DueOutbox(absl::Time now, int limit) override {
    return store_->DueOutbox(now, limit);
  }
  absl::Status CompleteOutbox(int64_t entry_id, const MutateFn& on_delivered) override;
  absl::Status RetryOutboxLater(int64_t entry_id, absl::Time next_attempt_at,
                                const std::string& error) override {
    return store_->RetryOutboxLater(entry_id, next_attempt_at, error);
  }
  absl::Status DeadLetterOutbox(int64_t entry_id, absl::Time at, const std::string& code,
                                const std::string& error) override {
    return store_->DeadLetterOutbox(entry_id, at, code, error);
  }
  absl::Status RedeliverApplicationFirst(
      int64_t entry_id, absl::Time next_attempt_at, const std::string& error,
      const std::function<absl::StatusOr<OutboxEntry>(const v1::Application&)>& make_delivery)
      override {
    return store_->RedeliverApplicationFirst(entry_id, next_attempt_at, error, make_delivery);
  }
  absl::StatusOr<OutboxStats> GetOutboxStats() override { return store_->GetOutboxStats(); }
  absl::StatusOr<std::vector<OutboxEntry>> ListOutbox(int limit) override {
    return store_->ListOutbox(limit);
  }
  absl::StatusOr<Page<OutboxEntry>> ListOutboxEntries(const OutboxFilter& filter,
                                                      const std::string& cursor,
                                                      int limit) override {
    return store_->ListOutboxEntries(filter, cursor, limit);
  }
  absl::StatusOr<OutboxEntry> GetOutboxEntry(int64_t entry_id) override {
    return store_->GetOutboxEntry(entry_id);
  }
  absl::StatusOr<OutboxEntry> ReplayDeadLetter(int64_t entry_id, absl::Time now) override {
    return store_->ReplayDeadLetter(entry_id, now);
  }
  absl::StatusOr<OutboxEntry> DiscardDeadLetter(int64_t entry_id,
                                                const MutateFn& on_discard) override;
  absl::StatusOr<int64_t> CountOpenEscalations() override { return store_->CountOpenEscalations(); }
  absl::StatusOr<std::map<v1::ApplicationState, int64_t>> CountOpenApplicationsByState() override {
    return store_->CountOpenApplicationsByState();
  }
  absl::StatusOr<RectificationCounts> CountRectifications(absl::Time now) override {
    return store_->CountRectifications(now);
  }

 private:
  std::unique_ptr<ApplicationStore> store_;
  ApplicationWatchHub* const hub_;
};

}  // namespace tongban::node
