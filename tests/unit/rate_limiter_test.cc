#include "rate_limiter.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace tongban::edge {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1714550400);  // 2024-05-01T08:00:00Z

RateLimiter::Options Opts(double per_second, int burst, size_t max_tracked_keys = 100000) {
  RateLimiter::Options options;
  options.per_second = per_second;
  options.burst = burst;
  options.max_tracked_keys = max_tracked_keys;
  return options;
}

// How many calls in a row `key` gets now.
int AdmittedInARow(RateLimiter& limiter, absl::string_view key, int at_most = 1000) {
  int n = 0;
  while (n < at_most && limiter.Admit(key).allowed) ++n;
  return n;
}

TEST(RateLimiter, BurstThenRefusalWithRetryAfter) {
  FakeClock clock(kStart);
  RateLimiter limiter(&clock, Opts(/*per_second=*/2, /*burst=*/5));
  for (int i = 0; i < 5; ++i) {
    RateLimiter::Decision d = limiter.Admit("citizen-1");
    EXPECT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.retry_after, absl::ZeroDuration());
  }
  RateLimiter::Decision refused = limiter.Admit("citizen-1");
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, absl::Milliseconds(500));
  // Refused calls cost nothing: the wait does not grow.
  EXPECT_EQ(limiter.Admit("citizen-1").retry_after, absl::Milliseconds(500));
  clock.Advance(absl::Milliseconds(200));
  EXPECT_EQ(limiter.Admit("citizen-1").retry_after, absl::Milliseconds(300));
}

TEST(RateLimiter, WaitingExactlyRetryAfterIsEnough) {
  FakeClock clock(kStart);
  RateLimiter limiter(&clock, Opts(/*per_second=*/3, /*burst=*/2));
  ASSERT_EQ(AdmittedInARow(limiter, "k"), 2);
  for (int round = 0; round < 10; ++round) {
    RateLimiter::Decision refused = limiter.Admit("k");
    ASSERT_FALSE(refused.allowed);
    EXPECT_GT(refused.retry_after, absl::Milliseconds(333));
    EXPECT_LT(refused.retry_after, absl::Milliseconds(334));
    clock.Advance(refused.retry_after - absl::Nanoseconds(1));
    EXPECT_FALSE(limiter.Admit("k").allowed) << round;
    clock.Advance(absl::Nanoseconds(1));
    EXPECT_TRUE(limiter.Admit("k").allowed) << round;
  }
}

TEST(RateLimiter, RefillsOverTimeUpToBurst) {
  FakeClock clock(kStart);
  RateLimiter limiter(&clock, Opts(/*per_second=*/1, /*burst=*/3));
  ASSERT_EQ(AdmittedInARow(limiter, "k"), 3);
  clock.Advance(absl::Milliseconds(500));
  EXPECT_EQ(AdmittedInARow(limiter, "k"), 0);
  clock.Advance(absl::Milliseconds(500));
  EXPECT_EQ(AdmittedInARow(limiter, "k"), 1);
  clock.Advance(absl::Seconds(2));
  EXPECT_EQ(AdmittedInARow(limiter, "k"), 2);
  // A long quiet spell banks no more than burst.
  clock.Advance(absl::Hours(1));
  EXPECT_EQ(AdmittedInARow(limiter, "k"), 3);
  EXPECT_EQ(limiter.Admit("k").retry_after, absl::Seconds(1));
}

TEST(RateLimiter, SustainedRateIsPerSecond) {
  FakeClock clock(kStart);
  RateLimiter limiter(&clock, Opts(/*per_second=*/10, /*burst=*/20));
  int admitted = 0;
  for (int ms = 0; ms < 60000; ms += 10) {  // one call every 10 ms for a minute
    admitted += limiter.Admit("k").allowed ? 1 : 0;
    clock.Advance(absl::Milliseconds(10));
  }
  EXPECT_EQ(admitted, 20 + 10 * 60 - 1);  // burst + refill over 59.99 s
}

TEST(RateLimiter, KeysAreIndependent) {
  FakeClock clock(kStart);
  RateLimiter limiter(&clock, Opts(/*per_second=*/1, /*burst=*/4));
  EXPECT_EQ(AdmittedInARow(limiter, "citizen-a"), 4);
  EXPECT_FALSE(limiter.Admit("citizen-a").allowed);
  EXPECT_EQ(AdmittedInARow(limiter, "citizen-b"), 4);
  EXPECT_EQ(AdmittedInARow(limiter, "203.0.113.7"), 4);
  EXPECT_EQ(limiter.tracked_keys(), 3u);
}

TEST(RateLimiter, FractionalRate) {
  FakeClock clock(kStart);
  RateLimiter limiter(&clock, Opts(/*per_second=*/0.5, /*burst=*/1));
  EXPECT_TRUE(limiter.Admit("k").allowed);
  RateLimiter::Decision refused = limiter.Admit("k");
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, absl::Seconds(2));
  clock.Advance(absl::Seconds(1));
  refused = limiter.Admit("k");
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, absl::Seconds(1));
  clock.Advance(absl::Seconds(1));
  EXPECT_TRUE(limiter.Admit("k").allowed);
  EXPECT_FALSE(limiter.Admit("k").allowed);
}

