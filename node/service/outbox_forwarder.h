// OutboxForwarder: drains this node's transactional outbox through the
// gateway (DESIGN.md §4 step 3). Every DeliverApplication / DeliverEvent the
// store holds for another province is sent with FederationClient until that
// province acknowledges it; a failed attempt is recorded in the store and
// retried later with capped exponential backoff and ±20% jitter — forever
// while the failure is transient, because losing an acknowledged application
// is worse than retrying; a refusal for good becomes a dead letter that waits
// for an operator instead of being retried.
//
//   OutboxForwarder forwarder(store, client, clock, metrics, log, {});
//   forwarder.Start();
//   ...  // services call forwarder.Notify() after a commit that wrote entries
//   forwarder.Stop();  // before the store closes
//
// Order and idempotency: DueOutbox returns at most the oldest entry of each
// application, and the forwarder never has two entries of one application in
// flight, so one application's deliveries leave in the order they were
// written (a DeliverEvent never overtakes its DeliverApplication). Entries of
// different applications go concurrently (Options::concurrency). Receivers
// store by id, so a delivery repeated after a crash between the
// acknowledgement and CompleteOutbox is answered already_delivered, which
// counts as success.
//
// Errors (docs/protocol.md, "Deliveries that cannot be delivered"): the
// receiver's answer is classified by Classify().
//  - transient (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED,
//    CANCELLED, UNKNOWN, INTERNAL, UNIMPLEMENTED, UNAUTHENTICATED): nothing is
//    wrong with the entry; it is retried with exponential backoff, forever.
//  - permanent (INVALID_ARGUMENT, PERMISSION_DENIED — a refused signature or
//    authority rule —, FAILED_PRECONDITION, ALREADY_EXISTS, OUT_OF_RANGE,
//    DATA_LOSS, NOT_FOUND of an application): the same bytes will be refused
//    again, so the entry becomes a dead letter with the reason and is not
//    retried. It holds back its application's later entries (they must not
//    overtake it) until an operator replays or discards it (NodeAdminService).
//  - NOT_FOUND of an event (the receiver does not know the application): the
//    application is re-delivered first — one transaction inserts a
//    DeliverApplication entry ahead of the event — and the event follows it.
//    Only the accepting province can deliver an application, and only once:
//    a node that is not the accepting province, or a second NOT_FOUND after a
//    re-delivery, makes the event a dead letter.
// Threads: Start() runs one dispatcher thread and `concurrency` workers. The
// dispatcher reads due entries from the store every poll_interval, at once
// after Notify() or a finished delivery, and when a retry it scheduled falls
// due; it queues them. Workers make the blocking calls and record each
// outcome in the store. All shared state is guarded by mu_. Stop() wakes
// everyone and joins: it waits for calls already in flight (bounded by the
// client's deadline) and records their outcome; queued entries not yet sent
// simply stay in the store.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <queue>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clock.h"
#include "service/federation_client.h"
#include "service/node_metrics.h"
#include "store/application_store.h"
#include "structured_log.h"

namespace tongban::node {

struct OutboxForwarderOptions {
  // How often the store is read when nothing calls Notify().
  absl::Duration poll_interval = absl::Seconds(1);
  // Entries read from the store at once.
  int batch = 64;
  // Backoff after the first failed attempt; doubles per attempt up to max_backoff.
  absl::Duration initial_backoff = absl::Milliseconds(250);
  absl::Duration max_backoff = absl::Seconds(30);
  // Deliveries in flight at once (worker threads).
  int concurrency = 16;  // 4 delivered ~500/s, below what a node accepts (tongban-bench)
};

class OutboxForwarder final {
 public:
  using Options = OutboxForwarderOptions;

  // What a failed delivery leads to (see the header comment).
  enum class Failure { kTransient, kPermanent, kApplicationUnknown };
  static Failure Classify(absl::StatusCode code, OutboxEntry::Kind kind);

  // The delay before the next attempt after `failed_attempts` transient
  // failures (>= 1), before jitter: initial_backoff * 2^(failed_attempts-1),
  // at most max_backoff.
  static absl::Duration Backoff(const Options& options, int failed_attempts);

