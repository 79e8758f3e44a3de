// Metric labels of gRPC calls stay bounded: only methods the binary's protos
// define keep their names; invented ones share one "unknown" label. A
// request that does not parse is the client's error: INVALID_ARGUMENT naming
// the request type, counted as such (real server and client on loopback).
#include "grpc_server_metrics.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "google/protobuf/descriptor.h"
#include "grpcpp/grpcpp.h"
#include "prometheus/registry.h"
#include "raw_grpc_call.h"
#include "tongban/v1/application.pb.h"
#include "tongban/v1/citizen.grpc.pb.h"
#include "tongban/v1/citizen.pb.h"

namespace tongban {
namespace {

TEST(GrpcServerMetricsTest, KnownMethodsKeepTheirNames) {
  (void)v1::GetMyApplicationRequest::descriptor();  // links citizen.proto into the pool
  MethodLabels l = LabelsOfMethod("/tongban.v1.CitizenService/GetMyApplication");
  EXPECT_EQ(l.service, "tongban.v1.CitizenService");
  EXPECT_EQ(l.method, "GetMyApplication");
  l = LabelsOfMethod("/tongban.v1.ApplicationService/SubmitApplication");
  EXPECT_EQ(l.method, "SubmitApplication");
}

TEST(GrpcServerMetricsTest, InventedMethodNamesShareOneLabel) {
  for (const char* name :
       {"/tongban.v1.CitizenService/NoSuchMethod", "/no.such.Service/Method", "/x/y", "", "/",
        "//", "noslash", "/tongban.v1.CitizenService/", "/tongban.v1/CitizenService/GetMyApplication",
        "/tongban.v1.CitizenService.GetMyApplication", "/tongban.v1.Applicant/Name"}) {
    SCOPED_TRACE(name);
    MethodLabels l = LabelsOfMethod(name);
    EXPECT_EQ(l.service, "unknown");
    EXPECT_EQ(l.method, "unknown");
  }
  MethodLabels l = LabelsOfMethod(nullptr);
  EXPECT_EQ(l.method, "unknown");
}

// Samples of grpc_server_handled_total with these method and code labels.
double Handled(prometheus::Registry& registry, const std::string& method, const std::string& code) {
  double total = 0;
  for (const prometheus::MetricFamily& f : registry.Collect()) {
    if (f.name != "grpc_server_handled_total") continue;
    for (const prometheus::ClientMetric& m : f.metric) {
      bool method_matches = false, code_matches = false;
      for (const prometheus::ClientMetric::Label& l : m.label) {
        if (l.name == "grpc_method" && l.value == method) method_matches = true;
        if (l.name == "grpc_code" && l.value == code) code_matches = true;
      }
      if (method_matches && code_matches) total += m.counter.value;
    }
  }
  return total;
}

// Value of the sample of `family` whose labels include all of `want`
// (-1 when no sample has them).
double Sample(prometheus::Registry& registry, const std::string& family,
              const std::map<std::string, std::string>& want) {
  for (const prometheus::MetricFamily& f : registry.Collect()) {
    if (f.name != family) continue;
    for (const prometheus::ClientMetric& m : f.metric) {
      size_t matched = 0;
      for (const prometheus::ClientMetric::Label& l : m.label) {
        auto it = want.find(l.name);
        if (it != want.end() && it->second == l.value) ++matched;
      }
      if (matched == want.size()) {
        return f.type == prometheus::MetricType::Histogram
                   ? static_cast<double>(m.histogram.sample_count)
                   : m.counter.value;
      }
    }
  }
  return -1;
}

TEST(GrpcCallSeriesTest, KeptSeriesCountByCodeAndMakeLabelsOnce) {
  prometheus::Registry registry;
  auto& started = prometheus::BuildCounter().Name("s_total").Register(registry);
  auto& handled = prometheus::BuildCounter().Name("h_total").Register(registry);
  auto& seconds = prometheus::BuildHistogram().Name("d_seconds").Register(registry);
  GrpcCallSeriesCache cache(started, handled, seconds, {0.1, 1});
  int made = 0;
  auto labels = [&] {
    ++made;
    return prometheus::Labels{{"grpc_method", "M"}, {"target_province", "510000"}};
  };
  EXPECT_EQ(cache.Find("M/510000"), nullptr);
  GrpcCallSeries& a = cache.Get("M/510000", labels);
  GrpcCallSeries& b = cache.Get("M/510000", labels);
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(cache.Find("M/510000"), &a);
  EXPECT_EQ(made, 1);
  a.Started();
  b.Started();
  a.Handled(grpc::StatusCode::OK, 0.05);
  a.Handled(grpc::StatusCode::UNAVAILABLE, 0.5);
  a.Handled(grpc::StatusCode::UNAVAILABLE, 2);
  a.Handled(static_cast<grpc::StatusCode>(99), 0.01);  // not a code: counted as Unknown
  EXPECT_EQ(Sample(registry, "s_total", {{"grpc_method", "M"}}), 2);
  EXPECT_EQ(Sample(registry, "h_total", {{"grpc_code", "OK"}}), 1);
  EXPECT_EQ(Sample(registry, "h_total", {{"grpc_code", "Unavailable"}}), 2);
  EXPECT_EQ(Sample(registry, "h_total", {{"grpc_code", "Unknown"}}), 1);
  EXPECT_EQ(Sample(registry, "h_total", {{"grpc_code", "NotFound"}}), -1);  // made when used
  EXPECT_EQ(Sample(registry, "d_seconds", {{"target_province", "510000"}}), 4);
}

TEST(GrpcServerMetricsTest, SeriesAreKeptPerMethodAndInventedNamesShareOne) {
  (void)v1::GetMyApplicationRequest::descriptor();
  prometheus::Registry registry;
  GrpcServerMetrics metrics(registry);
  metrics.InitService(*google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      v1::CitizenService::service_full_name()));
  using Type = grpc::experimental::ServerRpcInfo::Type;
  // InitService made every method's series, with OK at zero.
  EXPECT_EQ(Sample(registry, "grpc_server_handled_total",
                   {{"grpc_method", "GetMyApplication"}, {"grpc_code", "OK"},
                    {"grpc_type", "unary"}}),
            0);
  GrpcCallSeries& known = metrics.SeriesOf("/tongban.v1.CitizenService/GetMyApplication", Type::UNARY);
  EXPECT_EQ(&known,
            &metrics.SeriesOf("/tongban.v1.CitizenService/GetMyApplication", Type::UNARY));
  // The same method served as another type is another series (grpc_type).
  EXPECT_NE(&known,
            &metrics.SeriesOf("/tongban.v1.CitizenService/GetMyApplication", Type::BIDI_STREAMING));
  GrpcCallSeries& invented = metrics.SeriesOf("/no.such.Service/A", Type::UNARY);
  EXPECT_EQ(&invented, &metrics.SeriesOf("/no.such.Service/B", Type::UNARY));
  EXPECT_EQ(&invented, &metrics.SeriesOf(nullptr, Type::UNARY));
  EXPECT_NE(&invented, &known);
  known.Started();
  invented.Started();
  EXPECT_EQ(Sample(registry, "grpc_server_started_total",
                   {{"grpc_method", "GetMyApplication"}, {"grpc_type", "unary"}}),
            1);
  EXPECT_EQ(Sample(registry, "grpc_server_started_total",
                   {{"grpc_method", "unknown"}, {"grpc_service", "unknown"}}),
            1);
}

// SearchGuides parses its request and then fails on the server's side.
class FailingCitizenService final : public v1::CitizenService::Service {
 public:
  grpc::Status SearchGuides(grpc::ServerContext*, const v1::SearchGuidesRequest*,
                            v1::SearchGuidesResponse*) override {
    return grpc::Status(grpc::StatusCode::INTERNAL, "the server failed");
  }
};

class UnparsedRequestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    metrics_ = std::make_unique<GrpcServerMetrics>(registry_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> f;
    f.push_back(metrics_->MakeInterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(f));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials());
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  prometheus::Registry registry_;
  std::unique_ptr<GrpcServerMetrics> metrics_;
  FailingCitizenService service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

// Bytes no protobuf parser accepts: a field with wire type 7, a length
// running past the end, a varint that never ends.
const char* const kGarbage[] = {"\x0f\x01\x02", "\x0a\x10" "abc",
                                "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"};

TEST_F(UnparsedRequestTest, GarbageIsInvalidArgumentNamingTheRequestType) {
  int sent = 0;
  for (const char* garbage : kGarbage) {
    SCOPED_TRACE(sent);
    grpc::Status s =
        testing::RawUnaryCall(channel_, "/tongban.v1.CitizenService/SearchGuides", garbage);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_NE(s.error_message().find("tongban.v1.SearchGuidesRequest"), std::string::npos)
        << s.error_message();
    ++sent;
  }
  // Also for a method whose handler is the generated default.
  grpc::Status s =
      testing::RawUnaryCall(channel_, "/tongban.v1.CitizenService/GetItemGuide", kGarbage[0]);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("tongban.v1.GetItemGuideRequest"), std::string::npos);