TEST(RateLimiter, BadOptionsAreClamped) {
  FakeClock clock(kStart);
  RateLimiter no_burst(&clock, Opts(/*per_second=*/1, /*burst=*/0));
  EXPECT_EQ(AdmittedInARow(no_burst, "k"), 1);
  RateLimiter no_rate(&clock, Opts(/*per_second=*/0, /*burst=*/2));
  EXPECT_EQ(AdmittedInARow(no_rate, "k"), 2);
  RateLimiter::Decision refused = no_rate.Admit("k");
  EXPECT_FALSE(refused.allowed);
  EXPECT_GT(refused.retry_after, absl::Hours(24));
}

TEST(RateLimiter, TrackedKeysStayWithinTheBound) {
  FakeClock clock(kStart);
  for (size_t bound : {size_t{1}, size_t{3}, size_t{16}, size_t{100}, size_t{1000}}) {
    RateLimiter limiter(&clock, Opts(/*per_second=*/1, /*burst=*/5, bound));
    size_t most = 0;
    for (int i = 0; i < 5000; ++i) {
      ASSERT_TRUE(limiter.Admit(absl::StrCat("client-", i)).allowed);
      size_t tracked = limiter.tracked_keys();
      ASSERT_LE(tracked, bound) << "bound " << bound << " after " << i;
      most = std::max(most, tracked);
    }
    // The bound is used, not just respected (shards fill unevenly).
    EXPECT_GE(most, bound / 2) << bound;
  }
}

TEST(RateLimiter, TrackedKeysSumsShards) {
  FakeClock clock(kStart);
  RateLimiter limiter(&clock, Opts(/*per_second=*/1, /*burst=*/5));
  for (int i = 0; i < 1000; ++i) limiter.Admit(absl::StrCat("citizen-", i));
  EXPECT_EQ(limiter.tracked_keys(), 1000u);
  for (int i = 0; i < 1000; ++i) limiter.Admit(absl::StrCat("citizen-", i));
  EXPECT_EQ(limiter.tracked_keys(), 1000u);
}

TEST(RateLimiter, IdleBucketsGoBeforeBusyOnes) {
  FakeClock clock(kStart);
  // 16 shards of 16 keys.
  RateLimiter limiter(&clock, Opts(/*per_second=*/1, /*burst=*/5, /*max_tracked_keys=*/256));
  // Busy keys spend most of their burst first ...
  for (int i = 0; i < 4; ++i) ASSERT_EQ(AdmittedInARow(limiter, absl::StrCat("busy-", i), 4), 4);
  // ... other keys are used later, once, and are full again (idle) by the time
  // new keys crowd in: least-recently-used would drop the busy ones first.
  clock.Advance(absl::Seconds(1));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(limiter.Admit(absl::StrCat("idle-", i)).allowed);
  clock.Advance(absl::Milliseconds(1500));
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(limiter.Admit(absl::StrCat("new-", i)).allowed);
    ASSERT_LE(limiter.tracked_keys(), 256u);
  }
  // The busy keys kept their state: 1 token left + 2.5 earned back → 3 calls, not 5.
  for (int i = 0; i < 4; ++i) EXPECT_EQ(AdmittedInARow(limiter, absl::StrCat("busy-", i)), 3) << i;
}

TEST(RateLimiter, RefusedCallerCannotResetByFloodingNewKeys) {
  FakeClock clock(kStart);
  RateLimiter limiter(&clock, Opts(/*per_second=*/1, /*burst=*/10, /*max_tracked_keys=*/160));
  ASSERT_EQ(AdmittedInARow(limiter, "abuser"), 10);
  // The abuser stops calling and floods fresh keys (other addresses) instead,
  // far more than the limiter tracks.
  clock.Advance(absl::Milliseconds(100));
  for (int i = 0; i < 20000; ++i) limiter.Admit(absl::StrCat("2001:db8::", i));
  EXPECT_LE(limiter.tracked_keys(), 160u);
  RateLimiter::Decision d = limiter.Admit("abuser");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after, absl::Milliseconds(900));
}

TEST(RateLimiter, ConcurrentCallersGetExactlyBurstPerKey) {
  FakeClock clock(kStart);  // frozen: nothing refills during the test
  constexpr int kThreads = 8;
  constexpr int kBurst = 30000;
  constexpr int kKeys = 4;
  constexpr int kRounds = 10000;  // each key sees kThreads * kRounds = 80000 calls
  RateLimiter limiter(&clock, Opts(/*per_second=*/1, kBurst));
  std::atomic<int> admitted[kKeys] = {};
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Start together, and hit the same key at the same time, so that a lost
      // update would show up as more than kBurst admitted.
      ++ready;
      while (ready.load() < kThreads) std::this_thread::yield();
      for (int i = 0; i < kRounds; ++i) {
        for (int k = 0; k < kKeys; ++k) {
          if (limiter.Admit(absl::StrCat("citizen-", k)).allowed) ++admitted[k];
        }
        // New keys now and then, so that shards also grow (and rehash) under load.
        if (i % 10 == 0) limiter.Admit(absl::StrCat("passer-by-", t, "-", i));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int k = 0; k < kKeys; ++k) EXPECT_EQ(admitted[k].load(), kBurst) << k;
  EXPECT_EQ(limiter.tracked_keys(), static_cast<size_t>(kKeys + kThreads * kRounds / 10));
}

}  // namespace
}  // namespace tongban::edge