  // The DeliverApplication entry that re-delivers `application` (as stored at
  // this node) to its handling province `target`, built as the application
  // service builds the first one. FAILED_PRECONDITION when this node cannot
  // deliver it (it is not the accepting province: `target` is not the
  // handling province of a cross-province application).
  static absl::StatusOr<OutboxEntry> RedeliveryOf(const v1::Application& application,
                                                  const std::string& target);

  // Pointers are not owned and must outlive the forwarder.
  OutboxForwarder(ApplicationStore* store, FederationClient* client, const Clock* clock,
                  NodeMetrics* metrics, EventLog* log, Options options = {});
  ~OutboxForwarder();  // Stop()
  OutboxForwarder(const OutboxForwarder&) = delete;
  OutboxForwarder& operator=(const OutboxForwarder&) = delete;

  // Starts the dispatcher and the workers. Call once.
  void Start();
  // Reads the store at once (entries were just written). Any thread, cheap,
  // safe before Start() and after Stop().
  void Notify();
  // Called on a worker thread after the delivery of a 多地联办 step's task
  // was recorded here (the handling node's DELIVER event stored), so the
  // joint application mirrors it at once. Set before Start().
  void set_on_task_delivered(std::function<void(const std::string& id)> hook) {
    on_task_delivered_ = std::move(hook);
  }
  // Stops and joins the threads; waits for in-flight calls and records their
  // outcome. Idempotent; must run before the store closes.
  void Stop();

 private:
  // Dispatcher: reads due entries and queues those whose application is idle.
  void Dispatch();
  // Worker: takes queued entries and forwards them one at a time.
  void Work();
  struct Outcome {
    bool recorded = false;  // false: the store failed; the entry stays due as it was
    absl::Time retry_at = absl::InfiniteFuture();  // when a failed entry falls due
  };
  // Sends one entry and records the outcome in the store.
  Outcome Forward(const OutboxEntry& entry, absl::BitGen& bitgen);
  // A failed attempt: retried, re-delivering the application first, or a
  // dead letter.
  Outcome Failed(const OutboxEntry& entry, const absl::Status& sent, absl::Time now,
                 absl::BitGen& bitgen);
  Outcome DeadLetter(const OutboxEntry& entry, const absl::Status& sent, absl::Time now,
                     const std::string& why);
  // The call itself; sets *duplicate when the receiver already had it.
  absl::Status Send(const OutboxEntry& entry, bool* duplicate, v1::ApplicationEvent* delivered_event);

  bool ShouldFetch() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HasWorkOrStop() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ApplicationStore* const store_;
  FederationClient* const client_;
  const Clock* const clock_;
  NodeMetrics* const metrics_;
  EventLog* const log_;
  const Options options_;
  std::function<void(const std::string& id)> on_task_delivered_;

  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Read the store as soon as the queue has room (Notify, finished delivery).
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  // Entries read from the store, waiting for a worker.
  std::deque<OutboxEntry> queue_ ABSL_GUARDED_BY(mu_);
  // Applications with an entry queued or in flight: never two at once.
  absl::flat_hash_set<std::string> busy_applications_ ABSL_GUARDED_BY(mu_);
  // While the dispatcher reads the store (without mu_), workers note the
  // entries they finish here: that read may still show them as due.
  bool fetching_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<int64_t> finished_during_fetch_ ABSL_GUARDED_BY(mu_);
  // When the retries scheduled by this forwarder fall due (earliest on top),
  // so a 250 ms backoff is not stretched to the poll interval.
  std::priority_queue<absl::Time, std::vector<absl::Time>, std::greater<absl::Time>> retries_
      ABSL_GUARDED_BY(mu_);
  // Said once per outage of the store, not once per poll.
  bool store_error_logged_ ABSL_GUARDED_BY(mu_) = false;

  // Owned by Start()/Stop() (callers do not race them).
  std::thread dispatcher_;
  std::vector<std::thread> workers_;
};

}  // namespace tongban::node
