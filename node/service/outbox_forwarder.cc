#include "service/outbox_forwarder.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "heap_allocator.h"
#include "service/application_events.h"
#include "tongban/v1/federation.pb.h"

namespace tongban::node {
namespace {

const char* KindLabel(OutboxEntry::Kind kind) {
  return kind == OutboxEntry::Kind::kDeliverApplication ? "application" : "event";
}

std::string Rfc3339Millis(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

// Appended to the last error of an event whose application was re-delivered
// ahead of it: a second NOT_FOUND after that is a dead letter, not a loop.
constexpr char kRedeliveredNote[] = " (the application is re-delivered ahead of this event)";

OutboxForwarderOptions AtLeastOne(OutboxForwarderOptions options) {
  options.batch = std::max(options.batch, 1);
  options.concurrency = std::max(options.concurrency, 1);
  return options;
}

}  // namespace

OutboxForwarder::Failure OutboxForwarder::Classify(absl::StatusCode code,
                                                   OutboxEntry::Kind kind) {
  switch (code) {
    // The network, the gateway or the receiver is not able to answer now.
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kCancelled:
    // A crash or a bug in the receiver or a proxy, not a verdict on the
    // entry: fixing the receiver makes the same bytes succeed, and
    // dead-lettering every entry of an outage would leave operators to
    // replay them one by one.
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
    // The receiver runs a version without the RPC: upgrading it fixes it.
    case absl::StatusCode::kUnimplemented:
    // About this node's credentials, not the entry: every delivery fails
    // alike until the certificate is renewed (the expiry alert covers it).
    case absl::StatusCode::kUnauthenticated:
      return Failure::kTransient;
    case absl::StatusCode::kNotFound:
      // An event whose application the receiver does not know: deliver the
      // application first. NOT_FOUND of an application is not an answer a
      // receiver gives; it is treated as a refusal.
      return kind == OutboxEntry::Kind::kDeliverEvent ? Failure::kApplicationUnknown
                                                      : Failure::kPermanent;
    default:
      // INVALID_ARGUMENT, PERMISSION_DENIED (authority rules, refused
      // signatures), FAILED_PRECONDITION, ALREADY_EXISTS, OUT_OF_RANGE,
      // DATA_LOSS (a payload this node cannot read): the same entry would be
      // refused again.
      return Failure::kPermanent;
  }
}

absl::Duration OutboxForwarder::Backoff(const Options& options, int failed_attempts) {
  absl::Duration delay = options.initial_backoff;
  for (int i = 1; i < failed_attempts && delay < options.max_backoff; ++i) delay *= 2;
  return std::min(delay, options.max_backoff);
}

absl::StatusOr<OutboxEntry> OutboxForwarder::RedeliveryOf(const v1::Application& application,
                                                          const std::string& target) {
  if (application.accepting_province() == application.handling_province() ||
      target != application.handling_province()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "only the accepting province ", application.accepting_province(),
        " can deliver application ", application.application_id(), " to ",
        application.handling_province(), "; this delivery goes to ", target));
  }
  // As the first delivery was written: the application as stored here.
  return ApplicationDelivery(application);
}

OutboxForwarder::OutboxForwarder(ApplicationStore* store, FederationClient* client,
                                 const Clock* clock, NodeMetrics* metrics, EventLog* log,
                                 Options options)
    : store_(store),
      client_(client),
      clock_(clock),
      metrics_(metrics),
      log_(log),
      options_(AtLeastOne(options)) {}

OutboxForwarder::~OutboxForwarder() { Stop(); }

void OutboxForwarder::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_ || stopping_) return;
    started_ = true;
    wake_ = true;  // whatever is due from before a restart leaves at once
  }
  dispatcher_ = std::thread([this] { Dispatch(); });
  for (int i = 0; i < options_.concurrency; ++i) workers_.emplace_back([this] { Work(); });
  log_->Info("forwarding.started", {{"concurrency", absl::StrCat(options_.concurrency)},
                                    {"batch", absl::StrCat(options_.batch)}});
}

void OutboxForwarder::Notify() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

void OutboxForwarder::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    queue_.clear();  // not sent yet: they stay in the store
  }
  if (dispatcher_.joinable()) dispatcher_.join();
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
}

bool OutboxForwarder::ShouldFetch() const {
  return stopping_ || (wake_ && queue_.size() < static_cast<size_t>(options_.concurrency));
}

bool OutboxForwarder::HasWorkOrStop() const { return stopping_ || !queue_.empty(); }

