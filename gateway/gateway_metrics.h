// The gateway's metrics, declared in one place. Client-side gRPC metrics use
// go-grpc-prometheus names plus a bounded `target_province` label (31 values).
#pragma once

#include <string>
#include <vector>

#include "grpc_call_series.h"
#include "grpcpp/support/status.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace tongban::gateway {

class GatewayMetrics final {
 public:
  explicit GatewayMetrics(prometheus::Registry& registry);

  // The client-side series of calls to `method` of `service` at
  // `province`'s node (found once per name, then kept; see
  // grpc_call_series.h): Started() when the call starts, Handled() when
  // its status is in.
  GrpcCallSeries& Client(absl::string_view service, absl::string_view method,
                         absl::string_view province);
  void ClientStarted(absl::string_view service, absl::string_view method,
                     absl::string_view province) {
    Client(service, method, province).Started();
  }
  void ClientHandled(absl::string_view service, absl::string_view method,
                     absl::string_view province, grpc::StatusCode code, double seconds) {
    Client(service, method, province).Handled(code, seconds);
  }
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
  GrpcCallSeriesCache client_series_;
};

}  // namespace tongban::gateway
