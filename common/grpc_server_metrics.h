// gRPC server metrics under the names go-grpc-prometheus made standard, so
// existing dashboards and alerts work unchanged:
//   grpc_server_started_total{grpc_type,grpc_service,grpc_method}
//   grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}
//   grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method} (histogram)
// Recorded by a server interceptor, so no handler can forget them. Labels
// are bounded: method names come from the protos compiled into the binary;
// any other name is recorded as "unknown". A request whose bytes do not
// parse is answered INVALID_ARGUMENT (gRPC itself says INTERNAL) and counted
// as such: a client's error, not a server fault.
#pragma once

#include <array>
#include <memory>
#include <string>

#include "grpc_call_series.h"
#include "grpcpp/support/server_interceptor.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace google::protobuf {
class ServiceDescriptor;
}

namespace tongban {

class GrpcServerMetrics final {
 public:
  explicit GrpcServerMetrics(prometheus::Registry& registry);

  // Creates the started/handled(OK)/histogram series of every method of the
  // service at zero, so rate() works from the first scrape.
  void InitService(const google::protobuf::ServiceDescriptor& service);

  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeInterceptorFactory();

  // The series a call to `full_method` of `type` records into: its own
  // for a method this binary's protos define, one shared "unknown" series
  // for any other name. Called by the interceptor; public for tests.
  GrpcCallSeries& SeriesOf(const char* full_method,
                           grpc::experimental::ServerRpcInfo::Type type);

 private:
  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& handling_seconds_;
  // By call type (unary, client, server, bidi streaming): the type is a
  // label, and a generic handler may serve a known method as another type.
  std::array<std::unique_ptr<GrpcCallSeriesCache>, 4> series_;
};

// The (grpc_service, grpc_method) labels of a call to `full_method`
// ("/package.Service/Method"): the names when the method is one this
// binary's protos define, ("unknown", "unknown") for anything else, so a
// client inventing method names cannot add series (issue 11).
struct MethodLabels {
  std::string service;
  std::string method;
};
MethodLabels LabelsOfMethod(const char* full_method);

// What the interceptor answers a call to `full_method` whose request did
// not parse: INVALID_ARGUMENT, naming the request type
// ("tongban.v1.SearchGuidesRequest") when the method is known.
grpc::Status UnparsedRequestStatus(const char* full_method);

}  // namespace tongban
