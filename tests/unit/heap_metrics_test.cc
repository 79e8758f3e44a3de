// common/heap_metrics and ReadHeapStats: the tongban_heap_bytes series from
// fixed figures (names, labels, absent when unknown) and from this process's
// own allocator (the test binaries run on glibc: allocated follows a large
// live allocation).
#include "heap_metrics.h"

#include <map>
#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace tongban {
namespace {

std::map<std::string, double> ByState(const HeapMetrics& m) {
  std::map<std::string, double> out;
  const std::vector<prometheus::MetricFamily> families = m.Collect();
  EXPECT_EQ(families.size(), 1u);
  for (const prometheus::MetricFamily& f : families) {
    EXPECT_EQ(f.name, "tongban_heap_bytes");
    EXPECT_EQ(f.type, prometheus::MetricType::Gauge);
    for (const prometheus::ClientMetric& metric : f.metric) {
      EXPECT_EQ(metric.label.size(), 1u);
      EXPECT_EQ(metric.label[0].name, "state");
      out[metric.label[0].value] = metric.gauge.value;
    }
  }
  return out;
}

TEST(HeapMetrics, ExportsEachStateOfTheAllocatorsFigures) {
  HeapStats stats;
  stats.allocated = 10 << 20;
  stats.free_thread_caches = 3 << 20;
  stats.free_central_caches = 4 << 20;
  stats.free_pages = 2 << 20;
  stats.released = 7 << 20;
  HeapMetrics metrics([stats] { return std::optional<HeapStats>(stats); });
  const std::map<std::string, double> expected = {{"allocated", 10 << 20},
                                                  {"free_thread_caches", 3 << 20},
                                                  {"free_central_caches", 4 << 20},
                                                  {"free_pages", 2 << 20},
                                                  {"released", 7 << 20}};
  EXPECT_EQ(ByState(metrics), expected);
}

TEST(HeapMetrics, LeavesTheSeriesOutWhenTheAllocatorHasNoFigures) {
  HeapMetrics metrics([] { return std::optional<HeapStats>(); });
  EXPECT_TRUE(metrics.Collect().empty());
}

TEST(HeapMetrics, AllocatedFollowsThisProcesssLiveAllocations) {
  HeapMetrics metrics;
  const double before = ByState(metrics)["allocated"];
  constexpr size_t kBlock = 64 << 20;
  auto block = std::make_unique<char[]>(kBlock);
  block[0] = block[kBlock - 1] = 1;
  const double during = ByState(metrics)["allocated"];
  EXPECT_GE(during - before, static_cast<double>(kBlock));
  block.reset();
  EXPECT_LT(ByState(metrics)["allocated"], during - static_cast<double>(kBlock) / 2);
}

}  // namespace
}  // namespace tongban
