#include "service/notifying_application_store.h"

namespace tongban::node {
namespace {

// `fn`, remembering the id of the application it mutated (the mutation runs
// on the store's writer thread; the id is read after the call returned).
MutateFn Remembering(const MutateFn& fn, std::string* id) {
  return [fn, id](v1::Application& app) -> absl::StatusOr<Mutation> {
    *id = app.application_id();
    return fn(app);
  };
}

}  // namespace

absl::StatusOr<CreateResult> NotifyingApplicationStore::CreateApplication(
    const CreateRequest& request) {
  absl::StatusOr<CreateResult> r = store_->CreateApplication(request);
  if (r.ok() && !r->replayed) hub_->Notify(r->application.application_id());
  return r;
}

void NotifyingApplicationStore::CreateApplicationAsync(CreateRequest request, CreateDone done) {
  store_->CreateApplicationAsync(
      std::move(request), [hub = hub_, done = std::move(done)](absl::StatusOr<CreateResult> r) {
        if (r.ok() && !r->replayed) hub->Notify(r->application.application_id());
        done(std::move(r));
      });
}

absl::StatusOr<InsertResult> NotifyingApplicationStore::InsertForeignApplication(
    const v1::Application& application, const MutateFn& on_insert) {
  absl::StatusOr<InsertResult> r = store_->InsertForeignApplication(application, on_insert);
  if (r.ok() && !r->already_present) hub_->Notify(r->application.application_id());
  return r;
}

absl::StatusOr<v1::Application> NotifyingApplicationStore::MutateApplication(
    const std::string& application_id, const MutateFn& fn) {
  absl::StatusOr<v1::Application> r = store_->MutateApplication(application_id, fn);
  if (r.ok()) hub_->Notify(application_id);
  return r;
}

absl::Status NotifyingApplicationStore::CompleteOutbox(int64_t entry_id,
                                                       const MutateFn& on_delivered) {
  if (!on_delivered) return store_->CompleteOutbox(entry_id, on_delivered);
  std::string id;
  absl::Status s = store_->CompleteOutbox(entry_id, Remembering(on_delivered, &id));
  if (s.ok() && !id.empty()) hub_->Notify(id);
  return s;
}

absl::StatusOr<OutboxEntry> NotifyingApplicationStore::DiscardDeadLetter(
    int64_t entry_id, const MutateFn& on_discard) {
  std::string id;
  absl::StatusOr<OutboxEntry> r = store_->DiscardDeadLetter(entry_id, Remembering(on_discard, &id));
  if (r.ok()) hub_->Notify(id.empty() ? r->application_id : id);
  return r;
}

}  // namespace tongban::node