  EXPECT_EQ(Handled(registry_, "SearchGuides", "InvalidArgument"), sent);
  EXPECT_EQ(Handled(registry_, "GetItemGuide", "InvalidArgument"), 1);
  EXPECT_EQ(Handled(registry_, "SearchGuides", "Internal"), 0);
  EXPECT_EQ(Handled(registry_, "GetItemGuide", "Internal"), 0);
}

TEST_F(UnparsedRequestTest, ServerFaultsAfterParsingStayInternal) {
  v1::SearchGuidesRequest req;
  req.set_query("社会保障");
  grpc::Status s = testing::RawUnaryCall(channel_, "/tongban.v1.CitizenService/SearchGuides",
                                         req.SerializeAsString());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(s.error_message(), "the server failed");
  EXPECT_EQ(Handled(registry_, "SearchGuides", "Internal"), 1);
  EXPECT_EQ(Handled(registry_, "SearchGuides", "InvalidArgument"), 0);
  // An empty message is a valid one (all fields default).
  s = testing::RawUnaryCall(channel_, "/tongban.v1.CitizenService/GetItemGuide", "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(UnparsedRequestTest, UnknownMethodsStayUnimplemented) {
  grpc::Status s =
      testing::RawUnaryCall(channel_, "/tongban.v1.CitizenService/NoSuchMethod", kGarbage[0]);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(Handled(registry_, "unknown", "InvalidArgument"), 0);
}

TEST(UnparsedRequestStatusTest, NamesTheRequestTypeWhenKnown) {
  (void)v1::GetMyApplicationRequest::descriptor();
  grpc::Status s = UnparsedRequestStatus("/tongban.v1.CitizenService/GetMyApplication");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("tongban.v1.GetMyApplicationRequest"), std::string::npos);
  s = UnparsedRequestStatus("/no.such.Service/Method");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("protobuf message"), std::string::npos);
  EXPECT_EQ(UnparsedRequestStatus(nullptr).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace tongban
