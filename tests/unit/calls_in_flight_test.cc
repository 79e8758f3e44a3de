#include "calls_in_flight.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace tongban::edge {
namespace {

TEST(CallsInFlightTest, AnAddressHoldsAtMostItsShare) {
  CallsInFlight calls(2);
  auto a = calls.TryAcquire("10.0.0.1");
  auto b = calls.TryAcquire("10.0.0.1");
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(calls.TryAcquire("10.0.0.1"));
  // Another address is not held back.
  EXPECT_TRUE(calls.TryAcquire("10.0.0.2"));
  EXPECT_EQ(calls.InFlight("10.0.0.1"), 2);
  a.reset();  // a call ends: its place is free again
  EXPECT_EQ(calls.InFlight("10.0.0.1"), 1);
  EXPECT_TRUE(calls.TryAcquire("10.0.0.1"));
}

TEST(CallsInFlightTest, SlotsMoveWithoutDoubleRelease) {
  CallsInFlight calls(1);
  {
    std::optional<CallsInFlight::Slot> first = calls.TryAcquire("a");
    ASSERT_TRUE(first);
    CallsInFlight::Slot moved = std::move(*first);
    first.reset();
    EXPECT_EQ(calls.InFlight("a"), 1);
  }
  EXPECT_EQ(calls.InFlight("a"), 0);
}

TEST(CallsInFlightTest, ConcurrentCallsNeverExceedTheShare) {
  CallsInFlight calls(3);
  std::atomic<int> now{0}, most{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        auto slot = calls.TryAcquire("10.0.0.9");
        if (!slot) {
          ++refused;
          continue;
        }
        const int n = ++now;
        int seen = most.load();
        while (n > seen && !most.compare_exchange_weak(seen, n)) {
        }
        --now;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(most.load(), 3);
  EXPECT_EQ(calls.InFlight("10.0.0.9"), 0);
}

TEST(CallsInFlightTest, RefusalNamesTheAddressAndTheLimit) {
  grpc::Status s = TooManyCallsInFlight("10.0.0.1", 32);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("10.0.0.1"), std::string::npos);
  EXPECT_NE(s.error_message().find("32"), std::string::npos);
}

}  // namespace
}  // namespace tongban::edge
