// CitizenApi against a fake node over real gRPC (loopback, no TLS): what
// the transport hands it per call (CitizenCaller::request_id,
// ::idempotency_key) reaches the node and the gateway's log line.
#include "citizen_api.h"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "request_id.h"
#include "structured_log.h"

namespace tongban::edge {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kCitizen[] = "430102199003070012";
constexpr char kHunan[] = "430000";

// A FILE* log whose lines a test can read back.
class CapturedLog {
 public:
  CapturedLog() : file_(std::tmpfile()), log_("gateway", file_) {}
  ~CapturedLog() { std::fclose(file_); }
  EventLog* log() { return &log_; }
  std::string Text() {
    std::fflush(file_);
    std::rewind(file_);
    std::string text;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), file_)) > 0) text.append(buf, n);
    return text;
  }

 private:
  FILE* const file_;
  EventLog log_;
};

// The node's side: records what arrived and logs as node handlers do (a
// ScopedRequestId from the call's x-request-id, then the event line).
class FakeNode final : public v1::ApplicationService::Service {
 public:
  explicit FakeNode(EventLog* log) : log_(log) {}

  grpc::Status SubmitApplication(grpc::ServerContext* ctx, const v1::SubmitApplicationRequest* req,
                                 v1::SubmitApplicationResponse* resp) override {
    const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
    Record(*ctx, "SubmitApplication");
    {
      absl::MutexLock lock(&mu_);
      submitted_.push_back(*req);
    }
    log_->Info("application.submitted", {{"id", "TB-1"}});
    resp->mutable_application()->set_application_id("TB-1");
    return grpc::Status::OK;
  }
  grpc::Status ListApplicationsByApplicant(grpc::ServerContext* ctx,
                                           const v1::ListApplicationsByApplicantRequest*,
                                           v1::ListApplicationsByApplicantResponse*) override {
    Record(*ctx, "ListApplicationsByApplicant");
    return grpc::Status::OK;
  }

  // (method, x-request-id metadata or "<none>") per call, in order.
  std::vector<std::pair<std::string, std::string>> calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::vector<v1::SubmitApplicationRequest> submitted() {
    absl::MutexLock lock(&mu_);
    return submitted_;
  }

 private:
  void Record(const grpc::ServerContext& ctx, const char* method) {
    auto it = ctx.client_metadata().find(kRequestIdMetadata);
    std::string id = it == ctx.client_metadata().end()
                         ? "<none>"
                         : std::string(it->second.data(), it->second.size());
    absl::MutexLock lock(&mu_);
    calls_.emplace_back(method, id);
  }

  EventLog* const log_;
  absl::Mutex mu_;
  std::vector<std::pair<std::string, std::string>> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::SubmitApplicationRequest> submitted_ ABSL_GUARDED_BY(mu_);
};

class CitizenApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ = std::make_unique<FakeNode>(node_log_.log());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(node_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    pool_ = std::make_unique<gateway::NodePool>(
        [](const std::string&) { return grpc::InsecureChannelCredentials(); },
        gateway::OutlierPolicy{}, &clock_, nullptr);
    v1::FederationDirectory directory;
    v1::DirectoryNode* n = directory.add_nodes();
    n->set_province_code(kHunan);
    n->set_address("127.0.0.1:" + std::to_string(port));
    pool_->Update(directory);
    metrics_ = std::make_unique<gateway::GatewayMetrics>(registry_);
    gateway::NodeCaller caller{pool_.get(), metrics_.get()};
    queries_ = std::make_unique<gateway::QueryServiceImpl>(caller, nullptr, nullptr,
                                                           gateway::QueryOptions{});
    CitizenApiOptions options;
    options.log = gateway_log_.log();
    api_ = std::make_unique<CitizenApi>(caller, queries_.get(), options);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  static CitizenCaller Caller() {
    CitizenCaller c;
    c.citizen_id = kCitizen;
    c.deadline = absl::Now() + absl::Seconds(10);
    return c;
  }
  static v1::SubmitMyApplicationRequest Submission(const std::string& key) {
    v1::SubmitMyApplicationRequest r;
    r.set_idempotency_key(key);
    r.set_accepting_province(kHunan);
    r.set_handling_province(kHunan);
    r.set_item_code("GG00020600");
    return r;
  }
  grpc::Status Submit(const CitizenCaller& caller, const std::string& body_key) {
    v1::SubmitMyApplicationResponse resp;
    return api_->SubmitMyApplication(caller, Submission(body_key), &resp);
  }

  CapturedLog gateway_log_;
  CapturedLog node_log_;
  SystemClock clock_;
  prometheus::Registry registry_;
  std::unique_ptr<FakeNode> node_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<gateway::NodePool> pool_;
  std::unique_ptr<gateway::GatewayMetrics> metrics_;
  std::unique_ptr<gateway::QueryServiceImpl> queries_;
  std::unique_ptr<CitizenApi> api_;
};

// ---- Idempotency-Key ----------------------------------------------------------

