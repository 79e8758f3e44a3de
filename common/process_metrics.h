// The standard process metrics every Prometheus client library exports
// (process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds,
// process_start_time_seconds, process_threads), read from /proc at each
// scrape. prometheus-cpp 1.0 has no process collector; these names and
// meanings are the ones the Go and Python clients use, so stock dashboards
// and alerts (e.g. fds near the limit) work on node and gateway alike.
//
//   exposer.RegisterCollectable(std::make_shared<ProcessMetrics>());
//
// A file that cannot be read or parsed leaves its series out of that scrape
// (absent, not zero: an alert must not fire on a made-up value).
#pragma once

#include <string>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace tongban {

class ProcessMetrics final : public prometheus::Collectable {
 public:
  // `proc_self`: the process's /proc directory; `proc_stat`: the system's
  // /proc/stat (boot time). Tests point them at files of their own.
  explicit ProcessMetrics(std::string proc_self = "/proc/self",
                          std::string proc_stat = "/proc/stat");

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::string proc_self_;
  const std::string proc_stat_;
  const long ticks_per_second_;
  const long page_size_;
};

}  // namespace tongban
