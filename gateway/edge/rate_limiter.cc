#include "rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/synchronization/mutex.h"

namespace tongban::edge {
namespace {

constexpr size_t kMaxShards = 16;

// Fewer shards than 16 only when fewer keys may be tracked, so that every
// shard's share is at least one key and the shares add up to at most the bound.
size_t ShardCount(size_t max_tracked_keys) {
  return std::clamp<size_t>(max_tracked_keys, 1, kMaxShards);
}

}  // namespace

// Each bucket is kept as the one instant that describes it (GCRA, the
// "virtual scheduling" form of a token bucket): `full_at`, when it will be
// full again. One call costs `interval_` (1 / per_second); a call at `now` is
// allowed when full_at - now <= (burst - 1) * interval, i.e. when at least one
// token is left. Durations are exact integers, so a caller who waits exactly
// retry_after is admitted, which floating-point token counts do not promise.
struct RateLimiter::Shard {
  absl::Mutex mu;
  absl::flat_hash_map<std::string, absl::Time> full_at ABSL_GUARDED_BY(mu);
};

namespace {

struct Limits {
  absl::Duration interval;   // time to earn one token
  absl::Duration tolerance;  // (burst - 1) * interval: how far full_at may run ahead
};

Limits LimitsOf(const RateLimiter::Options& options) {
  // Defensive clamps for a bad configuration (the gateway config validates
  // these): at least one call at once, and some refill, however slow.
  double per_second = options.per_second > 1e-6 ? options.per_second : 1e-6;
  int burst = std::max(options.burst, 1);
  absl::Duration interval = absl::Seconds(1.0 / per_second);
  return {interval, interval * (burst - 1)};
}

}  // namespace

RateLimiter::RateLimiter(const Clock* clock, Options options)
    : clock_(clock), options_(options), shards_(new Shard[ShardCount(options.max_tracked_keys)]) {}

RateLimiter::~RateLimiter() = default;

RateLimiter::Decision RateLimiter::Admit(absl::string_view key) {
  const Limits limits = LimitsOf(options_);
  const size_t shard_count = ShardCount(options_.max_tracked_keys);
  // The shard from the hash's high bits: flat_hash_map uses the low ones for
  // its control bytes, which would all be alike within a shard otherwise.
  const size_t hash = absl::Hash<absl::string_view>{}(key);
  Shard& shard = shards_[(hash >> 32) % shard_count];
  const size_t share = std::max<size_t>(options_.max_tracked_keys / shard_count, 1);

  absl::MutexLock lock(&shard.mu);
  const absl::Time now = clock_->Now();
  auto it = shard.full_at.find(key);
  if (it == shard.full_at.end()) {
    if (shard.full_at.size() >= share) {
      // Make room, and some slack so that the next share/8 new keys do not
      // each pay for a pass over the shard.
      //
      // Which buckets go: forgetting a bucket gives its key a fresh, full one,
      // i.e. hands out (full_at - now) / interval tokens. So drop the buckets
      // that hand out least: the full ones (idle, nothing handed out) first,
      // then those that would be full soonest. Plain least-recently-used would
      // let a refused caller pause for a moment while flooding new keys (many
      // client addresses are cheap: one IPv6 /64) and come back with a full
      // bucket. In this order its bucket, still far from full, outlives every
      // key used once (full after one interval), so flooding buys it at most
      // about one token per pass over a whole shard. The price: a light but
      // steady caller may be dropped before a heavy one that went quiet; it
      // only gets back the little it had spent.
      const size_t target = share - std::max<size_t>(share / 8, 1);
      for (auto i = shard.full_at.begin(); i != shard.full_at.end();) {
        if (i->second <= now) {
          shard.full_at.erase(i++);
        } else {
          ++i;
        }
      }
      if (shard.full_at.size() > target) {
        std::vector<std::pair<absl::Time, const std::string*>> by_full_at;
        by_full_at.reserve(shard.full_at.size());
        for (const auto& [k, t] : shard.full_at) by_full_at.emplace_back(t, &k);
        const size_t drop = shard.full_at.size() - target;
        std::nth_element(by_full_at.begin(), by_full_at.begin() + (drop - 1), by_full_at.end());
        // Copy the keys first: erasing invalidates the pointers into the map.
        std::vector<std::string> victims;
        victims.reserve(drop);
        for (size_t i = 0; i < drop; ++i) victims.push_back(*by_full_at[i].second);
        for (const std::string& victim : victims) shard.full_at.erase(victim);
      }
    }
    it = shard.full_at.emplace(std::string(key), now).first;
  }

  // A full bucket's full_at lies in the past; it cannot bank more than burst.
  const absl::Time full_at = std::max(it->second, now);
  const absl::Duration ahead = full_at - now;
  if (ahead > limits.tolerance) {
    return Decision{false, ahead - limits.tolerance};
  }
  it->second = full_at + limits.interval;
  return Decision{true, absl::ZeroDuration()};
}

size_t RateLimiter::tracked_keys() const {
  size_t total = 0;
  for (size_t i = 0; i < ShardCount(options_.max_tracked_keys); ++i) {
    absl::MutexLock lock(&shards_[i].mu);
    total += shards_[i].full_at.size();
  }
  return total;
}

}  // namespace tongban::edge