TEST_F(CitizenApiTest, IdempotencyKeyHeaderIsTheKeyWhenTheBodyHasNone) {
  CitizenCaller caller = Caller();
  caller.idempotency_key = "hdr-key-0001";
  ASSERT_TRUE(Submit(caller, "").ok());
  caller.idempotency_key = "\"hdr-key-0002\"";  // the IETF draft's sf-string form
  ASSERT_TRUE(Submit(caller, "").ok());
  caller.idempotency_key = "";
  ASSERT_TRUE(Submit(caller, "body-key-0003").ok());
  caller.idempotency_key = "same-key-0004";
  ASSERT_TRUE(Submit(caller, "same-key-0004").ok());
  std::vector<v1::SubmitApplicationRequest> got = node_->submitted();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].idempotency_key(), "hdr-key-0001");
  EXPECT_EQ(got[1].idempotency_key(), "hdr-key-0002");
  EXPECT_EQ(got[2].idempotency_key(), "body-key-0003");
  EXPECT_EQ(got[3].idempotency_key(), "same-key-0004");
}

TEST_F(CitizenApiTest, DifferentKeysInBodyAndHeaderAreRefusedBeforeTheNode) {
  CitizenCaller caller = Caller();
  caller.idempotency_key = "hdr-key-0001";
  grpc::Status s = Submit(caller, "body-key-0001");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), StartsWith("idempotency_key differs from the Idempotency-Key"));
  EXPECT_TRUE(node_->submitted().empty());
}

TEST(IdempotencyKeyOf, Cases) {
  auto key = [](const std::string& header, const std::string& body) {
    CitizenCaller c;
    c.idempotency_key = header;
    v1::SubmitMyApplicationRequest r;
    r.set_idempotency_key(body);
    absl::StatusOr<std::string> k = IdempotencyKeyOf(c, r);
    return k.ok() ? *k : "error: " + std::string(k.status().message());
  };
  EXPECT_EQ(key("", ""), "");  // the node refuses it, naming idempotency_key
  EXPECT_EQ(key("abc-12345", ""), "abc-12345");
  EXPECT_EQ(key(" \"abc-12345\" ", ""), "abc-12345");
  EXPECT_EQ(key("\"", ""), "\"");  // not a quoted string: passed on, the node refuses it
  EXPECT_EQ(key("", "abc-12345"), "abc-12345");
  EXPECT_EQ(key("\"abc-12345\"", "abc-12345"), "abc-12345");
  EXPECT_THAT(key("abc-12345", "abc-67890"), StartsWith("error: idempotency_key differs"));
}

// ---- request ids -------------------------------------------------------------

TEST_F(CitizenApiTest, RequestIdReachesTheNodeAndBothLogLines) {
  CitizenCaller caller = Caller();
  caller.request_id = "req-7f3a-0001";
  caller.idempotency_key = "rid-key-0001";
  ASSERT_TRUE(Submit(caller, "").ok());
  v1::ListMyApplicationsResponse listed;  // a fan-out (FanOut) as well as a single call
  ASSERT_TRUE(api_->ListMyApplications(caller, {}, &listed).ok());

  using Call = std::pair<std::string, std::string>;
  EXPECT_THAT(node_->calls(),
              ::testing::ElementsAre(Call{"SubmitApplication", "req-7f3a-0001"},
                                     Call{"ListApplicationsByApplicant", "req-7f3a-0001"}));
  const std::string gateway = gateway_log_.Text();
  EXPECT_THAT(gateway, HasSubstr("event=citizen.call method=SubmitMyApplication code=OK "));
  EXPECT_THAT(gateway, HasSubstr("event=citizen.call method=ListMyApplications code=OK "));
  EXPECT_THAT(gateway, HasSubstr(" request_id=req-7f3a-0001\n"));
  EXPECT_THAT(gateway, Not(HasSubstr(kCitizen)));  // personal data stays out of logs
  EXPECT_THAT(node_log_.Text(),
              HasSubstr("event=application.submitted id=TB-1 request_id=req-7f3a-0001\n"));
  // The scope ended with the call.
  EXPECT_EQ(CurrentRequestId(), "");
}

TEST_F(CitizenApiTest, InvalidOrMissingRequestIdIsNotPassedOn) {
  CitizenCaller caller = Caller();
  caller.idempotency_key = "rid-key-0002";
  caller.request_id = "evil\nts=0 level=error event=forged";
  ASSERT_TRUE(Submit(caller, "").ok());
  caller.request_id = "";
  caller.idempotency_key = "rid-key-0003";
  ASSERT_TRUE(Submit(caller, "").ok());
  using Call = std::pair<std::string, std::string>;
  EXPECT_THAT(node_->calls(), ::testing::ElementsAre(Call{"SubmitApplication", "<none>"},
                                                     Call{"SubmitApplication", "<none>"}));
  EXPECT_THAT(gateway_log_.Text(), Not(HasSubstr("request_id")));
  EXPECT_THAT(gateway_log_.Text(), Not(HasSubstr("forged")));
  EXPECT_THAT(node_log_.Text(), Not(HasSubstr("request_id")));
}

TEST_F(CitizenApiTest, RefusedCallsAreLoggedWithTheirCode) {
  CitizenCaller anonymous;
  anonymous.request_id = "req-anon-1";
  v1::SubmitMyApplicationResponse resp;
  EXPECT_EQ(api_->SubmitMyApplication(anonymous, Submission("k-12345678"), &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(gateway_log_.Text(),
              HasSubstr("event=citizen.call method=SubmitMyApplication code=Unauthenticated "));
  EXPECT_THAT(gateway_log_.Text(), HasSubstr(" request_id=req-anon-1\n"));
  EXPECT_TRUE(node_->calls().empty());
}

}  // namespace
}  // namespace tongban::edge
