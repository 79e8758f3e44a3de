// Revocation with CRLs on real nodes (gRPC 1.51, OpenSSL 3.0): a revoked
// officer or node certificate is refused at the TLS handshake, a CRL published
// under a new suffix is picked up by a running node, and what happens with a
// missing, empty, unreadable or expired CRL — the behaviour docs/operations.md
// ("Revoke a certificate") describes. Each test works on a private copy of
// the test PKI.
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "certs_test_util.h"
#include "gtest/gtest.h"
#include "node_test_data.h"
#include "record_author.h"
#include "tongban/v1/application.grpc.pb.h"
#include "tongban/v1/federation.grpc.pb.h"

namespace tongban::testing::certs {
namespace {

using grpc::StatusCode;
using namespace std::chrono_literals;

class RevocationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = CopyPki("certs-revoke");
    ASSERT_FALSE(pki_.empty());
    crl_ = pki_ + "/crl";
    work_ = pki_ + "/../node";
  }

  // Status of GetCatalogInfo presenting `identity` (a directory of the PKI
  // copy), over a fresh connection; the client checks no CRL.
  StatusCode Call(const std::string& address, const std::string& identity) {
    return CatalogInfo(WatchingChannel(address, TlsAt(pki_, identity)).get()).error_code();
  }

  void Revoke(const std::string& identity) {
    std::string out;
    ASSERT_EQ(Shell(Script("revoke.sh") + " " + pki_ + "/" + identity +
                      "/cert.pem --reason keyCompromise --out " + pki_, &out), 0)
        << out;
  }

  // Writes a CRL of the PKI's CA with the given openssl `ca -gencrl` date
  // options into `dir`/<hash>.r0.
  void WriteCrl(const std::string& dir, const std::string& date_options) {
    std::string out;
    ASSERT_EQ(Shell("mkdir -p " + dir + " && cd " + pki_ +
                      "/ca && openssl ca -config ca.cnf -gencrl " + date_options +
                      " -out ../gen.crl.pem && cp ../gen.crl.pem " + dir +
                      "/$(openssl crl -hash -noout -in ../gen.crl.pem).r0", &out), 0)
        << out;
  }

  std::string pki_;
  std::string crl_;
  std::string work_;
};

constexpr char kOfficer1[] = "province/440000/officer/officer-01";
constexpr char kOfficer2[] = "province/440000/officer/officer-02";
constexpr char kOfficer3[] = "province/440000/officer/officer-03";

TEST_F(RevocationTest, RevokedOfficerIsRefusedAtHandshakeAndANewCrlIsPickedUpWhileRunning) {
  std::string out;
  ASSERT_EQ(Shell(Script("issue.sh") + " officer 440000 officer-03 --out " + pki_, &out), 0) << out;
  Revoke(kOfficer1);
  auto node = StartNode(pki_, work_, WithCrl(crl_));
  ASSERT_TRUE(node->running()) << node->ReadLog();

  EXPECT_EQ(Call(node->grpc_address(), kOfficer1), StatusCode::UNAVAILABLE);
  EXPECT_EQ(Call(node->grpc_address(), kOfficer2), StatusCode::OK);
  EXPECT_EQ(Call(node->grpc_address(), kOfficer3), StatusCode::OK);
  // OpenSSL's X509_V_ERR_CERT_REVOKED, logged by gRPC.
  EXPECT_NE(node->ReadLog().find("Certificate verify failed with code 23"), std::string::npos)
      << node->ReadLog();

  // Revoke a second officer while the node runs: revoke.sh publishes the
  // new CRL as <hash>.r1, which the node reads at the next handshake.
  Revoke(kOfficer2);
  EXPECT_TRUE(WaitFor(10s, [&] {
    return Call(node->grpc_address(), kOfficer2) == StatusCode::UNAVAILABLE;
  })) << "a CRL published under a new suffix was not picked up";
  EXPECT_EQ(Call(node->grpc_address(), kOfficer1), StatusCode::UNAVAILABLE);
  EXPECT_EQ(Call(node->grpc_address(), kOfficer3), StatusCode::OK);
  EXPECT_EQ(node->Terminate(), 0);
}

