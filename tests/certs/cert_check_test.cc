// Unit tests of the `tongbanctl certs check` library (gateway/tongbanctl/
// cert_check.h) on real certificates: the test PKI, plus certificates made
// for the occasion with certs/issue.sh and certs/revoke.sh in a private copy.
// Each case checks a small directory holding only the certificates under test.
#include "cert_check.h"

#include <algorithm>
#include <ctime>
#include <string>
#include <vector>

#include "certs_test_util.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace tongban::testing::certs {
namespace {

using ::tongban::ctl::CertCheckOptions;
using ::tongban::ctl::CertReport;
using ::tongban::ctl::CheckCertificates;
using ::tongban::ctl::CheckReport;

class CertCheckTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new std::string(CopyPki("certs-check"));
    ASSERT_FALSE(pki_->empty());
    std::string out;
    // An officer certificate that expires in 5 days, and a revoked one.
    ASSERT_EQ(Shell(Script("issue.sh") + " officer 440000 officer-05 --days 5 --out " + *pki_, &out), 0)
        << out;
    ASSERT_EQ(Shell(Script("revoke.sh") + " " + *pki_ +
                      "/province/440000/officer/officer-01/cert.pem --out " + *pki_, &out), 0)
        << out;
  }
  static void TearDownTestSuite() { delete pki_; }

  void SetUp() override {
    dir_ = MakeTempDir("certs-check-case");
    ASSERT_FALSE(dir_.empty());
    ASSERT_EQ(Shell("mkdir -p " + dir_ + "/ca && cp " + *pki_ + "/ca/ca.pem " + dir_ + "/ca/"), 0);
  }

  // Copies cert.pem (and key.pem from `key_from`, default the same identity)
  // of `identity` into <case dir>/<name>/.
  void Add(const std::string& name, const std::string& identity, std::string key_from = "") {
    if (key_from.empty()) key_from = identity;
    std::string out;
    ASSERT_EQ(Shell("mkdir -p " + dir_ + "/" + name + " && cp -L " + *pki_ + "/" + identity +
                      "/cert.pem " + dir_ + "/" + name + "/ && cp -L " + *pki_ + "/" + key_from +
                      "/key.pem " + dir_ + "/" + name + "/", &out), 0)
        << out;
  }

  CheckReport Check(std::string crl_dir = "") {
    CertCheckOptions options;
    options.dir = dir_;
    options.crl_dir = crl_dir.empty() ? *pki_ + "/crl" : crl_dir;
    absl::StatusOr<CheckReport> report = CheckCertificates(options);
    EXPECT_TRUE(report.ok()) << report.status();
    return report.ok() ? *report : CheckReport{};
  }

  static const CertReport* Find(const CheckReport& report, const std::string& path) {
    for (const CertReport& c : report.certs) {
      if (c.path == path) return &c;
    }
    return nullptr;
  }

  static std::string* pki_;
  std::string dir_;
};

std::string* CertCheckTest::pki_ = nullptr;

using Kinds = std::vector<std::string>;

TEST_F(CertCheckTest, GoodCertificateHasNoProblem) {
  Add("good", "province/440000/officer/officer-02");
  CheckReport report = Check();
  ASSERT_EQ(report.certs.size(), 1u);
  const CertReport& c = report.certs[0];
  EXPECT_EQ(c.path, "good/cert.pem");
  EXPECT_EQ(c.identity, "spiffe://tongban/province/440000/officer/officer-02");
  EXPECT_EQ(c.key, "match");
  EXPECT_EQ(c.chain, "ok");
  EXPECT_EQ(c.revocation, "good");
  EXPECT_GT(c.days_left, 800);
  EXPECT_TRUE(c.problems.empty());
  EXPECT_TRUE(report.ok()) << ctl::FormatText(report);
  ASSERT_EQ(report.crl.cas.size(), 1u);
  EXPECT_EQ(report.crl.cas[0].revoked_count, 1);
}

TEST_F(CertCheckTest, ExpiredCertificate) {
  Add("expired", "test/expired-officer");
  CheckReport report = Check();
  ASSERT_EQ(report.certs.size(), 1u);
  EXPECT_EQ(report.certs[0].problems, Kinds{ctl::kExpired});
  EXPECT_LT(report.certs[0].days_left, 0);
  EXPECT_FALSE(report.ok());
}

