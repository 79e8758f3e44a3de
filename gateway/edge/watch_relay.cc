#include "watch_relay.h"

#include "absl/strings/str_cat.h"
#include "grpc_server_metrics.h"

namespace tongban::edge {
namespace {

constexpr char kService[] = "tongban.v1.ApplicationService";
constexpr char kMethod[] = "WatchApplication";

}  // namespace

grpc::Status WatchEndStatus(const grpc::Status& node_status, const std::string& application_id) {
  switch (node_status.error_code()) {
    case grpc::StatusCode::DEADLINE_EXCEEDED:  // the stream's lifetime, set by this gateway
      return grpc::Status::OK;
    case grpc::StatusCode::NOT_FOUND:
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("application ", application_id,
                                       " not found (or not yours): check application_id"));
    default:
      return node_status;
  }
}

WatchRelay::WatchRelay(gateway::NodeCaller nodes, WatchRelayParams params, WatchLimits::Slot slot,
                       WatchSink* sink)
    : nodes_(nodes), p_(std::move(params)), slot_(std::move(slot)), sink_(sink) {}

absl::StatusOr<std::shared_ptr<WatchRelay>> WatchRelay::Start(gateway::NodeCaller nodes,
                                                              WatchRelayParams params,
                                                              WatchLimits::Slot slot,
                                                              WatchSink* sink) {
  const std::string province = params.accepting_province;
  absl::Status admitted = nodes.pool->Admit(province);
  std::shared_ptr<const gateway::NodeStubs> stubs = nodes.pool->Get(province);
  if (!admitted.ok() || stubs == nullptr) {
    return absl::UnavailableError(absl::StrCat("province ", province, ": ", admitted.message()));
  }
  auto relay = std::make_shared<WatchRelay>(nodes, std::move(params), std::move(slot), sink);
  WatchRelay* r = relay.get();
  r->self_ = relay;
  r->stubs_ = std::move(stubs);
  r->started_ = absl::Now();
  r->ctx_.set_deadline(absl::ToChronoTime(r->started_ + r->p_.max_stream));
  r->ctx_.AddMetadata("x-tongban-citizen-id", r->p_.citizen_id);
  if (!r->p_.request_id.empty()) r->ctx_.AddMetadata("x-request-id", r->p_.request_id);
  r->request_.set_application_id(r->p_.application_id);
  r->request_.set_after_sequence(r->p_.after_sequence);
  r->request_.set_heartbeat_seconds(r->p_.heartbeat_seconds);
  nodes.metrics->ClientStarted(kService, kMethod, province);
  r->stubs_->watches->async()->WatchApplication(&r->ctx_, &r->request_, r);
  // Reads are started from outside the reactions (Next), so a hold keeps
  // the call from finishing until no more will be.
  r->AddHold();
  {
    absl::MutexLock lock(&r->mu_);
    r->read_outstanding_ = true;
  }
  r->StartRead(&r->in_);
  r->StartCall();
  r->slot_.OnDrain([weak = std::weak_ptr<WatchRelay>(relay)] {
    if (std::shared_ptr<WatchRelay> live = weak.lock()) live->Drain();
  });
  return relay;
}

bool WatchRelay::EndReadsLocked() {
  if (reads_ended_) return false;
  reads_ended_ = true;
  return true;
}

void WatchRelay::Next() {
  enum class Act { kNothing, kRead, kRemoveHold } act = Act::kNothing;
  {
    absl::MutexLock lock(&mu_);
    delivery_pending_ = false;
    if (cancelled_) {
      if (EndReadsLocked()) act = Act::kRemoveHold;
    } else if (!reads_ended_) {
      read_outstanding_ = true;
      act = Act::kRead;
    }
  }
  if (act == Act::kRemoveHold) RemoveHold();
  if (act == Act::kRead) StartRead(&in_);
}

void WatchRelay::WriteFailed() {
  ctx_.TryCancel();
  bool remove_hold = false;
  {
    absl::MutexLock lock(&mu_);
    delivery_pending_ = false;
    cancelled_ = true;
    remove_hold = EndReadsLocked();
  }
  if (remove_hold) RemoveHold();
}

void WatchRelay::Cancel() {
  ctx_.TryCancel();
  bool remove_hold = false;
  {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    // A read in flight ends by itself (not ok); a delivery in flight ends
    // when the sink answers it.
    if (!read_outstanding_ && !delivery_pending_) remove_hold = EndReadsLocked();
  }
  if (remove_hold) RemoveHold();
}

void WatchRelay::Drain() {
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
  }
  Cancel();
}

void WatchRelay::OnReadDone(bool ok) {
  bool remove_hold = false;
  {
    absl::MutexLock lock(&mu_);
    read_outstanding_ = false;
    if (!ok) {
      remove_hold = EndReadsLocked();
    } else {
      delivery_pending_ = true;
    }
  }
  if (remove_hold) RemoveHold();
  if (!ok) return;
  v1::WatchMyApplicationResponse m;
  m.set_sequence(in_.sequence());
  if (in_.has_event()) m.mutable_event()->Swap(in_.mutable_event());
  m.set_state(in_.state());
  m.set_heartbeat(in_.heartbeat());
  if (in_.has_sent_at()) *m.mutable_sent_at() = in_.sent_at();
  sink_->Deliver(this, m);
}

void WatchRelay::OnDone(const grpc::Status& status) {
  const std::string& province = p_.accepting_province;
  nodes_.metrics->ClientHandled(kService, kMethod, province, status.error_code(),
                                absl::ToDoubleSeconds(absl::Now() - started_));
  // Only a transport failure says something about the node's health: the
  // end of the stream's lifetime (DEADLINE_EXCEEDED) and a client's
  // cancellation do not.
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    nodes_.pool->Report(province, status.error_code(), status.error_message());
  }
  bool draining = false;
  {
    absl::MutexLock lock(&mu_);
    draining = draining_;
  }
  sink_->End(draining && status.error_code() == grpc::StatusCode::CANCELLED
                 ? grpc::Status::OK
                 : WatchEndStatus(status, p_.application_id));
  // gRPC is done with the relay; the last reference may go with this.
  std::shared_ptr<WatchRelay> self = std::move(self_);
}

}  // namespace tongban::edge