// Pins the gRPC 1.51 / OpenSSL behaviour that makes revoke.sh add a suffix
// instead of overwriting: a running process never re-reads a CRL file it has
// loaded. If this starts failing, gRPC reloads CRLs now: update
// docs/operations.md ("Revoke a certificate").
TEST_F(RevocationTest, OverwrittenCrlFileIsNotReloadedByARunningNode) {
  Revoke(kOfficer1);  // -> <hash>.r0
  auto node = StartNode(pki_, work_, WithCrl(crl_));
  ASSERT_TRUE(node->running()) << node->ReadLog();
  ASSERT_EQ(Call(node->grpc_address(), kOfficer1), StatusCode::UNAVAILABLE);  // r0 loaded
  Revoke(kOfficer2);  // -> <hash>.r1; move it over r0, as a naive publisher would
  std::string out;
  ASSERT_EQ(Shell("cd " + crl_ + " && for f in *.r1; do mv -f \"$f\" \"${f%.r1}.r0\"; done", &out), 0)
      << out;
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(Call(node->grpc_address(), kOfficer2), StatusCode::OK)
      << "the overwritten CRL was reloaded: gRPC behaviour changed, update the docs";
  // A restarted node reads the directory afresh.
  ASSERT_EQ(node->Terminate(), 0);
  node = StartNode(pki_, work_, WithCrl(crl_));
  ASSERT_TRUE(node->running()) << node->ReadLog();
  EXPECT_EQ(Call(node->grpc_address(), kOfficer2), StatusCode::UNAVAILABLE);
  EXPECT_EQ(node->Terminate(), 0);
}

TEST_F(RevocationTest, RevokedNodeCertificateIsRefusedAsClientAndAsServer) {
  Revoke("province/430000/node");
  Revoke("province/440000/node");
  auto node = StartNode(pki_, work_, WithCrl(crl_));
  ASSERT_TRUE(node->running()) << node->ReadLog();
  // As a client: the revoked Hunan node is refused at the handshake; an
  // unrevoked node gets through the handshake and is denied by authorization.
  EXPECT_EQ(Call(node->grpc_address(), "province/430000/node"), StatusCode::UNAVAILABLE);
  EXPECT_EQ(Call(node->grpc_address(), "province/310000/node"), StatusCode::PERMISSION_DENIED);
  // As a server: a client with the CRL directory (as the gateway is
  // configured) refuses the revoked Guangdong node; without it, it does not.
  Tls gateway_with_crl = TlsAt(pki_, "gateway", crl_);
  EXPECT_EQ(CatalogInfo(WatchingChannel(node->grpc_address(), gateway_with_crl).get()).error_code(),
            StatusCode::UNAVAILABLE);
  EXPECT_EQ(Call(node->grpc_address(), "gateway"), StatusCode::OK);
  EXPECT_EQ(node->Terminate(), 0);
}

