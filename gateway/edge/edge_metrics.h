// Metrics of the public edge (bounded labels: route templates, codes and a
// few rejection reasons; never citizen ids or paths with ids in them). gRPC
// calls are also counted by the usual grpc_server_* metrics.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace tongban::edge {

class EdgeMetrics {
 public:
  explicit EdgeMetrics(prometheus::Registry& registry);

  // One REST request: `route` is the template ("/v1/applications/{application_id}")
  // or "unmatched"; `status` the HTTP status.
  void HttpHandled(absl::string_view method, absl::string_view route, int status,
                   double seconds);
  // Creates a route's series at zero (its success status), so dashboards and
  // alerts see them before the first request.
  void InitRoute(absl::string_view method, absl::string_view route, int success_status);
  // token_missing, token_invalid, rate_limited.
  void Rejected(absl::string_view reason);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Family<prometheus::Counter>& rejected_;
};

}  // namespace tongban::edge
