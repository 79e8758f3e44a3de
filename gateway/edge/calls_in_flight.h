// Calls in flight per client address, across both faces of the public edge:
// connection limits alone let one address hold connections × streams calls
// (64 × 32 on gRPC, 64 × 100 on HTTP/2), more than there are threads to
// answer them. A call over the limit is refused at once (429 /
// RESOURCE_EXHAUSTED with Retry-After) instead of waiting for a thread.
#pragma once

#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/support/status.h"

namespace tongban::edge {

class CallsInFlight {
 public:
  // `per_address` ≥ 1.
  explicit CallsInFlight(int per_address) : per_address_(per_address) {}
  CallsInFlight(const CallsInFlight&) = delete;
  CallsInFlight& operator=(const CallsInFlight&) = delete;

  // One call's place; given back when destroyed.
  class Slot {
   public:
    Slot(Slot&& other) noexcept : owner_(other.owner_), address_(std::move(other.address_)) {
      other.owner_ = nullptr;
    }
    Slot& operator=(Slot&& other) noexcept {
      if (this != &other) {
        if (owner_ != nullptr) owner_->Release(address_);
        owner_ = other.owner_;
        address_ = std::move(other.address_);
        other.owner_ = nullptr;
      }
      return *this;
    }
    ~Slot() {
      if (owner_ != nullptr) owner_->Release(address_);
    }

   private:
    friend class CallsInFlight;
    Slot(CallsInFlight* owner, std::string address)
        : owner_(owner), address_(std::move(address)) {}
    CallsInFlight* owner_;
    std::string address_;
  };

  // A place for a call from `address`, or nothing when it already has
  // per_address() calls in flight.
  std::optional<Slot> TryAcquire(const std::string& address);
  int per_address() const { return per_address_; }
  // Calls in flight from `address` now (tests, metrics).
  int InFlight(const std::string& address) const;

 private:
  void Release(const std::string& address);
  const int per_address_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, int> in_flight_;  // guarded by mu_; no zero entries
};

// RESOURCE_EXHAUSTED for a call over the limit, naming the address and it.
grpc::Status TooManyCallsInFlight(const std::string& address, int per_address);

}  // namespace tongban::edge
