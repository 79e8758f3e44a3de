#include "service/outbox_forwarder.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "tongban/v1/federation.pb.h"

namespace tongban::node {
namespace {

const char* KindLabel(OutboxEntry::Kind kind) {
  return kind == OutboxEntry::Kind::kDeliverApplication ? "application" : "event";
}

std::string Rfc3339Millis(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

OutboxForwarderOptions AtLeastOne(OutboxForwarderOptions options) {
  options.batch = std::max(options.batch, 1);
  options.concurrency = std::max(options.concurrency, 1);
  return options;
}

}  // namespace

OutboxForwarder::Failure OutboxForwarder::Classify(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kNotFound:  // an event before its application: it follows soon
      return Failure::kTransient;
    default:
      return Failure::kRejected;
  }
}

absl::Duration OutboxForwarder::Backoff(const Options& options, int failed_attempts,
                                        Failure failure) {
  if (failure == Failure::kRejected) return options.max_backoff;
  absl::Duration delay = options.initial_backoff;
  for (int i = 1; i < failed_attempts && delay < options.max_backoff; ++i) delay *= 2;
  return std::min(delay, options.max_backoff);
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
    mu_.Await(absl::Condition(this, &OutboxForwarder::HasWorkOrStop));
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
    if (!delivered_event.event_id().empty()) {
      record_delivery = [&delivered_event](v1::Application& app) -> absl::StatusOr<Mutation> {
        Mutation m;
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

  const Failure failure = Classify(sent.code());
  const absl::Duration base = Backoff(options_, entry.attempts + 1, failure);
  const absl::Duration delay = base * absl::Uniform(bitgen, 0.8, 1.2);
  const absl::Time next = now + delay;
  const std::string error =
      absl::StrCat(absl::StatusCodeToString(sent.code()), ": ", sent.message());
  metrics_->ForwardingAttempt(kind,
                              failure == Failure::kTransient ? "transient_error" : "rejected");
  absl::Status retried = store_->RetryOutboxLater(entry.id, next, error);
  const std::string next_text = Rfc3339Millis(next);
  const std::string delay_ms = absl::StrCat(absl::ToInt64Milliseconds(delay));
  std::initializer_list<LogField> fields = {{"id", id},
                                            {"kind", kind},
                                            {"application", entry.application_id},
                                            {"target", entry.target_province},
                                            {"attempts", attempt},
                                            {"error", error},
                                            {"next_attempt", next_text},
                                            {"backoff_ms", delay_ms}};
  if (failure == Failure::kTransient) {
    log_->Warn("forwarding.retry", fields);
  } else {
    // The receiver refused it as it is: an operator has to look.
    log_->Error("forwarding.rejected", fields);
  }
  if (!retried.ok()) {
    log_->Error("forwarding.store_error", {{"op", "RetryOutboxLater"},
                                           {"id", id},
                                           {"application", entry.application_id},
                                           {"error", retried.ToString()}});
    return {false};
  }
  return {true, next};
}

}  // namespace tongban::node
