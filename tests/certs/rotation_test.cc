// Certificate rotation without restart, on a real node with real files:
// renewing the node's certificate (certs/issue.sh, atomic swap) while
// clients call it continuously, and rotating the CA (certs/rotate-ca.sh
// phase1/phase2) likewise. No call may fail; fresh connections must see the
// new certificate within the refresh interval, and long-lived connections
// too, thanks to tls.max_connection_age_seconds.
//
// (An expired client certificate being refused at the handshake is covered
// by integration.NodeAuthTest.ExpiredCertificateIsRefusedAtHandshake.)
#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "certs_test_util.h"
#include "gtest/gtest.h"

namespace tongban::testing::certs {
namespace {

using namespace std::chrono_literals;

// Calls the node continuously from two threads until stopped: one over a
// single long-lived channel, one over a fresh channel (new handshake) per
// call. Records failures and the server serials seen on the long-lived one.
class Traffic {
 public:
  Traffic(std::string address, Tls tls) : address_(std::move(address)), tls_(std::move(tls)) {
    long_lived_ = WatchingChannel(address_, tls_);
    threads_.emplace_back([this] { Loop(/*fresh=*/false); });
    threads_.emplace_back([this] { Loop(/*fresh=*/true); });
  }
  ~Traffic() { Stop(); }

  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  int calls() const { return calls_; }
  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }
  bool LongLivedSaw(const std::string& serial) {
    std::lock_guard<std::mutex> lock(mu_);
    return long_lived_serials_.count(serial) > 0;
  }

 private:
  void Loop(bool fresh) {
    while (!stop_) {
      std::shared_ptr<grpc::Channel> channel = fresh ? WatchingChannel(address_, tls_) : long_lived_;
      std::string serial;
      grpc::Status s = CatalogInfo(channel.get(), &serial);
      ++calls_;
      std::lock_guard<std::mutex> lock(mu_);
      if (!s.ok()) {
        failures_.push_back(std::string(fresh ? "fresh" : "long-lived") + ": " +
                            std::to_string(s.error_code()) + " " + s.error_message());
      } else if (!fresh) {
        long_lived_serials_.insert(serial);
      }
      if (!fresh) {
        // Keep the long-lived connection busy but not saturated.
        std::this_thread::sleep_for(5ms);
      }
    }
  }

  const std::string address_;
  const Tls tls_;
  std::shared_ptr<grpc::Channel> long_lived_;
  std::atomic<bool> stop_{false};
  std::atomic<int> calls_{0};
  std::mutex mu_;
  std::vector<std::string> failures_;
  std::set<std::string> long_lived_serials_;
  std::vector<std::thread> threads_;
};

std::string ServerSerial(const std::string& address, const Tls& tls) {
  auto channel = WatchingChannel(address, tls);
  std::string serial;
  grpc::Status s = CatalogInfo(channel.get(), &serial);
  return s.ok() ? serial : "error: " + s.error_message();
}

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size() && i < 10; ++i) out += "\n  " + v[i];
  return out;
}

TEST(RotationTest, NodeCertificateRenewedUnderTrafficWithoutFailedCalls) {
  std::string pki = CopyPki("certs-rotate");
  ASSERT_FALSE(pki.empty());
  auto node = StartNode(pki, pki + "/../node", RecyclingAfter(2));
  ASSERT_TRUE(node->running()) << node->ReadLog();
  const std::string node_cert = pki + "/province/440000/node/cert.pem";
  const std::string old_serial = SerialOfFile(node_cert);
  Tls officer = TlsAt(pki, "province/440000/officer/officer-01");
  ASSERT_EQ(ServerSerial(node->grpc_address(), officer), old_serial);

  Traffic traffic(node->grpc_address(), officer);
  ASSERT_TRUE(WaitFor(10s, [&] { return traffic.LongLivedSaw(old_serial); }));

  std::string out;
  ASSERT_EQ(Shell(Script("issue.sh") + " node 440000 --days 30 --out " + pki, &out), 0) << out;
  const std::string new_serial = SerialOfFile(node_cert);
  ASSERT_FALSE(new_serial.empty());
  ASSERT_NE(new_serial, old_serial);

  // A fresh connection sees the new certificate within the refresh interval
  // (1 s; allow for load).
  EXPECT_TRUE(WaitFor(15s, [&] { return ServerSerial(node->grpc_address(), officer) == new_serial; }))
      << "the node still serves " << ServerSerial(node->grpc_address(), officer);
  // The long-lived connection is recycled (max_connection_age_seconds: 2)
  // and its calls then see the new certificate too.
  EXPECT_TRUE(WaitFor(15s, [&] { return traffic.LongLivedSaw(new_serial); }))
      << "the long-lived channel never reconnected: max connection age not applied?";
  // Keep calling a little longer on the new certificate.
  std::this_thread::sleep_for(2s);
  traffic.Stop();
  EXPECT_GT(traffic.calls(), 50);
  std::vector<std::string> failures = traffic.failures();
  EXPECT_TRUE(failures.empty()) << failures.size() << " of " << traffic.calls()
                                << " calls failed during the rotation:" << Joined(failures);
  EXPECT_EQ(node->Terminate(), 0);
}