TEST_F(RevocationTest, NodeAndGatewayRefuseToStartWithoutAUsableCrl) {
  struct Case {
    std::string name;
    std::string dir;
    std::string message;
  };
  std::string empty = pki_ + "/../crl-empty";
  std::string expired = pki_ + "/../crl-expired";
  std::string garbage = pki_ + "/../crl-garbage";
  std::string out;
  ASSERT_EQ(Shell("mkdir -p " + empty + " " + garbage), 0);
  WriteCrl(expired, "-crl_lastupdate 20200101000000Z -crl_nextupdate 20200108000000Z");
  ASSERT_EQ(Shell("cp " + expired + "/*.r0 " + garbage + "/ && for f in " + garbage +
                    "/*.r0; do echo garbage > $f; done", &out), 0)
      << out;
  for (const Case& c : {Case{"missing", pki_ + "/../no-such-dir", "does not exist"},
                        Case{"empty", empty, "no CRL of CA"},
                        Case{"expired", expired, "expired at 2020-01-08T00:00:00Z"},
                        Case{"unreadable", garbage, "is not a readable PEM CRL"}}) {
    auto node = StartNode(pki_, work_ + "-" + c.name, WithCrl(c.dir));
    EXPECT_FALSE(node->running()) << c.name;
    EXPECT_EQ(node->WaitExit(), 2) << c.name;
    std::string log = node->ReadLog();
    EXPECT_NE(log.find("tls.crl_directory"), std::string::npos) << c.name << ": " << log;
    EXPECT_NE(log.find(c.message), std::string::npos) << c.name << ": " << log;
  }
  // The gateway runs the same check (and has --crl_dir too).
  Tls gw = TlsAt(pki_, "gateway");
  ASSERT_EQ(Shell("printf '' > " + empty + "/../directory.textproto"), 0);
  int rc = Shell("timeout 20 " + std::string(TONGBAN_GATEWAY_BINARY) + " --listen=127.0.0.1:0 --directory=" + empty +
                   "/../directory.textproto --cert=" + gw.cert + " --key=" + gw.key + " --ca=" +
                   gw.ca + " --crl_dir=" + empty,
               &out);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("no CRL of CA"), std::string::npos) << out;
}

// What the start-up check protects against: gRPC 1.51 ignores a missing CRL
// (X509_V_ERR_UNABLE_TO_GET_CRL), so a CRL gone before the node first needed
// it means no revocation at all, without a word (fail-open). A CRL loaded once
// stays in memory, so deleting it later changes nothing.
TEST_F(RevocationTest, MissingCrlFailsOpenAndALoadedCrlStaysInMemory) {
  Revoke(kOfficer1);
  Revoke("province/440000/officer/officer-02");
  // Node A: the CRL files disappear after start, before any handshake.
  auto a = StartNode(pki_, work_ + "-a", WithCrl(crl_));
  ASSERT_TRUE(a->running()) << a->ReadLog();
  std::string out;
  ASSERT_EQ(Shell("mkdir -p " + pki_ + "/crl-aside && mv " + crl_ + "/* " + pki_ + "/crl-aside/", &out),
            0)
      << out;
  EXPECT_EQ(Call(a->grpc_address(), kOfficer1), StatusCode::OK)
      << "a revoked certificate was refused without any CRL: gRPC no longer fails open";
  // Node B: loads the CRL at a first handshake, then the files go away.
  ASSERT_EQ(Shell("mv " + pki_ + "/crl-aside/* " + crl_ + "/", &out), 0) << out;
  auto b = StartNode(pki_, work_ + "-b", WithCrl(crl_));
  ASSERT_TRUE(b->running()) << b->ReadLog();
  EXPECT_EQ(Call(b->grpc_address(), kOfficer2), StatusCode::UNAVAILABLE);
  ASSERT_EQ(Shell("mv " + crl_ + "/* " + pki_ + "/crl-aside/", &out), 0) << out;
  EXPECT_EQ(Call(b->grpc_address(), kOfficer1), StatusCode::UNAVAILABLE);
  EXPECT_EQ(a->Terminate(), 0);
  EXPECT_EQ(b->Terminate(), 0);
}