void OutboxForwarder::Dispatch() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    absl::Duration timeout = options_.poll_interval;
    if (!retries_.empty()) {
      timeout = std::min(timeout, std::max(retries_.top() - clock_->Now(), absl::ZeroDuration()));
    }
    mu_.AwaitWithTimeout(absl::Condition(this, &OutboxForwarder::ShouldFetch), timeout);
    if (stopping_) break;
    wake_ = false;
    if (queue_.size() >= static_cast<size_t>(options_.batch)) continue;  // enough queued

    const absl::Time now = clock_->Now();
    while (!retries_.empty() && retries_.top() <= now) retries_.pop();  // this read sees them
    fetching_ = true;
    finished_during_fetch_.clear();
    mu_.Unlock();
    absl::StatusOr<std::vector<OutboxEntry>> due = store_->DueOutbox(now, options_.batch);
    mu_.Lock();
    fetching_ = false;
    if (!due.ok()) {
      // Next try at the next poll; one line per outage, not per poll.
      if (!store_error_logged_) {
        log_->Error("forwarding.store_error",
                    {{"op", "DueOutbox"}, {"error", due.status().ToString()}});
        store_error_logged_ = true;
      }
      continue;
    }
    store_error_logged_ = false;
    size_t queued = 0;
    for (OutboxEntry& entry : *due) {
      if (finished_during_fetch_.contains(entry.id)) continue;  // read before it finished
      if (!busy_applications_.insert(entry.application_id).second) continue;  // one at a time
      queue_.push_back(std::move(entry));
      ++queued;
    }
    // A full batch may have left more due entries behind: read again as soon
    // as the queue has room.
    if (due->size() == static_cast<size_t>(options_.batch) && queued > 0) wake_ = true;
  }
}

void OutboxForwarder::Work() {
  absl::BitGen bitgen;  // this thread's, for jitter
  absl::MutexLock lock(&mu_);
  while (true) {
    AwaitReleasingIdleCache(mu_, absl::Condition(this, &OutboxForwarder::HasWorkOrStop));
    if (stopping_) return;
    OutboxEntry entry = std::move(queue_.front());
    queue_.pop_front();
    mu_.Unlock();
    const Outcome outcome = Forward(entry, bitgen);
    mu_.Lock();
    busy_applications_.erase(entry.application_id);
    if (fetching_) finished_during_fetch_.insert(entry.id);
    // The application's next entry may be due now. After a store failure the
    // next poll retries, so a broken store does not spin the loop.
    if (outcome.recorded) wake_ = true;
    if (outcome.recorded && outcome.retry_at != absl::InfiniteFuture()) {
      retries_.push(outcome.retry_at);
    }
  }
}

absl::Status OutboxForwarder::Send(const OutboxEntry& entry, bool* duplicate,
                                   v1::ApplicationEvent* delivered_event) {
  if (entry.kind == OutboxEntry::Kind::kDeliverApplication) {
    v1::DeliverApplicationRequest request;
    if (!request.ParseFromString(entry.payload)) {
      return absl::DataLossError("outbox payload is not a DeliverApplicationRequest");
    }
    absl::StatusOr<v1::DeliverApplicationResponse> response = client_->DeliverApplication(request);
    if (!response.ok()) return response.status();
    *duplicate = response->already_delivered();
    *delivered_event = response->delivered_event();
    return absl::OkStatus();
  }
  v1::DeliverEventRequest request;
  if (!request.ParseFromString(entry.payload)) {
    return absl::DataLossError("outbox payload is not a DeliverEventRequest");
  }
  absl::StatusOr<v1::DeliverEventResponse> response = client_->DeliverEvent(request);
  if (!response.ok()) return response.status();
  *duplicate = response->already_delivered();
  return absl::OkStatus();
}

OutboxForwarder::Outcome OutboxForwarder::Forward(const OutboxEntry& entry, absl::BitGen& bitgen) {
  const std::string kind = KindLabel(entry.kind);
  const std::string id = absl::StrCat(entry.id);
  const std::string attempt = absl::StrCat(entry.attempts + 1);
  bool duplicate = false;
  v1::ApplicationEvent delivered_event;
  const absl::Status sent = Send(entry, &duplicate, &delivered_event);
  const absl::Time now = clock_->Now();

  if (sent.ok()) {
    metrics_->ForwardingAttempt(kind, "delivered");
    // The handling node's DELIVER event is recorded with the completion, so
    // "forwarding DELIVERED" and the event appear together; the same event
    // arriving later through DeliverEvent is recognised by its id.
    MutateFn record_delivery;
    bool joint_task = false;  // the application is a 多地联办 step's task
    if (!delivered_event.event_id().empty()) {
      record_delivery = [&delivered_event,
                         &joint_task](v1::Application& app) -> absl::StatusOr<Mutation> {
        Mutation m;
        joint_task = app.filing().has_joint_task();
        for (const auto& e : app.events()) {
          if (e.event_id() == delivered_event.event_id()) return m;
        }
        m.events.push_back(delivered_event);
        return m;
      };
    }
    absl::Status completed = store_->CompleteOutbox(entry.id, record_delivery);
    if (!completed.ok()) {
      // Delivered but not recorded: it is sent again and answered
      // already_delivered. NOT_FOUND: someone else completed it already.
      log_->Error("forwarding.store_error", {{"op", "CompleteOutbox"},
                                             {"id", id},
                                             {"application", entry.application_id},
                                             {"error", completed.ToString()}});
      return {absl::IsNotFound(completed)};
    }
    const absl::Duration latency = std::max(now - entry.created_at, absl::ZeroDuration());
    metrics_->ForwardingDelivered(kind, absl::ToDoubleSeconds(latency));
    if (joint_task && on_task_delivered_) {
      on_task_delivered_(entry.application_id);
    }
    log_->Info("forwarding.delivered",
               {{"id", id},
                {"kind", kind},
                {"application", entry.application_id},
                {"target", entry.target_province},
                {"attempts", attempt},
                {"latency_ms", absl::StrCat(absl::ToInt64Milliseconds(latency))},
                {"duplicate", duplicate ? "true" : "false"}});
    return {true};
  }

  return Failed(entry, sent, now, bitgen);
}