TEST_F(CertCheckTest, ExpiringCertificateWithinWarnDays) {
  Add("expiring", "province/440000/officer/officer-05");
  CheckReport report = Check();
  ASSERT_EQ(report.certs.size(), 1u);
  EXPECT_EQ(report.certs[0].problems, Kinds{ctl::kExpiring});
  EXPECT_GE(report.certs[0].days_left, 4);
  EXPECT_LE(report.certs[0].days_left, 5);
  // With a shorter warning period it is fine.
  CertCheckOptions options;
  options.dir = dir_;
  options.warn_days = 3;
  absl::StatusOr<CheckReport> relaxed = CheckCertificates(options);
  ASSERT_TRUE(relaxed.ok());
  EXPECT_TRUE(relaxed->ok()) << ctl::FormatText(*relaxed);
}

TEST_F(CertCheckTest, KeyMismatchAndMissingKey) {
  Add("mismatch", "province/440000/officer/officer-02", "province/440000/officer/officer-01");
  ASSERT_EQ(Shell("mkdir -p " + dir_ + "/nokey && cp -L " + *pki_ +
                "/province/110000/officer/officer-01/cert.pem " + dir_ + "/nokey/"), 0);
  CheckReport report = Check();
  ASSERT_EQ(report.certs.size(), 2u);
  const CertReport* mismatch = Find(report, "mismatch/cert.pem");
  ASSERT_NE(mismatch, nullptr);
  EXPECT_EQ(mismatch->key, "mismatch");
  EXPECT_EQ(mismatch->problems, Kinds{ctl::kKeyMismatch});
  const CertReport* nokey = Find(report, "nokey/cert.pem");
  ASSERT_NE(nokey, nullptr);
  EXPECT_EQ(nokey->problems, Kinds{ctl::kKeyMissing});
}

TEST_F(CertCheckTest, CertificateOfAnotherCa) {
  Add("other", "test/other-ca-officer");
  CheckReport report = Check();
  ASSERT_EQ(report.certs.size(), 1u);
  EXPECT_EQ(report.certs[0].problems, Kinds{ctl::kChain});
  EXPECT_NE(report.certs[0].chain, "ok");
  EXPECT_EQ(report.certs[0].revocation, "not_checked");
}

TEST_F(CertCheckTest, RevokedCertificate) {
  Add("revoked", "province/440000/officer/officer-01");
  CheckReport report = Check();
  ASSERT_EQ(report.certs.size(), 1u);
  EXPECT_EQ(report.certs[0].revocation, "revoked");
  EXPECT_EQ(report.certs[0].problems, Kinds{ctl::kRevoked});
  // Without a CRL directory the same certificate looks fine.
  CertCheckOptions options;
  options.dir = dir_;
  absl::StatusOr<CheckReport> unchecked = CheckCertificates(options);
  ASSERT_TRUE(unchecked.ok());
  EXPECT_EQ(unchecked->certs[0].revocation, "not_checked");
  EXPECT_TRUE(unchecked->ok());
}

TEST_F(CertCheckTest, MissingAndDuplicateIdentity) {
  Add("a", "province/440000/officer/officer-02");
  Add("b", "province/440000/officer/officer-02");
  Add("anonymous", "test/no-identity");
  Add("foreign", "test/foreign-uri");
  CheckReport report = Check();
  ASSERT_EQ(report.certs.size(), 4u);
  EXPECT_EQ(Find(report, "a/cert.pem")->problems, Kinds{ctl::kDuplicateIdentity});
  EXPECT_EQ(Find(report, "b/cert.pem")->problems, Kinds{ctl::kDuplicateIdentity});
  EXPECT_EQ(Find(report, "anonymous/cert.pem")->problems, Kinds{ctl::kNoIdentity});
  EXPECT_EQ(Find(report, "foreign/cert.pem")->problems, Kinds{ctl::kNoIdentity});
  EXPECT_EQ(Find(report, "foreign/cert.pem")->uris,
            std::vector<std::string>{"spiffe://elsewhere/thing"});
}

