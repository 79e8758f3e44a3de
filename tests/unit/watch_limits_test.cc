// WatchLimits: watch streams per citizen and per gateway replica, refusals
// that name the limit, places given back when a watch ends, and the metrics.
#include "watch_limits.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace tongban::edge {
namespace {

using ::testing::HasSubstr;

constexpr char kAlice[] = "430102199003070012";
constexpr char kBob[] = "110101199003074477";

double Value(prometheus::Registry& registry, const std::string& family,
             const std::map<std::string, std::string>& want = {}) {
  for (const auto& f : registry.Collect()) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& l : m.label) labels[l.name] = l.value;
      if (labels != want) continue;
      return f.type == prometheus::MetricType::Gauge ? m.gauge.value : m.counter.value;
    }
  }
  ADD_FAILURE() << "no series " << family;
  return -1;
}

TEST(WatchLimitsTest, ACitizenGetsAtMostPerCitizenWatches) {
  prometheus::Registry registry;
  WatchLimits limits(2, 100, &registry);
  std::vector<WatchLimits::Slot> held;
  for (int i = 0; i < 2; ++i) {
    auto slot = limits.Acquire(kAlice);
    ASSERT_TRUE(slot.ok()) << slot.status();
    held.push_back(std::move(*slot));
  }
  auto refused = limits.Acquire(kAlice);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.status().message(), HasSubstr("public_edge.max_watches_per_citizen = 2"));
  // Another citizen is not affected.
  auto bob = limits.Acquire(kBob);
  EXPECT_TRUE(bob.ok());
  EXPECT_EQ(limits.open_for(kAlice), 2);
  EXPECT_EQ(Value(registry, "tongban_edge_watches_open"), 3);
  EXPECT_EQ(Value(registry, "tongban_edge_watch_refused_total", {{"limit", "per_citizen"}}), 1);
  // A watch that ends gives its place back.
  held.pop_back();
  EXPECT_EQ(limits.open_for(kAlice), 1);
  EXPECT_TRUE(limits.Acquire(kAlice).ok());  // acquired and released at once
  EXPECT_EQ(Value(registry, "tongban_edge_watches_open"), 2);
}

TEST(WatchLimitsTest, TheGatewayHoldsAtMostTotalWatches) {
  prometheus::Registry registry;
  WatchLimits limits(5, 3, &registry);
  std::vector<WatchLimits::Slot> held;
  for (const char* who : {kAlice, kBob, kAlice}) {
    auto slot = limits.Acquire(who);
    ASSERT_TRUE(slot.ok());
    held.push_back(std::move(*slot));
  }
  auto refused = limits.Acquire(kBob);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.status().message(), HasSubstr("public_edge.max_watches = 3"));
  EXPECT_EQ(Value(registry, "tongban_edge_watch_refused_total", {{"limit", "total"}}), 1);
  held.clear();
  EXPECT_EQ(limits.open(), 0);
  EXPECT_EQ(limits.open_for(kAlice), 0);
  limits.WaitAllClosed(absl::ZeroDuration());
}

TEST(WatchLimitsTest, MovedSlotsReleaseOnceAndMessagesAreCountedByFaceAndKind) {
  prometheus::Registry registry;
  WatchLimits limits(1, 10, &registry);
  std::optional<WatchLimits::Slot> a;
  {
    auto slot = limits.Acquire(kAlice);
    ASSERT_TRUE(slot.ok());
    a.emplace(std::move(*slot));
  }  // the moved-from slot gives nothing back
  EXPECT_EQ(limits.open(), 1);
  WatchLimits::Slot b = std::move(*a);
  a.reset();
  EXPECT_EQ(limits.open(), 1);
  limits.MessageSent("grpc", false);
  limits.MessageSent("sse", true);
  limits.MessageSent("sse", true);
  EXPECT_EQ(Value(registry, "tongban_edge_watch_messages_sent_total",
                  {{"face", "grpc"}, {"kind", "event"}}),
            1);
  EXPECT_EQ(Value(registry, "tongban_edge_watch_messages_sent_total",
                  {{"face", "sse"}, {"kind", "heartbeat"}}),
            2);
}

TEST(WatchLimitsTest, DrainingEndsEveryOpenWatchOnceAndRefusesNewOnes) {
  WatchLimits limits(5, 10, nullptr);
  int drained_a = 0, drained_b = 0;
  auto a = limits.Acquire(kAlice);
  auto b = limits.Acquire(kBob);
  ASSERT_TRUE(a.ok() && b.ok());
  a->OnDrain([&] { ++drained_a; });
  b->OnDrain([&] { ++drained_b; });
  {
    auto gone = limits.Acquire(kBob);
    ASSERT_TRUE(gone.ok());
    gone->OnDrain([] { ADD_FAILURE() << "a watch that ended is not drained"; });
  }
  limits.DrainAll();
  EXPECT_EQ(drained_a, 1);
  EXPECT_EQ(drained_b, 1);
  limits.DrainAll();
  EXPECT_EQ(drained_a, 1) << "once";
  auto refused = limits.Acquire(kAlice);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  // A watch that registers after the drain began is ended at once.
  int late = 0;
  a->OnDrain([&] { ++late; });
  EXPECT_EQ(late, 1);
}

}  // namespace
}  // namespace tongban::edge
