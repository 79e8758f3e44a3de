#include "service/application_watch_hub.h"

#include <vector>

namespace tongban::node {

ApplicationWatchHub::ApplicationWatchHub(const Clock* clock, int max_watches, absl::Duration tick)
    : clock_(clock), max_watches_(max_watches), tick_(tick) {
  absl::MutexLock lock(&mu_);
  thread_ = std::thread([this] { Loop(); });
  thread_id_ = thread_.get_id();
}

ApplicationWatchHub::~ApplicationWatchHub() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

bool ApplicationWatchHub::Subscribe(const std::string& application_id, WatchSubscriber* s) {
  absl::MutexLock lock(&mu_);
  if (static_cast<int>(entries_.size()) >= max_watches_) return false;
  Entry& e = entries_[s];
  e.application_id = application_id;
  e.changed = true;
  by_application_[application_id].insert(s);
  QueueLocked(s, e);
  return true;
}

void ApplicationWatchHub::Unsubscribe(WatchSubscriber* s) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(s);
  if (it != entries_.end()) {
    auto subs = by_application_.find(it->second.application_id);
    if (subs != by_application_.end()) {
      subs->second.erase(s);
      if (subs->second.empty()) by_application_.erase(subs);
    }
    entries_.erase(it);
  }
  // A queued pointer is skipped by the loop (no entry any more).
  if (std::this_thread::get_id() == thread_id_) return;
  struct Wait {
    WatchSubscriber* const* running;
    const WatchSubscriber* s;
  } wait{&running_, s};
  mu_.Await(absl::Condition(
      +[](Wait* w) { return *w->running != w->s; }, &wait));
}

void ApplicationWatchHub::Notify(const std::string& application_id) {
  absl::MutexLock lock(&mu_);
  auto subs = by_application_.find(application_id);
  if (subs == by_application_.end()) return;
  for (WatchSubscriber* s : subs->second) {
    Entry& e = entries_[s];
    e.changed = true;
    QueueLocked(s, e);
  }
}

void ApplicationWatchHub::Wake(WatchSubscriber* s) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(s);
  if (it != entries_.end()) QueueLocked(s, it->second);
}

int ApplicationWatchHub::open() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(entries_.size());
}

void ApplicationWatchHub::QueueLocked(WatchSubscriber* s, Entry& e) {
  if (e.queued) return;
  e.queued = true;
  ready_.push_back(s);
}

void ApplicationWatchHub::Loop() {
  absl::MutexLock lock(&mu_);
  absl::Time next_tick = clock_->Now() + tick_;
  for (;;) {
    // Real time bounds the wait (a fake clock in tests does not move by
    // itself); the tick is due by the injected clock.
    mu_.AwaitWithTimeout(
        absl::Condition(
            +[](ApplicationWatchHub* h) { return h->stop_ || !h->ready_.empty(); }, this),
        tick_);
    if (stop_) return;
    const absl::Time now = clock_->Now();
    if (now >= next_tick) {
      next_tick = now + tick_;
      for (auto& [s, e] : entries_) QueueLocked(s, e);
    }
    while (!ready_.empty() && !stop_) {
      WatchSubscriber* s = ready_.front();
      ready_.pop_front();
      auto it = entries_.find(s);
      if (it == entries_.end()) continue;  // unsubscribed meanwhile
      it->second.queued = false;
      const bool changed = it->second.changed;
      it->second.changed = false;
      running_ = s;
      mu_.Unlock();
      s->Run(clock_->Now(), changed);
      mu_.Lock();
      running_ = nullptr;
    }
  }
}

}  // namespace tongban::node
