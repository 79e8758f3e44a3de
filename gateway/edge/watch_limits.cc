#include "watch_limits.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tongban::edge {

WatchLimits::WatchLimits(int per_citizen, int total, prometheus::Registry* registry)
    : per_citizen_(per_citizen), total_(total) {
  if (registry == nullptr) return;
  open_gauge_ = &prometheus::BuildGauge()
                     .Name("tongban_edge_watches_open")
                     .Help(
                         "WatchMyApplication streams (gRPC and Server-Sent Events) open on this "
                         "gateway replica.")
                     .Register(*registry)
                     .Add({});
  auto& refused = prometheus::BuildCounter()
                      .Name("tongban_edge_watch_refused_total")
                      .Help(
                          "Watch streams refused over a limit: per_citizen "
                          "(public_edge.max_watches_per_citizen) or total "
                          "(public_edge.max_watches).")
                      .Register(*registry);
  refused_per_citizen_ = &refused.Add({{"limit", "per_citizen"}});
  refused_total_ = &refused.Add({{"limit", "total"}});
  messages_ = &prometheus::BuildCounter()
                   .Name("tongban_edge_watch_messages_sent_total")
                   .Help(
                       "Messages sent on watch streams, by face (grpc, sse) and kind (event, "
                       "heartbeat).")
                   .Register(*registry);
  for (const char* face : {"grpc", "sse"}) {
    for (const char* kind : {"event", "heartbeat"})
      messages_->Add({{"face", face}, {"kind", kind}});
  }
}

WatchLimits::Slot& WatchLimits::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    if (owner_ != nullptr) owner_->Release(citizen_, id_);
    owner_ = other.owner_;
    citizen_ = std::move(other.citizen_);
    id_ = other.id_;
    other.owner_ = nullptr;
  }
  return *this;
}

WatchLimits::Slot::~Slot() {
  if (owner_ != nullptr) owner_->Release(citizen_, id_);
}

void WatchLimits::Slot::OnDrain(std::function<void()> drain) {
  if (owner_ == nullptr) return;
  bool now = false;
  {
    absl::MutexLock lock(&owner_->mu_);
    if (owner_->draining_) {
      now = true;
    } else {
      owner_->drains_[id_] = drain;
    }
  }
  if (now) drain();
}

void WatchLimits::DrainAll() {
  std::vector<std::function<void()>> drains;
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    for (auto& [id, drain] : drains_) drains.push_back(std::move(drain));
    drains_.clear();
  }
  for (auto& drain : drains) drain();
}

absl::StatusOr<WatchLimits::Slot> WatchLimits::Acquire(const std::string& citizen) {
  absl::MutexLock lock(&mu_);
  if (draining_) {
    return absl::UnavailableError(
        "this gateway replica is shutting down: retry (another replica will serve the watch)");
  }
  if (open_ >= total_) {
    if (refused_total_ != nullptr) refused_total_->Increment();
    return absl::ResourceExhaustedError(
        absl::StrCat("this gateway serves public_edge.max_watches = ", total_,
                     " watch streams already: retry later (another replica may have room)"));
  }
  auto it = by_citizen_.find(citizen);
  if (it != by_citizen_.end() && it->second >= per_citizen_) {
    if (refused_per_citizen_ != nullptr) refused_per_citizen_->Increment();
    return absl::ResourceExhaustedError(
        absl::StrCat("this citizen has public_edge.max_watches_per_citizen = ", per_citizen_,
                     " watch streams open already: close one before opening another"));
  }
  ++by_citizen_[citizen];
  ++open_;
  if (open_gauge_ != nullptr) open_gauge_->Set(open_);
  return Slot(this, citizen, ++next_id_);
}

void WatchLimits::Release(const std::string& citizen, uint64_t id) {
  absl::MutexLock lock(&mu_);
  drains_.erase(id);
  auto it = by_citizen_.find(citizen);
  if (it != by_citizen_.end() && --it->second == 0) by_citizen_.erase(it);
  --open_;
  if (open_gauge_ != nullptr) open_gauge_->Set(open_);
}

void WatchLimits::MessageSent(absl::string_view face, bool heartbeat) {
  if (messages_ == nullptr) return;
  messages_->Add({{"face", std::string(face)}, {"kind", heartbeat ? "heartbeat" : "event"}})
      .Increment();
}

int WatchLimits::open() const {
  absl::MutexLock lock(&mu_);
  return open_;
}

void WatchLimits::WaitAllClosed(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(
                           +[](const int* open) { return *open == 0; }, &open_),
                       timeout);
}

int WatchLimits::open_for(const std::string& citizen) const {
  absl::MutexLock lock(&mu_);
  auto it = by_citizen_.find(citizen);
  return it == by_citizen_.end() ? 0 : it->second;
}

}  // namespace tongban::edge
