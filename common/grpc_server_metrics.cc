#include "grpc_server_metrics.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"

namespace tongban {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

const prometheus::Histogram::BucketBoundaries& Buckets() {
  // go-grpc-prometheus defaults (prometheus.DefBuckets).
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return kBuckets;
}

std::string TypeName(ServerRpcInfo::Type type) {
  switch (type) {
    case ServerRpcInfo::Type::UNARY: return "unary";
    case ServerRpcInfo::Type::CLIENT_STREAMING: return "client_stream";
    case ServerRpcInfo::Type::SERVER_STREAMING: return "server_stream";
    case ServerRpcInfo::Type::BIDI_STREAMING: return "bidi_stream";
  }
  return "unary";
}

// The full name of the request message of `full_method` ("" when the
// method is not one this binary's protos define).
std::string RequestTypeOf(const char* full_method) {
  absl::string_view full = full_method == nullptr ? "" : full_method;
  const size_t slash = full.rfind('/');
  if (full.size() < 2 || full[0] != '/' || slash == absl::string_view::npos || slash < 2) {
    return "";
  }
  const google::protobuf::MethodDescriptor* m =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(absl::StrCat(
          full.substr(1, slash - 1), ".", full.substr(slash + 1)));
  return m == nullptr ? "" : m->input_type()->full_name();
}

// One per call; gRPC owns it and deletes it when the call ends.
//
// Besides recording, it turns a request that does not parse into the
// client error it is: gRPC answers such a call INTERNAL (the code of a
// server fault) before any handler runs. With a single request message
// (unary and server-streaming calls), POST_RECV_MESSAGE without a message
// means exactly that — the bytes were not a valid message, or there were
// none — so the status gRPC then sends is rewritten to INVALID_ARGUMENT,
// naming the request type, and counted as such. (For client and bidi
// streams a missing message is also the normal end of the stream, so they
// are left to their handlers.)
class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(ServerRpcInfo* info, GrpcServerMetrics* metrics)
      : info_(info),
        series_(metrics->SeriesOf(info->method(), info->type())),
        single_request_(info->type() == ServerRpcInfo::Type::UNARY ||
                        info->type() == ServerRpcInfo::Type::SERVER_STREAMING),
        start_(std::chrono::steady_clock::now()) {
    series_.Started();
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (single_request_ &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      request_unparsed_ = true;
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::StatusCode code = methods->GetSendStatus().error_code();
      if (request_unparsed_ && code == grpc::StatusCode::INTERNAL) {
        grpc::Status status = UnparsedRequestStatus(info_->method());
        code = status.error_code();
        methods->ModifySendStatus(status);
      }
      series_.Handled(
          code, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
    methods->Proceed();
  }

 private:
  ServerRpcInfo* const info_;  // owns this interceptor, so outlives it
  GrpcCallSeries& series_;
  const bool single_request_;
  const std::chrono::steady_clock::time_point start_;
  // Set at POST_RECV_MESSAGE, read at PRE_SEND_STATUS: gRPC runs a call's
  // interception batches one after another, never concurrently.
  bool request_unparsed_ = false;
};

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(GrpcServerMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    return new MetricsInterceptor(info, metrics_);
  }

 private:
  GrpcServerMetrics* metrics_;
};

}  // namespace

MethodLabels LabelsOfMethod(const char* full_method) {
  // "/package.Service/Method"
  absl::string_view full = full_method == nullptr ? "" : full_method;
  const size_t slash = full.rfind('/');
  if (full.size() > 1 && full[0] == '/' && slash != absl::string_view::npos && slash > 1 &&
      slash + 1 < full.size()) {
    absl::string_view service = full.substr(1, slash - 1);
    absl::string_view method = full.substr(slash + 1);
    const google::protobuf::MethodDescriptor* m =
        google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
            absl::StrCat(service, ".", method));
    if (m != nullptr && m->service()->full_name() == service && m->name() == method) {
      return {std::string(service), std::string(method)};
    }
  }
  return {"unknown", "unknown"};
}

grpc::Status UnparsedRequestStatus(const char* full_method) {
  const std::string type = RequestTypeOf(full_method);
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      absl::StrCat("the request is not a valid ",
                                   type.empty() ? "protobuf message" : type,
                                   " (protobuf binary encoding)"));
}

GrpcServerMetrics::GrpcServerMetrics(prometheus::Registry& registry)
    : started_(prometheus::BuildCounter()
                   .Name("grpc_server_started_total")
                   .Help("Total number of RPCs started on the server.")
                   .Register(registry)),
      handled_(prometheus::BuildCounter()
                   .Name("grpc_server_handled_total")
                   .Help("Total number of RPCs completed on the server, regardless of success or "
                         "failure.")
                   .Register(registry)),
      handling_seconds_(prometheus::BuildHistogram()
                            .Name("grpc_server_handling_seconds")
                            .Help("Histogram of response latency (seconds) of gRPC that had been "
                                  "application-level handled by the server.")
                            .Register(registry)) {
  for (auto& cache : series_) {
    cache = std::make_unique<GrpcCallSeriesCache>(started_, handled_, handling_seconds_, Buckets());
  }
}

void GrpcServerMetrics::InitService(const google::protobuf::ServiceDescriptor& service) {
  for (int i = 0; i < service.method_count(); ++i) {
    const google::protobuf::MethodDescriptor* m = service.method(i);
    const ServerRpcInfo::Type type =
        m->client_streaming()
            ? (m->server_streaming() ? ServerRpcInfo::Type::BIDI_STREAMING
                                     : ServerRpcInfo::Type::CLIENT_STREAMING)
            : (m->server_streaming() ? ServerRpcInfo::Type::SERVER_STREAMING
                                     : ServerRpcInfo::Type::UNARY);
    const std::string full_method = absl::StrCat("/", service.full_name(), "/", m->name());
    SeriesOf(full_method.c_str(), type).AddCode(grpc::StatusCode::OK);
  }
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
GrpcServerMetrics::MakeInterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>(this);
}

GrpcCallSeries& GrpcServerMetrics::SeriesOf(const char* full_method, ServerRpcInfo::Type type) {
  const auto t = static_cast<size_t>(type);
  GrpcCallSeriesCache& cache = *series_[t < series_.size() ? t : 0];
  absl::string_view key = full_method == nullptr ? "" : full_method;
  if (GrpcCallSeries* known = cache.Find(key)) return *known;
  MethodLabels labels = LabelsOfMethod(full_method);
  // Every invented name shares the key "" (no method is called that), so a
  // client cannot grow the cache any more than the series.
  if (labels.service == "unknown") key = "";
  return cache.Get(key, [&] {
    return prometheus::Labels{{"grpc_type", TypeName(type)},
                              {"grpc_service", std::move(labels.service)},
                              {"grpc_method", std::move(labels.method)}};
  });
}

}  // namespace tongban