TEST_F(CertCheckTest, CrlDirectoryProblems) {
  Add("good", "province/440000/officer/officer-02");
  // No CRL for the CA: listed once, the certificate itself is "no_crl".
  std::string empty = dir_ + "/../" + "crl-empty-" + std::to_string(::getpid());
  ASSERT_EQ(Shell("mkdir -p " + empty), 0);
  CheckReport report = Check(empty);
  ASSERT_EQ(report.problems.size(), 1u) << ctl::FormatText(report);
  EXPECT_EQ(report.problems[0].kind, ctl::kCrl);
  EXPECT_NE(report.problems[0].message.find("no CRL of CA"), std::string::npos);
  EXPECT_EQ(report.certs[0].revocation, "no_crl");
  // The PKI's CRL (7 days) expires within the warning period 10 days from now.
  CertCheckOptions options;
  options.dir = dir_;
  options.crl_dir = *pki_ + "/crl";
  options.now = std::time(nullptr) + 6 * 86400 - 3600;
  absl::StatusOr<CheckReport> later = CheckCertificates(options);
  ASSERT_TRUE(later.ok());
  ASSERT_EQ(later->problems.size(), 1u) << ctl::FormatText(*later);
  EXPECT_NE(later->problems[0].message.find("expires at"), std::string::npos);
  // ... and has expired 8 days from now.
  options.now = std::time(nullptr) + 8 * 86400;
  later = CheckCertificates(options);
  ASSERT_TRUE(later.ok());
  bool expired = false;
  for (const auto& p : later->problems) {
    expired |= p.kind == ctl::kCrl && p.message.find("expired at") != std::string::npos;
  }
  EXPECT_TRUE(expired) << ctl::FormatText(*later);
}

TEST_F(CertCheckTest, RenewedLayoutIsCountedOnceUnderItsStablePath) {
  // issue.sh keeps versions in hidden directories; only cert.pem counts.
  std::string pki = *pki_;
  std::string out;
  ASSERT_EQ(Shell(Script("issue.sh") + " gateway --out " + pki, &out), 0) << out;
  ASSERT_EQ(Shell(Script("issue.sh") + " gateway --out " + pki, &out), 0) << out;
  ASSERT_EQ(Shell("cp -a " + pki + "/gateway " + dir_ + "/gateway"), 0);
  CheckReport report = Check();
  ASSERT_EQ(report.certs.size(), 1u) << ctl::FormatText(report);
  EXPECT_EQ(report.certs[0].path, "gateway/cert.pem");
  EXPECT_EQ(report.certs[0].serial, SerialOfFile(pki + "/gateway/cert.pem"));
  EXPECT_TRUE(report.ok()) << ctl::FormatText(report);
}

TEST_F(CertCheckTest, JsonOutputIsValidJson) {
  Add("good", "province/440000/officer/officer-02");
  Add("expired", "test/expired-officer");
  CheckReport report = Check();
  std::string json = ctl::FormatJson(report);
  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) << json;
  EXPECT_FALSE(parsed.fields().at("ok").bool_value());
  EXPECT_EQ(parsed.fields().at("certificates").list_value().values_size(), 2);
  EXPECT_EQ(parsed.fields().at("problems").list_value().values_size(), 1);
}

TEST_F(CertCheckTest, CommandLineExitCodes) {
  std::string out;
  Add("good", "province/440000/officer/officer-02");
  EXPECT_EQ(Shell(TongbanctlBinary() + " certs check " + dir_ + " --crl_dir " + *pki_ + "/crl", &out), 0)
      << out;
  EXPECT_NE(out.find("no problems"), std::string::npos) << out;
  Add("expired", "test/expired-officer");
  EXPECT_EQ(Shell(TongbanctlBinary() + " certs check " + dir_ + " --json", &out), 1) << out;
  EXPECT_EQ(out.rfind("{", 0), 0u) << out;
  EXPECT_EQ(Shell(TongbanctlBinary() + " certs check " + dir_ + "/no-such-dir", &out), 2) << out;
  EXPECT_EQ(Shell(TongbanctlBinary() + " certs frobnicate", &out), 2) << out;
  EXPECT_EQ(Shell(TongbanctlBinary() + " --help", &out), 0) << out;
  EXPECT_NE(out.find("certs check"), std::string::npos);
}

}  // namespace
}  // namespace tongban::testing::certs
