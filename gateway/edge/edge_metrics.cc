#include "edge_metrics.h"

#include "absl/strings/str_cat.h"

namespace tongban::edge {

EdgeMetrics::EdgeMetrics(prometheus::Registry& registry)
    : requests_(prometheus::BuildCounter()
                    .Name("tongban_http_requests_total")
                    .Help("REST/JSON requests handled by the public edge, by route template and HTTP status.")
                    .Register(registry)),
      latency_(prometheus::BuildHistogram()
                   .Name("tongban_http_request_duration_seconds")
                   .Help("REST/JSON request latency at the public edge, by route template.")
                   .Register(registry)),
      rejected_(prometheus::BuildCounter()
                    .Name("tongban_edge_rejected_total")
                    .Help("Public edge calls (REST and gRPC) refused before reaching a node, by reason.")
                    .Register(registry)) {
  for (const char* reason : {"token_missing", "token_invalid", "rate_limited"}) {
    rejected_.Add({{"reason", reason}});
  }
}

namespace {
const prometheus::Histogram::BucketBoundaries& Buckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
  return kBuckets;
}
}  // namespace

void EdgeMetrics::InitRoute(absl::string_view method, absl::string_view route,
                            int success_status) {
  requests_.Add({{"method", std::string(method)},
                 {"route", std::string(route)},
                 {"code", absl::StrCat(success_status)}});
  latency_.Add({{"route", std::string(route)}}, Buckets());
}

void EdgeMetrics::HttpHandled(absl::string_view method, absl::string_view route, int status,
                              double seconds) {
  requests_.Add({{"method", std::string(method)},
                 {"route", std::string(route)},
                 {"code", absl::StrCat(status)}})
      .Increment();
  latency_.Add({{"route", std::string(route)}}, Buckets()).Observe(seconds);
}

void EdgeMetrics::Rejected(absl::string_view reason) {
  rejected_.Add({{"reason", std::string(reason)}}).Increment();
}

}  // namespace tongban::edge
