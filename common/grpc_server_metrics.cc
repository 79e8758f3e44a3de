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
      : metrics_(metrics),
        type_(TypeName(info->type())),
        single_request_(info->type() == ServerRpcInfo::Type::UNARY ||
                        info->type() == ServerRpcInfo::Type::SERVER_STREAMING),
        full_method_(info->method() == nullptr ? "" : info->method()),
        start_(std::chrono::steady_clock::now()) {
    MethodLabels labels = LabelsOfMethod(info->method());
    service_ = std::move(labels.service);
    method_ = std::move(labels.method);
    metrics_->RecordStarted(type_, service_, method_);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (single_request_ &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      request_unparsed_ = true;
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      if (request_unparsed_ && status.error_code() == grpc::StatusCode::INTERNAL) {
        status = UnparsedRequestStatus(full_method_.c_str());
        methods->ModifySendStatus(status);
      }
      double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      metrics_->RecordHandled(type_, service_, method_, GrpcCodeName(status.error_code()),
                              seconds);
    }
    methods->Proceed();
  }

 private:
  GrpcServerMetrics* metrics_;  // not owned; outlives the server
  std::string type_;
  const bool single_request_;
  const std::string full_method_;
  std::string service_;
  std::string method_;
  std::chrono::steady_clock::time_point start_;
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

std::string GrpcCodeName(int code) {
  static const char* const kNames[] = {
      "OK",        "Canceled",          "Unknown",           "InvalidArgument", "DeadlineExceeded",
      "NotFound",  "AlreadyExists",     "PermissionDenied",  "ResourceExhausted",
      "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable",
      "DataLoss", "Unauthenticated"};
  if (code < 0 || code > 16) return "Unknown";
  return kNames[code];
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
                            .Register(registry)) {}

void GrpcServerMetrics::InitService(const google::protobuf::ServiceDescriptor& service) {
  for (int i = 0; i < service.method_count(); ++i) {
    const google::protobuf::MethodDescriptor* m = service.method(i);
    std::string type = m->client_streaming() ? (m->server_streaming() ? "bidi_stream" : "client_stream")
                                             : (m->server_streaming() ? "server_stream" : "unary");
    prometheus::Labels labels{
        {"grpc_type", type}, {"grpc_service", service.full_name()}, {"grpc_method", m->name()}};
    started_.Add(labels);
    handling_seconds_.Add(labels, Buckets());
    labels["grpc_code"] = "OK";
    handled_.Add(labels);
  }
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
GrpcServerMetrics::MakeInterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>(this);
}

void GrpcServerMetrics::RecordStarted(const std::string& type, const std::string& service,
                                      const std::string& method) {
  started_.Add({{"grpc_type", type}, {"grpc_service", service}, {"grpc_method", method}})
      .Increment();
}

void GrpcServerMetrics::RecordHandled(const std::string& type, const std::string& service,
                                      const std::string& method, const std::string& code,
                                      double seconds) {
  handled_
      .Add({{"grpc_type", type},
            {"grpc_service", service},
            {"grpc_method", method},
            {"grpc_code", code}})
      .Increment();
  handling_seconds_
      .Add({{"grpc_type", type}, {"grpc_service", service}, {"grpc_method", method}}, Buckets())
      .Observe(seconds);
}

}  // namespace tongban
