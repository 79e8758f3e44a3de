#include "gateway_metrics.h"

#include "absl/strings/str_cat.h"

namespace tongban::gateway {
namespace {

const prometheus::Histogram::BucketBoundaries& Buckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return kBuckets;
}

}  // namespace

GatewayMetrics::GatewayMetrics(prometheus::Registry& registry)
    : client_started_(prometheus::BuildCounter()
                          .Name("grpc_client_started_total")
                          .Help("Total number of RPCs started on the client.")
                          .Register(registry)),
      client_handled_(prometheus::BuildCounter()
                          .Name("grpc_client_handled_total")
                          .Help("Total number of RPCs completed by the client, regardless of "
                                "success or failure.")
                          .Register(registry)),
      client_seconds_(prometheus::BuildHistogram()
                          .Name("grpc_client_handling_seconds")
                          .Help("Histogram of response latency (seconds) of the gRPC until it is "
                                "finished by the application.")
                          .Register(registry)),
      fanout_(prometheus::BuildCounter()
                  .Name("tongban_gateway_fanout_total")
                  .Help("Fan-out queries answered, by method.")
                  .Register(registry)),
      fanout_partial_(prometheus::BuildCounter()
                          .Name("tongban_gateway_fanout_partial_total")
                          .Help("Fan-out queries answered with at least one province missing.")
                          .Register(registry)),
      fanout_missing_(prometheus::BuildCounter()
                          .Name("tongban_gateway_fanout_missing_province_total")
                          .Help("Provinces missing from fan-out answers, by province.")
                          .Register(registry)),
      node_up_(prometheus::BuildGauge()
                   .Name("tongban_gateway_node_up")
                   .Help("1 when the gateway routes to the province's node, 0 when ejected.")
                   .Register(registry)),
      cache_(prometheus::BuildCounter()
                 .Name("tongban_gateway_catalog_cache_total")
                 .Help("Province catalogs a search used: a fresh cached copy (hit), a copy its "
                       "node has not confirmed recently (stale), or a live call (miss).")
                 .Register(registry)),
      client_series_(client_started_, client_handled_, client_seconds_, Buckets()) {
  cache_.Add({{"result", "hit"}});
  cache_.Add({{"result", "stale"}});
  cache_.Add({{"result", "miss"}});
  // The fan-out methods (query_service.cc), at zero: the partial-result
  // ratio and its alert work before the first partial answer.
  for (const char* method : {"SearchFederation", "FindFilingOptions", "CompareGuides"}) {
    fanout_.Add({{"method", method}});
    fanout_partial_.Add({{"method", method}});
  }
}

GrpcCallSeries& GatewayMetrics::Client(absl::string_view service, absl::string_view method,
                                       absl::string_view province) {
  // Bounded: services and methods are the gateway's own calls, provinces
  // come from the directory.
  return client_series_.Get(absl::StrCat(service, "/", method, "/", province), [&] {
    return prometheus::Labels{{"grpc_type", "unary"},
                              {"grpc_service", std::string(service)},
                              {"grpc_method", std::string(method)},
                              {"target_province", std::string(province)}};
  });
}

void GatewayMetrics::FanOut(const std::string& method, const std::vector<std::string>& missing) {
  fanout_.Add({{"method", method}}).Increment();
  if (!missing.empty()) fanout_partial_.Add({{"method", method}}).Increment();
  for (const std::string& p : missing) fanout_missing_.Add({{"province", p}}).Increment();
}

void GatewayMetrics::NodeUp(const std::string& province, bool up) {
  node_up_.Add({{"province", province}}).Set(up ? 1 : 0);
}

void GatewayMetrics::CacheServed(const char* result, int provinces) {
  cache_.Add({{"result", result}}).Increment(provinces);
}

}  // namespace tongban::gateway