OutboxForwarder::Outcome OutboxForwarder::Failed(const OutboxEntry& entry,
                                                 const absl::Status& sent, absl::Time now,
                                                 absl::BitGen& bitgen) {
  const std::string kind = KindLabel(entry.kind);
  const std::string id = absl::StrCat(entry.id);
  const std::string error =
      absl::StrCat(absl::StatusCodeToString(sent.code()), ": ", sent.message());
  const Failure failure = Classify(sent.code(), entry.kind);
  if (failure == Failure::kPermanent) return DeadLetter(entry, sent, now, "refused");

  if (failure == Failure::kApplicationUnknown) {
    if (absl::EndsWith(entry.last_error, kRedeliveredNote)) {
      return DeadLetter(entry, sent, now, "still unknown after the application was re-delivered");
    }
    const std::string target = entry.target_province;
    absl::Status redelivered = store_->RedeliverApplicationFirst(
        entry.id, now, absl::StrCat(error, kRedeliveredNote),
        [&target](const v1::Application& app) { return RedeliveryOf(app, target); });
    if (absl::IsFailedPrecondition(redelivered)) {
      return DeadLetter(entry, sent, now, std::string(redelivered.message()));
    }
    if (!redelivered.ok()) {
      log_->Error("forwarding.store_error", {{"op", "RedeliverApplicationFirst"},
                                             {"id", id},
                                             {"application", entry.application_id},
                                             {"error", redelivered.ToString()}});
      return {false};
    }
    metrics_->ForwardingAttempt(kind, "transient_error");
    log_->Warn("forwarding.redeliver_application", {{"id", id},
                                                    {"kind", kind},
                                                    {"application", entry.application_id},
                                                    {"target", entry.target_province},
                                                    {"attempts", absl::StrCat(entry.attempts + 1)},
                                                    {"error", error}});
    return {true, now};
  }

  const absl::Duration base = Backoff(options_, entry.attempts + 1);
  const absl::Duration delay = base * absl::Uniform(bitgen, 0.8, 1.2);
  const absl::Time next = now + delay;
  metrics_->ForwardingAttempt(kind, "transient_error");
  absl::Status retried = store_->RetryOutboxLater(entry.id, next, error);
  log_->Warn("forwarding.retry", {{"id", id},
                                  {"kind", kind},
                                  {"application", entry.application_id},
                                  {"target", entry.target_province},
                                  {"attempts", absl::StrCat(entry.attempts + 1)},
                                  {"error", error},
                                  {"next_attempt", Rfc3339Millis(next)},
                                  {"backoff_ms", absl::StrCat(absl::ToInt64Milliseconds(delay))}});
  if (!retried.ok()) {
    log_->Error("forwarding.store_error", {{"op", "RetryOutboxLater"},
                                           {"id", id},
                                           {"application", entry.application_id},
                                           {"error", retried.ToString()}});
    return {false};
  }
  return {true, next};
}

OutboxForwarder::Outcome OutboxForwarder::DeadLetter(const OutboxEntry& entry,
                                                     const absl::Status& sent, absl::Time now,
                                                     const std::string& why) {
  const std::string kind = KindLabel(entry.kind);
  const std::string id = absl::StrCat(entry.id);
  const std::string code = absl::StatusCodeToString(sent.code());
  const std::string error = absl::StrCat(code, ": ", sent.message());
  absl::Status stored = store_->DeadLetterOutbox(entry.id, now, code, error);
  if (!stored.ok()) {
    log_->Error("forwarding.store_error", {{"op", "DeadLetterOutbox"},
                                           {"id", id},
                                           {"application", entry.application_id},
                                           {"error", stored.ToString()}});
    return {false};
  }
  metrics_->ForwardingAttempt(kind, "rejected");
  metrics_->DeadLettered(kind, code);
  // An operator has to look: `tongbanctl outbox show <id>` (docs/operations.md).
  log_->Error("forwarding.dead_letter", {{"id", id},
                                         {"kind", kind},
                                         {"application", entry.application_id},
                                         {"target", entry.target_province},
                                         {"attempts", absl::StrCat(entry.attempts + 1)},
                                         {"code", code},
                                         {"error", error},
                                         {"why", why}});
  return {true};
}

}  // namespace tongban::node
