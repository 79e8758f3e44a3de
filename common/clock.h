// Clock: the one source of "now" for code that stamps or compares times, so
// tests can drive time with FakeClock instead of waiting for the real one.
#pragma once

#include <atomic>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tongban {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

// The system clock shifted by a fixed offset: a test-only way to run a real
// process "later" (config time_limits.test_only_clock_offset_seconds).
class OffsetClock final : public Clock {
 public:
  explicit OffsetClock(absl::Duration offset) : offset_(offset) {}
  absl::Time Now() const override { return absl::Now() + offset_; }

 private:
  const absl::Duration offset_;
};

// A clock that moves only when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start) : now_(start) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_;  // guarded by mu_
};

}  // namespace tongban