// An expired CRL fails closed: once the newest CRL a node has passes its
// nextUpdate, every certificate of that CA is refused (OpenSSL error 12),
// until a fresh CRL is published (revoke.sh --refresh-crl, a new suffix).
TEST_F(RevocationTest, CrlExpiringWhileRunningRefusesEveryoneUntilRefreshed) {
  std::string next_update;
  ASSERT_EQ(Shell("date -u -d '+8 seconds' +%Y%m%d%H%M%SZ", &next_update), 0);
  while (!next_update.empty() && next_update.back() == '\n') next_update.pop_back();
  WriteCrl(crl_, "-crl_nextupdate " + next_update);
  auto node = StartNode(pki_, work_, WithCrl(crl_));
  ASSERT_TRUE(node->running()) << node->ReadLog();
  EXPECT_EQ(Call(node->grpc_address(), kOfficer2), StatusCode::OK);
  EXPECT_TRUE(WaitFor(20s, [&] {
    return Call(node->grpc_address(), kOfficer2) == StatusCode::UNAVAILABLE;
  })) << "an expired CRL did not make the node refuse";
  EXPECT_EQ(Call(node->grpc_address(), "gateway"), StatusCode::UNAVAILABLE);
  EXPECT_NE(node->ReadLog().find("Certificate verify failed with code 12"), std::string::npos);

  std::string out;
  ASSERT_EQ(Shell(Script("revoke.sh") + " --refresh-crl --out " + pki_, &out), 0) << out;
  EXPECT_TRUE(WaitFor(10s, [&] { return Call(node->grpc_address(), kOfficer2) == StatusCode::OK; }))
      << "a refreshed CRL (new suffix) did not end the outage";
  EXPECT_EQ(node->Terminate(), 0);
}

// Signed records and revocation (docs/protocol.md, "Signed records"): a
// record signed by a node whose certificate is revoked is refused with
// nothing written, as soon as the CRL naming it is published, while what the
// province said before stays stored.
TEST_F(RevocationTest, RecordsSignedWithARevokedNodeKeyAreRefusedWithNothingWritten) {
  Revoke(kOfficer1);  // a CRL exists from the start
  NodeTls tls = WithCrl(crl_);
  tls.demo_catalog = true;
  auto node = StartNode(pki_, work_, tls);
  ASSERT_TRUE(node->running()) << node->ReadLog();
  Tls gateway = TlsAt(pki_, "gateway");
  auto relay = v1::FederationService::NewStub(WatchingChannel(node->grpc_address(), gateway));
  auto officer = v1::ApplicationService::NewStub(
      WatchingChannel(node->grpc_address(), TlsAt(pki_, kOfficer2)));
  Tls hunan_files = TlsAt(pki_, "province/430000/node");
  RecordAuthor hunan("430000", hunan_files.key, hunan_files.cert);
  auto deliver = [&](const std::string& id) {
    v1::DeliverApplicationRequest req = hunan.Filing(
        id, kSocialSecurityCard, Applicant(),
        {Material("M01"), Material("M02"), Material("M03"), Material("M09")});
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    ctx.AddMetadata("x-tongban-origin-province", "430000");
    v1::DeliverApplicationResponse resp;
    return relay->DeliverApplication(&ctx, req, &resp);
  };
  auto exists = [&](const std::string& id) {
    grpc::ClientContext ctx;
    v1::GetApplicationRequest req;
    req.set_application_id(id);
    v1::GetApplicationResponse resp;
    return officer->GetApplication(&ctx, req, &resp).error_code();
  };
  const std::string before = "TB-430000-440000-20261205-00000001";
  grpc::Status s = deliver(before);
  ASSERT_TRUE(s.ok()) << s.error_message();

  Revoke("province/430000/node");
  std::string id;
  int n = 1;
  ASSERT_TRUE(WaitFor(10s, [&] {
    id = "TB-430000-440000-20261205-0000000" + std::to_string(++n);
    s = deliver(id);
    return s.error_code() == StatusCode::PERMISSION_DENIED;
  })) << "still accepted after revocation: " << s.error_message();
  EXPECT_NE(s.error_message().find("revoked"), std::string::npos) << s.error_message();
  EXPECT_EQ(exists(id), StatusCode::NOT_FOUND);
  EXPECT_EQ(exists(before), StatusCode::OK);
  relay.reset();  // open client connections hold the node's shutdown for its grace period
  officer.reset();
  EXPECT_EQ(node->Terminate(), 0);
}

}  // namespace
}  // namespace tongban::testing::certs
