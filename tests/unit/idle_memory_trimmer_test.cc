// common/idle_memory_trimmer: the heap is trimmed once per load burst, when
// the process goes quiet, never while it is busy or idle all along.
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
  bool Second(double share) {
    cpu_ += absl::Seconds(1) * share;
    return policy_->Sample(cpu_, absl::Seconds(1));
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
      });
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
