#include "heap_metrics.h"

#include <utility>

namespace tongban {

HeapMetrics::HeapMetrics(std::function<std::optional<HeapStats>()> read)
    : read_(read ? std::move(read) : ReadHeapStats) {}

std::vector<prometheus::MetricFamily> HeapMetrics::Collect() const {
  const std::optional<HeapStats> stats = read_();
  if (!stats) return {};  // absent, not zero
  prometheus::MetricFamily family;
  family.name = "tongban_heap_bytes";
  family.help =
      "Heap bytes by state, as the allocator counts them: allocated (held by the program), "
      "free_thread_caches, free_central_caches and free_pages (free but resident), "
      "released (returned to the kernel).";
  family.type = prometheus::MetricType::Gauge;
  const std::pair<const char*, uint64_t> states[] = {
      {"allocated", stats->allocated},
      {"free_thread_caches", stats->free_thread_caches},
      {"free_central_caches", stats->free_central_caches},
      {"free_pages", stats->free_pages},
      {"released", stats->released},
  };
  for (const auto& [state, bytes] : states) {
    prometheus::ClientMetric metric;
    metric.label.push_back({"state", state});
    metric.gauge.value = static_cast<double>(bytes);
    family.metric.push_back(std::move(metric));
  }
  return {std::move(family)};
}

}  // namespace tongban
