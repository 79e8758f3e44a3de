// A rolling upgrade of a replicated province (issue 15, docs/operations.md
// "Deploying one province"): Shanghai runs as three node replicas on one
// PostgreSQL database; while window clients file and read applications
// through one round-robin channel over the replicas (as through a headless
// Service), each replica in turn is stopped with SIGTERM, as Kubernetes stops
// a pod, and started again once it has exited. No call may fail: a stopping
// node answers NOT_SERVING, finishes its in-flight calls and sends GOAWAY,
// and the clients' calls move to the other replicas. Calls carry no
// application-level retry; only gRPC's own transparent retry of streams the
// server refused before reading them.
#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "federation.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "node_test_data.h"
#include "postgres_test_server.h"
#include "tongban/v1/application.grpc.pb.h"

namespace tongban::testing {
namespace {

constexpr char kHunan[] = "430000";
constexpr char kShanghai[] = "310000";
constexpr int kClients = 4;

class Traffic {
 public:
  Traffic(std::string address, std::string run) : address_(std::move(address)), run_(std::move(run)) {
    for (int i = 0; i < kClients; ++i) threads_.emplace_back([this, i] { Client(i); });
  }
  ~Traffic() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  int64_t calls() const { return calls_.load(); }
  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }

 private:
  void Client(int index) {
    auto stub = v1::ApplicationService::NewStub(
        FastChannel(address_, std::string("province/") + kShanghai + "/officer/officer-01"));
    for (int64_t n = 0; !stop_.load(); ++n) {
      const std::string key = run_ + "-c" + std::to_string(index) + "-" + std::to_string(n);
      grpc::ClientContext submit_context;
      submit_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      v1::SubmitApplicationResponse filed;
      grpc::Status s = stub->SubmitApplication(
          &submit_context,
          Submission(key, kSocialSecurityCard, kShanghai, {"M01", "M02", "M03", "M09"}), &filed);
      if (!s.ok()) {
        Fail("SubmitApplication " + key, s);
        continue;
      }
      ++calls_;
      grpc::ClientContext get_context;
      get_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      v1::GetApplicationRequest get;
      get.set_application_id(filed.application().application_id());
      v1::GetApplicationResponse got;
      s = stub->GetApplication(&get_context, get, &got);
      if (!s.ok()) {
        Fail("GetApplication " + get.application_id(), s);
        continue;
      }
      ++calls_;
    }
  }
  void Fail(const std::string& what, const grpc::Status& s) {
    std::lock_guard<std::mutex> lock(mu_);
    failures_.push_back(what + ": " + std::to_string(s.error_code()) + " " + s.error_message());
  }

  const std::string address_;
  const std::string run_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> calls_{0};
  std::mutex mu_;
  std::vector<std::string> failures_;
  std::vector<std::thread> threads_;
};

TEST(RollingRestartTest, ThreeReplicasRestartedOneAtATimeFailNoCall) {
  auto database = node::testing::ScratchPostgresDatabase::Create();
  ASSERT_TRUE(database.ok()) << database.status();
  FederationOptions options;
  options.name = "rolling-restart";
  options.provinces = {kHunan, kShanghai};
  options.postgres[kShanghai] = (*database)->conninfo();
  options.replicas[kShanghai] = 3;
  Federation federation(options);
  std::string error;
  ASSERT_TRUE(federation.Start(&error)) << error;

  const std::string run = "roll-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  Traffic traffic(federation.node_address(kShanghai), run);
  ASSERT_TRUE(WaitUntil(std::chrono::seconds(20), [&] { return traffic.calls() >= 50; }))
      << "no traffic: " << (traffic.failures().empty() ? "" : traffic.failures().front());

  for (int r = 0; r < federation.replica_count(kShanghai); ++r) {
    const int64_t before = traffic.calls();
    EXPECT_EQ(federation.StopReplica(kShanghai, r), 0) << "replica " << r << " did not exit cleanly";
    ASSERT_TRUE(federation.RestartReplica(kShanghai, r, &error)) << error;
    // The next replica goes only after traffic flowed with this one back
    // (Kubernetes waits for readiness and minReadySeconds likewise).
    ASSERT_TRUE(WaitUntil(std::chrono::seconds(20), [&] { return traffic.calls() >= before + 50; }))
        << "traffic stalled after restarting replica " << r;
    std::cout << "replica " << r << " of " << kShanghai << " restarted; " << traffic.calls()
              << " calls so far" << std::endl;
  }
  traffic.Stop();
  const std::vector<std::string> failures = traffic.failures();
  std::string shown;
  for (size_t i = 0; i < failures.size() && i < 10; ++i) shown += "\n  " + failures[i];
  EXPECT_TRUE(failures.empty()) << failures.size() << " of " << traffic.calls() + failures.size()
                                << " calls failed during the rolling restart:" << shown;
  EXPECT_GE(traffic.calls(), 200);
}

}  // namespace
}  // namespace tongban::testing