TEST(RotationTest, CaRotatedInTwoPhasesWhileNodeServes) {
  std::string pki = CopyPki("certs-rotate-ca", "440000");
  ASSERT_FALSE(pki.empty());
  // An officer certificate of the old CA, kept aside: after phase2 it must be refused.
  std::string old_officer_dir = pki + "/../old-officer";
  std::string out;
  ASSERT_EQ(Shell("mkdir -p " + old_officer_dir + " && cp " + pki +
                    "/province/440000/officer/officer-02/*.pem " + old_officer_dir, &out), 0)
      << out;
  Tls old_officer{old_officer_dir + "/cert.pem", old_officer_dir + "/key.pem", pki + "/ca/ca.pem", ""};

  auto node = StartNode(pki, pki + "/../node", RecyclingAfter(2));
  ASSERT_TRUE(node->running()) << node->ReadLog();
  const std::string node_cert = pki + "/province/440000/node/cert.pem";
  const std::string old_serial = SerialOfFile(node_cert);
  // The traffic client re-reads its own files like any process (officer-01's
  // certificate is re-issued by phase1 too).
  Traffic traffic(node->grpc_address(), TlsAt(pki, "province/440000/officer/officer-01"));

  // phase1: bundle old+new, wait 3 s for every reader (1 s refresh), re-issue.
  ASSERT_EQ(Shell(Script("rotate-ca.sh") + " phase1 --settle 3 --out " + pki, &out), 0) << out;
  const std::string new_serial = SerialOfFile(node_cert);
  ASSERT_NE(new_serial, old_serial);
  Tls new_officer = TlsAt(pki, "province/440000/officer/officer-02");
  EXPECT_TRUE(WaitFor(15s, [&] { return ServerSerial(node->grpc_address(), new_officer) == new_serial; }))
      << "the node does not serve its new-CA certificate";
  // Both generations are trusted during the rotation.
  EXPECT_TRUE(CatalogInfo(WatchingChannel(node->grpc_address(), old_officer).get()).ok());
  EXPECT_TRUE(CatalogInfo(WatchingChannel(node->grpc_address(), new_officer).get()).ok());

  // phase2: the old CA leaves the bundle; its certificates are refused at the
  // handshake once the node has re-read ca.pem.
  ASSERT_EQ(Shell(Script("rotate-ca.sh") + " phase2 --out " + pki, &out), 0) << out;
  EXPECT_TRUE(WaitFor(15s, [&] {
    return CatalogInfo(WatchingChannel(node->grpc_address(), old_officer).get()).error_code() ==
           grpc::StatusCode::UNAVAILABLE;
  })) << "an old-CA certificate is still accepted after phase2";
  EXPECT_TRUE(CatalogInfo(WatchingChannel(node->grpc_address(), new_officer).get()).ok());
  std::this_thread::sleep_for(3s);  // long-lived connections recycled under the new bundle
  traffic.Stop();
  std::vector<std::string> failures = traffic.failures();
  EXPECT_TRUE(failures.empty()) << failures.size() << " of " << traffic.calls()
                                << " calls failed during the CA rotation:" << Joined(failures);

  // tongbanctl agrees: every leaf is from the new CA, none is a problem.
  int rc = Shell(TongbanctlBinary() + " certs check " + pki, &out);
  EXPECT_NE(out.find("ok    province/440000/node/cert.pem"), std::string::npos) << out;
  EXPECT_EQ(out.find("[chain] province/"), std::string::npos) << out;
  EXPECT_EQ(rc, 1) << "test/ holds the deliberately broken certificates: " << out;
  EXPECT_EQ(node->Terminate(), 0);
}

}  // namespace
}  // namespace tongban::testing::certs
