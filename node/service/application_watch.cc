#include "service/application_watch.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "grpc_status.h"

namespace tongban::node {
namespace {

google::protobuf::Timestamp ToProto(absl::Time t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

class RefusedWatch final : public grpc::ServerWriteReactor<v1::WatchApplicationResponse> {
 public:
  explicit RefusedWatch(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<v1::WatchApplicationResponse>* ApplicationWatch::Refuse(
    grpc::Status status) {
  return new RefusedWatch(std::move(status));
}

ApplicationWatch::ApplicationWatch(ApplicationStore* store, ApplicationWatchHub* hub,
                                   const Clock* clock, NodeMetrics* metrics, Params params)
    : store_(store),
      hub_(hub),
      clock_(clock),
      metrics_(metrics),
      p_(std::move(params)),
      end_at_(clock->Now() + p_.max_stream) {
  absl::MutexLock lock(&mu_);
  last_sent_ = last_queued_ = p_.after_sequence;
  const absl::Time now = clock_->Now();
  next_heartbeat_ = now + p_.heartbeat;
  next_poll_ = now + p_.poll;
}

grpc::ServerWriteReactor<v1::WatchApplicationResponse>* ApplicationWatch::Start(
    ApplicationStore* store, ApplicationWatchHub* hub, const Clock* clock, NodeMetrics* metrics,
    Params params) {
  auto* watch = new ApplicationWatch(store, hub, clock, metrics, std::move(params));
  watch->subscribed_ = true;
  // From here on the hub may run it (operations started before gRPC binds
  // the reactor are held by gRPC until then).
  if (!hub->Subscribe(watch->p_.application_id, watch)) {
    watch->subscribed_ = false;
    {
      absl::MutexLock lock(&watch->mu_);
      watch->finished_ = true;
    }
    if (metrics != nullptr) metrics->WatchRefused();
    watch->Finish(
        grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                     absl::StrCat("this node serves watch.max_watches = ", hub->max_watches(),
                                  " watch streams already: retry later")));
    return watch;
  }
  if (metrics != nullptr) metrics->WatchOpened();
  return watch;
}

bool ApplicationWatch::ReadLocked(grpc::Status* end) {
  absl::StatusOr<v1::Application> app =
      store_->GetApplication(p_.application_id, /*with_events=*/true);
  if (!app.ok()) {
    // A store that does not answer now may answer at the next tick; an
    // application that vanished (a restore from an old backup) ends it.
    if (absl::IsNotFound(app.status())) {
      *end = ToGrpcStatus(app.status());
      return false;
    }
    return true;
  }
  state_ = app->state();
  const int64_t size = app->events_size();
  for (int64_t seq = last_queued_ + 1; seq <= size; ++seq) {
    pending_.emplace_back(seq, std::move(*app->mutable_events(static_cast<int>(seq - 1))));
  }
  if (size > last_queued_) last_queued_ = size;
  return true;
}

void ApplicationWatch::PrepareEventLocked(absl::Time now) {
  out_.Clear();
  out_.set_sequence(pending_.front().first);
  out_.mutable_event()->Swap(&pending_.front().second);
  pending_.pop_front();
  out_.set_state(state_);
  *out_.mutable_sent_at() = ToProto(now);
  last_sent_ = out_.sequence();
  next_heartbeat_ = now + p_.heartbeat;
  write_in_flight_ = true;
  if (metrics_ != nullptr) metrics_->WatchMessageSent("event");
}

void ApplicationWatch::PrepareHeartbeatLocked(absl::Time now) {
  out_.Clear();
  out_.set_sequence(last_sent_);
  out_.set_heartbeat(true);
  out_.set_state(state_);
  *out_.mutable_sent_at() = ToProto(now);
  next_heartbeat_ = now + p_.heartbeat;
  write_in_flight_ = true;
  if (metrics_ != nullptr) metrics_->WatchMessageSent("heartbeat");
}

bool ApplicationWatch::FinishingLocked() {
  if (finished_) return false;
  finished_ = true;
  pending_.clear();
  return true;
}

void ApplicationWatch::Run(absl::Time now, bool changed) {
  enum class Act { kNone, kWrite, kFinish } act = Act::kNone;
  grpc::Status end = grpc::Status::OK;
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    if (write_in_flight_) {
      if (changed) reread_ = true;
      return;
    }
    const bool heartbeat_due = now >= next_heartbeat_;
    // Heartbeats re-read too: the store is the truth, whatever woke us.
    if (pending_.empty() && (changed || reread_ || now >= next_poll_ || heartbeat_due)) {
      reread_ = false;
      if (p_.poll != absl::InfiniteDuration()) next_poll_ = now + p_.poll;
      if (!ReadLocked(&end)) {
        if (FinishingLocked()) act = Act::kFinish;
      }
    }
    if (act == Act::kNone) {
      if (!pending_.empty()) {
        PrepareEventLocked(now);
        act = Act::kWrite;
      } else if (now >= end_at_) {
        if (FinishingLocked()) act = Act::kFinish;  // OK: the caller resumes
      } else if (heartbeat_due) {
        PrepareHeartbeatLocked(now);
        act = Act::kWrite;
      }
    }
  }
  if (act == Act::kWrite) StartWrite(&out_);
  if (act == Act::kFinish) Finish(end);
}

void ApplicationWatch::OnWriteDone(bool ok) {
  bool write = false;
  bool finish = false;
  bool wake = false;
  {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (!ok) {
      // The client is gone (or the call was cancelled): nothing more to send.
      finish = FinishingLocked();
    } else if (finished_) {
      // Finish was called while this write was in flight.
    } else if (!pending_.empty()) {
      PrepareEventLocked(clock_->Now());
      write = true;
    } else if (reread_) {
      wake = true;
    }
  }
  if (write) StartWrite(&out_);
  if (finish) Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the watch stream was closed"));
  if (wake) hub_->Wake(this);
}

void ApplicationWatch::OnCancel() {
  bool finish = false;
  {
    absl::MutexLock lock(&mu_);
    finish = FinishingLocked();
  }
  if (finish) Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the watch stream was cancelled"));
}

void ApplicationWatch::OnDone() {
  hub_->Unsubscribe(this);
  if (subscribed_ && metrics_ != nullptr) metrics_->WatchClosed();
  delete this;
}

}  // namespace tongban::node
