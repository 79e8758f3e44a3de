// The gateway's metrics, declared in one place. Client-side gRPC metrics use
// go-grpc-prometheus names plus a bounded `target_province` label (31 values).
#pragma once

#include <string>
#include <vector>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace tongban::gateway {

class GatewayMetrics final {
 public:
  explicit GatewayMetrics(prometheus::Registry& registry);

  void ClientStarted(const std::string& service, const std::string& method,
                     const std::string& province);
  void ClientHandled(const std::string& service, const std::string& method,
                     const std::string& province, const std::string& code, double seconds);
  // One fan-out query and the provinces missing from its answer.
  void FanOut(const std::string& method, const std::vector<std::string>& missing);
  void NodeUp(const std::string& province, bool up);
  // Province catalogs searches used: "hit" (a fresh copy), "stale" (a copy
  // the node has not confirmed recently), "miss" (a live call).
  void CacheServed(const char* result, int provinces);

 private:
  prometheus::Family<prometheus::Counter>& client_started_;
  prometheus::Family<prometheus::Counter>& client_handled_;
  prometheus::Family<prometheus::Histogram>& client_seconds_;
  prometheus::Family<prometheus::Counter>& fanout_;
  prometheus::Family<prometheus::Counter>& fanout_partial_;
  prometheus::Family<prometheus::Counter>& fanout_missing_;
  prometheus::Family<prometheus::Gauge>& node_up_;
  prometheus::Family<prometheus::Counter>& cache_;
};

}  // namespace tongban::gateway
