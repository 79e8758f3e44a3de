// tongban_heap_bytes{state}: the allocator's own account of the heap
// (heap_allocator.h, ReadHeapStats), read at each scrape, so that an operator
// seeing process_resident_memory_bytes grow can tell memory the program holds
// ("allocated") from free memory the allocator keeps resident
// ("free_thread_caches", "free_central_caches", "free_pages") and from pages
// already returned to the kernel ("released").
//
//   exposer.RegisterCollectable(std::make_shared<HeapMetrics>());
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "heap_allocator.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace tongban {

class HeapMetrics final : public prometheus::Collectable {
 public:
  // `read` defaults to ReadHeapStats; tests give fixed figures.
  explicit HeapMetrics(std::function<std::optional<HeapStats>()> read = {});

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::function<std::optional<HeapStats>()> read_;
};

}  // namespace tongban
