// The HTTPS server's connection counts for Prometheus, read from its
// statistics at each scrape (nothing is counted twice, nothing on the hot
// path): open connections, refusals by limit, timeouts, refused framing,
// overload, handshake failures, HTTP/2 connections.
#pragma once

#include <functional>
#include <vector>

#include "https_server.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace tongban::edge {

class HttpsServerCollector : public prometheus::Collectable {
 public:
  // `stats` is called at every scrape, from the exposer's thread.
  explicit HttpsServerCollector(std::function<HttpsServerStats()> stats)
      : stats_(std::move(stats)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::function<HttpsServerStats()> stats_;
};

}  // namespace tongban::edge
