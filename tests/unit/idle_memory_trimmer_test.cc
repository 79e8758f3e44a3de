// common/idle_memory_trimmer: the heap is trimmed once per load burst, when
// the process goes quiet, never while it is busy or idle all along; a quiet
// process whose allocator holds free pages again is trimmed again.
#include "idle_memory_trimmer.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"

namespace tongban {
namespace {

// Samples one second apart, each using `share` of a core.
class Feed {
 public:
  explicit Feed(IdleTrimPolicy* policy) : policy_(policy) { policy_->Sample(cpu_, absl::ZeroDuration()); }
  bool Second(double share, uint64_t releasable = 0) {
    cpu_ += absl::Seconds(1) * share;
    return policy_->Sample(cpu_, absl::Seconds(1), releasable);
  }

 private:
  IdleTrimPolicy* policy_;
  absl::Duration cpu_ = absl::Seconds(3);
};

TEST(IdleTrimPolicy, NeverTrimsAProcessThatWasIdleAllAlong) {
  IdleTrimPolicy policy({});
  Feed feed(&policy);
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(feed.Second(0.001));
}

TEST(IdleTrimPolicy, TrimsOnceWhenABurstEnds) {
  IdleTrimPolicy policy({});
  Feed feed(&policy);
  EXPECT_FALSE(feed.Second(0.9));
  EXPECT_FALSE(feed.Second(1.7));  // both cores
  EXPECT_TRUE(feed.Second(0.005));
  EXPECT_FALSE(feed.Second(0.005));
  EXPECT_FALSE(feed.Second(0.0));
  // The next burst earns the next trim.
  EXPECT_FALSE(feed.Second(0.3));
  EXPECT_TRUE(feed.Second(0.01));
}

TEST(IdleTrimPolicy, NeverTrimsUnderSteadyLoad) {
  IdleTrimPolicy policy({});
  Feed feed(&policy);
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(feed.Second(0.5));
}

TEST(IdleTrimPolicy, WaitsThroughALightTailForTheQuiet) {
  IdleTrimPolicy policy({});
  Feed feed(&policy);
  EXPECT_FALSE(feed.Second(1.0));
  EXPECT_FALSE(feed.Second(0.03));  // neither busy nor quiet: a straggling call or two
  EXPECT_TRUE(feed.Second(0.01));
}

TEST(IdleTrimPolicy, TrimsAQuietProcessAgainWhenFreePagesCameBack) {
  IdleTrimPolicy policy({});
  Feed feed(&policy);
  EXPECT_FALSE(feed.Second(0.8));
  EXPECT_TRUE(feed.Second(0.01));
  // Idle threads handed their caches back after the trim: 5 MB free again.
  EXPECT_FALSE(feed.Second(0.01, 900 << 10));  // under the 1 MB floor
  EXPECT_TRUE(feed.Second(0.01, 5 << 20));
  EXPECT_FALSE(feed.Second(0.0, 0));  // released
  // Never while busy, whatever is free.
  EXPECT_FALSE(feed.Second(0.5, 50 << 20));
}

TEST(IdleTrimPolicy, AZeroFloorKeepsTheOncePerBurstRule) {
  IdleTrimOptions options;
  options.releasable_floor = 0;
  IdleTrimPolicy policy(options);
  Feed feed(&policy);
  EXPECT_FALSE(feed.Second(0.001, 50 << 20));
  EXPECT_FALSE(feed.Second(0.9));
  EXPECT_TRUE(feed.Second(0.001, 50 << 20));
  EXPECT_FALSE(feed.Second(0.001, 50 << 20));
}

TEST(IdleMemoryTrimmer, TrimsOnItsThreadWhenTheProcessGoesQuiet) {
  std::atomic<int> trimmed{0};
  std::atomic<int64_t> cpu_ms{0};
  std::atomic<bool> busy{true};
  IdleTrimOptions options;
  options.interval = absl::Milliseconds(20);
  IdleMemoryTrimmer trimmer(
      options, [&] { trimmed.fetch_add(1); },
      [&] {
        // Busy: a full core between samples; then quiet.
        if (busy.load()) cpu_ms.fetch_add(100);
        return absl::Milliseconds(cpu_ms.load());
      },
      [] { return uint64_t{0}; });
  // Readiness: the burst has been seen for a few samples.
  for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       cpu_ms.load() < 500 && std::chrono::steady_clock::now() < end;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(trimmed.load(), 0);
  busy.store(false);
  for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       trimmer.trims() == 0 && std::chrono::steady_clock::now() < end;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(trimmer.trims(), 1);
  EXPECT_EQ(trimmed.load(), 1);
}

}  // namespace
}  // namespace tongban
