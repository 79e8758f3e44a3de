// Per-key token buckets (key = citizen id, or client address for anonymous
// calls): `burst` calls at once, then `per_second` sustained. Memory is
// bounded: idle (refilled) buckets are dropped first when too many keys are
// tracked. Thread-safe, sharded so concurrent callers rarely contend.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "clock.h"

namespace tongban::edge {

class RateLimiter {
 public:
  struct Options {
    double per_second = 10;
    int burst = 20;
    size_t max_tracked_keys = 100000;
  };
  struct Decision {
    bool allowed = true;
    absl::Duration retry_after;  // when refused: until one call is allowed again
  };

  RateLimiter(const Clock* clock, Options options);
  ~RateLimiter();

  Decision Admit(absl::string_view key);
  size_t tracked_keys() const;

 private:
  struct Shard;
  const Clock* const clock_;
  const Options options_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace tongban::edge
