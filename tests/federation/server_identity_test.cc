// The gateway checks who answers at a directory entry's address: a node is
// reached only when its certificate's URI SAN names the province the gateway
// meant to reach (issue 10). A directory entry for Shanghai (310000) that
// points at Hunan's node (430000) — a mistake or a hijacked address; Hunan's
// certificate is valid, from the same CA, with the same DNS/IP SANs — gets
// no call through: routed calls fail UNAVAILABLE, nothing is delivered to
// Hunan, the gateway logs both identities, and the application waits in the
// accepting node's outbox until the entry is right again.
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "federation.h"
#include "gtest/gtest.h"
#include "grpcpp/grpcpp.h"
#include "node_test_data.h"
#include "tongban/v1/application.grpc.pb.h"
#include "tongban/v1/federation.grpc.pb.h"
#include "tongban/v1/gateway.grpc.pb.h"

namespace tongban::testing {
namespace {

using grpc::StatusCode;
using std::chrono::seconds;

constexpr char kHunan[] = "430000";
constexpr char kShanghai[] = "310000";
constexpr char kGuangdong[] = "440000";

std::string Officer(const std::string& province) {
  return "province/" + province + "/officer/officer-01";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << text;
    if (!out) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

// Replaces every occurrence of `from` in `text`.
std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

class ServerIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FederationOptions options;
    options.name = "server-identity";
    options.provinces = {kHunan, kShanghai, kGuangdong};
    options.catalog_cache = false;
    federation_ = std::make_unique<Federation>(options);
    std::string error;
    ASSERT_TRUE(federation_->Start(&error)) << error;
  }
  void TearDown() override {
    if (HasFailure()) {
      std::cout << federation_->LogTails(3000) << std::endl;
      federation_->KeepWorkdir();
    }
  }

  // Points Shanghai's directory entry at Hunan's node (same host, Hunan's port).
  bool PointShanghaiAtHunan() {
    const std::string file = federation_->workdir() + "/directory.textproto";
    std::string text = ReadFile(file);
    const std::string from = "\"" + federation_->node_address(kShanghai) + "\"";
    if (text.find(from) == std::string::npos) return false;
    return WriteFile(file, ReplaceAll(text, from, "\"" + federation_->node_address(kHunan) + "\""));
  }

  // FetchGuide of Shanghai's item through the gateway's relay, as Guangdong's node.
  grpc::Status FetchShanghaiGuide() {
    auto relay = v1::FederationService::NewStub(
        FastChannel(federation_->gateway_address(), "province/440000/node"));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(5000));
    v1::FetchGuideRequest req;
    req.set_province_code(kShanghai);
    req.set_item_code(kSocialSecurityCard);
    v1::FetchGuideResponse resp;
    return relay->FetchGuide(&ctx, req, &resp);
  }

  grpc::Status Get(const std::string& province, const std::string& id, v1::Application* out) {
    auto apps = v1::ApplicationService::NewStub(
        FastChannel(federation_->node_address(province), Officer(province)));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(5000));
    v1::GetApplicationRequest req;
    req.set_application_id(id);
    v1::GetApplicationResponse resp;
    grpc::Status s = apps->GetApplication(&ctx, req, &resp);
    if (s.ok()) *out = resp.application();
    return s;
  }

  std::string AllLogs() const {
    std::string all;
    for (const std::string& path : federation_->AllLogPaths()) all += ReadFile(path);
    return all;
  }

  std::unique_ptr<Federation> federation_;
};

TEST_F(ServerIdentityTest, EntryServingAnotherProvincesCertificateGetsNothing) {
  ASSERT_TRUE(FetchShanghaiGuide().ok());
  ASSERT_TRUE(PointShanghaiAtHunan());

  // The gateway dials Hunan's node for Shanghai: refused at the handshake.
  grpc::Status last;
  ASSERT_TRUE(WaitUntil(seconds(10), [&] {
    last = FetchShanghaiGuide();
    return last.error_code() == StatusCode::UNAVAILABLE;
  })) << "still " << last.error_code() << " " << last.error_message();

  // Filed at Guangdong for Shanghai: the submission is accepted and queued,
  // and its delivery never reaches Hunan.
  auto apps = v1::ApplicationService::NewStub(
      FastChannel(federation_->node_address(kGuangdong), Officer(kGuangdong)));
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(15000));
  v1::SubmitApplicationResponse submitted;
  grpc::Status s = apps->SubmitApplication(
      &ctx, Submission("server-identity-0001", kSocialSecurityCard, kShanghai,
                       {"M01", "M02", "M03", "M09"}),
      &submitted);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  const std::string id = submitted.application().application_id();

  // Several forwarding attempts (the forwarder retries within a second or two).
  std::this_thread::sleep_for(seconds(5));
  v1::Application copy;
  EXPECT_EQ(Get(kHunan, id, &copy).error_code(), StatusCode::NOT_FOUND) << copy.ShortDebugString();
  ASSERT_TRUE(Get(kGuangdong, id, &copy).ok());
  EXPECT_EQ(copy.forwarding(), v1::FORWARDING_STATE_PENDING) << copy.ShortDebugString();

  // The gateway says why, naming the expected and the presented identity.
  std::string logs = AllLogs();
  EXPECT_NE(logs.find("node.identity_refused"), std::string::npos);
  EXPECT_NE(logs.find("expected exactly one URI SAN spiffe://tongban/province/310000, the server "
                      "presented URI SAN spiffe://tongban/province/430000"),
            std::string::npos);

  // With the entry right again the queued application reaches Shanghai.
  std::string error;
  ASSERT_TRUE(federation_->RewriteDirectory(federation_->provinces(), &error)) << error;
  EXPECT_TRUE(WaitUntil(seconds(60), [&] {
    v1::Application at_shanghai;
    return Get(kShanghai, id, &at_shanghai).ok();
  })) << "never delivered to 310000 after the directory was fixed";
  EXPECT_EQ(Get(kHunan, id, &copy).error_code(), StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace tongban::testing
