// WatchLimits: how many WatchMyApplication streams (gRPC and Server-Sent
// Events together) one gateway replica holds open, per citizen and in all,
// and the metrics of those streams. A stream over a limit is refused at once
// with RESOURCE_EXHAUSTED (429) naming the limit; a watch holds its Slot
// until it ends.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace tongban::edge {

class WatchLimits final {
 public:
  // `per_citizen`, `total` ≥ 1. `registry` may be null (no metrics):
  // tongban_edge_watches_open, tongban_edge_watch_refused_total{limit} and
  // tongban_edge_watch_messages_sent_total{face,kind}.
  WatchLimits(int per_citizen, int total, prometheus::Registry* registry);
  WatchLimits(const WatchLimits&) = delete;
  WatchLimits& operator=(const WatchLimits&) = delete;

  // One watch's place; given back when destroyed.
  class Slot {
   public:
    Slot(Slot&& other) noexcept
        : owner_(other.owner_), citizen_(std::move(other.citizen_)), id_(other.id_) {
      other.owner_ = nullptr;
    }
    Slot& operator=(Slot&& other) noexcept;
    ~Slot();
    // What ends this watch when the gateway drains (DrainAll); runs at most
    // once, on the draining thread, and must not block.
    void OnDrain(std::function<void()> drain);

   private:
    friend class WatchLimits;
    Slot(WatchLimits* owner, std::string citizen, uint64_t id)
        : owner_(owner), citizen_(std::move(citizen)), id_(id) {}
    WatchLimits* owner_;
    std::string citizen_;
    uint64_t id_ = 0;
  };

  // A place for a watch of `citizen`, or RESOURCE_EXHAUSTED naming the
  // limit reached (public_edge.max_watches_per_citizen or max_watches).
  absl::StatusOr<Slot> Acquire(const std::string& citizen);

  // One message sent to a client: face grpc|sse, heartbeat or event.
  void MessageSent(absl::string_view face, bool heartbeat);

  int open() const;
  // The gateway drains: ends every open watch (each ends with OK, and the
  // client resumes at another replica) and refuses new ones.
  void DrainAll();
  // Waits until no watch holds a place (at shutdown), at most `timeout`.
  void WaitAllClosed(absl::Duration timeout) const;
  int open_for(const std::string& citizen) const;
  int per_citizen() const { return per_citizen_; }
  int total() const { return total_; }

 private:
  void Release(const std::string& citizen, uint64_t id);

  const int per_citizen_;
  const int total_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, int> by_citizen_;  // guarded by mu_; no zero entries
  int open_ = 0;                                      // guarded by mu_
  uint64_t next_id_ = 0;                              // guarded by mu_
  bool draining_ = false;                             // guarded by mu_
  std::map<uint64_t, std::function<void()>> drains_;  // guarded by mu_; by slot id
  prometheus::Gauge* open_gauge_ = nullptr;
  prometheus::Counter* refused_per_citizen_ = nullptr;
  prometheus::Counter* refused_total_ = nullptr;
  prometheus::Family<prometheus::Counter>* messages_ = nullptr;
};

}  // namespace tongban::edge
