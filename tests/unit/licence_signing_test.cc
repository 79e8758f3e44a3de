// common/licence_signing (and RecordSigner::SignDigest /
// RecordVerifier::VerifySignature under it): signed licences, revocations and
// disclosures against an in-test PKI (signing_test_pki.h).
#include "licence_signing.h"

#include <sys/stat.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "signing_test_pki.h"

namespace tongban::signing {
namespace {

namespace pki = ::tongban::testing::signing_pki;
using ::testing::HasSubstr;

constexpr char kId[] = "510000-MZ01-J510107-2019-000123";

google::protobuf::Timestamp Ts(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  return ts;
}

MATCHER_P(DeniedWith, text, "") {
  return arg.code() == absl::StatusCode::kPermissionDenied &&
         ::testing::Matches(HasSubstr(text))(std::string(arg.message()));
}

class LicenceSigningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = pki::MakeTempDir("licence-signing-");
    ASSERT_FALSE(dir_.empty());
    ca_ = pki::MakeCa("Tongban Test CA");
    ASSERT_TRUE(pki::WritePem(dir_ + "/ca.pem", ca_.cert));
    mkdir((dir_ + "/crl").c_str(), 0700);
    ASSERT_TRUE(pki::WriteCrl(dir_ + "/crl", ca_, {}));
    sichuan_ = Signer("510000", pki::MakeNode(ca_, "510000"));
    hunan_ = Signer("430000", pki::MakeNode(ca_, "430000"));
    auto verifier = RecordVerifier::Create(dir_ + "/ca.pem", dir_ + "/crl", absl::ZeroDuration());
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    verifier_ = *std::move(verifier);
  }

  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<RecordSigner> Signer(const std::string& province, const pki::Key& pair) {
    std::string d = dir_ + "/" + province + "-" + std::to_string(++signers_);
    mkdir(d.c_str(), 0700);
    EXPECT_TRUE(pki::WritePair(d, pair));
    auto s = RecordSigner::Create(d + "/key.pem", d + "/cert.pem", absl::ZeroDuration());
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  // A 结婚证 of Sichuan, unsigned.
  static v1::Licence Marriage() {
    v1::Licence l;
    v1::LicenceContent* c = l.mutable_content();
    c->set_licence_id(kId);
    c->set_type_code("MZ01");
    c->set_issuing_province("510000");
    c->set_issuing_authority("成都市武侯区民政局");
    c->set_number("J510107-2019-000123");
    c->set_holder_kind(v1::HOLDER_KIND_PERSON);
    c->set_holder_id("11010519491231002X");
    c->set_holder_name("李四");
    *c->mutable_issued_at() = Ts(absl::Now() - absl::Hours(2));
    c->set_valid_from("2019-05-20");
    v1::LicenceField* f = c->add_fields();
    f->set_name("登记日期");
    f->set_value("2019-05-20");
    f = c->add_fields();
    f->set_name("持证人");
    f->set_value("李四");
    c->set_issued_by("spiffe://tongban/province/510000/officer/officer-01");
    return l;
  }

  v1::Licence Signed(RecordSigner* signer, v1::Licence l = Marriage()) {
    absl::Status s = SignLicence(*signer, &l);
    EXPECT_TRUE(s.ok()) << s;
    return l;
  }

  v1::LicenceRevocation Revocation(const std::string& licence_id = kId) {
    v1::LicenceRevocation r;
    r.set_licence_id(licence_id);
    *r.mutable_at() = Ts(absl::Now() - absl::Hours(1));
    r.set_reason("登记错误，依法撤销");
    r.set_revoked_by("spiffe://tongban/province/510000/officer/officer-02");
    return r;
  }

  static v1::LicenceDisclosure Disclosure() {
    v1::LicenceDisclosure d;
    d.set_disclosure_id("510000-d-0123456789abcdef0123456789abcdef");
    d.set_issuing_province("510000");
    d.set_kind(v1::DISCLOSURE_KIND_CHECK);
    d.set_type_code("MZ01");
    d.set_number("J510107-2019-000123");
    d.set_holder_id("11010519491231002X");
    d.set_licence_id(kId);
    d.set_requester_province("430000");
    d.set_requester("spiffe://tongban/province/430000/officer/officer-07");
    d.set_purpose("办理户口迁移，核验婚姻状况");
    d.set_application_id("TB-430000-510000-20261125-00000042");
    *d.mutable_at() = Ts(absl::Now() - absl::Minutes(5));
    d.set_matched(true);
    d.set_status(v1::LICENCE_STATUS_VALID);
    return d;
  }

  absl::Status Receive(const v1::Licence& l) {
    return VerifyLicence(*verifier_, l, absl::Now(), VerifyMode::kReceiving);
  }
  absl::Status Historical(const v1::Licence& l) {
    return VerifyLicence(*verifier_, l, absl::Now(), VerifyMode::kHistorical);
  }

  std::string dir_;
  int signers_ = 0;
  pki::Key ca_;
  std::unique_ptr<RecordSigner> sichuan_;
  std::unique_ptr<RecordSigner> hunan_;
  std::unique_ptr<RecordVerifier> verifier_;
};

TEST_F(LicenceSigningTest, LicenceIdAndDigests) {
  EXPECT_EQ(LicenceId("510000", "MZ01", "J510107-2019-000123"), kId);
  v1::Licence l = Marriage();
  std::string digest = LicenceContentDigest(l.content());
  EXPECT_EQ(digest.size(), 32u);
  EXPECT_EQ(digest, Sha256("tongban.v1.LicenceContent\n" + DeterministicBytes(l.content())));
  // The revocation and disclosure digests leave out their own signature.
  v1::LicenceRevocation r = Revocation();
  std::string unsigned_r = LicenceRevocationDigest(r);
  EXPECT_EQ(unsigned_r, Sha256("tongban.v1.LicenceRevocation\n" + DeterministicBytes(r)));
  ASSERT_TRUE(SignRevocation(*sichuan_, "510000", &r).ok());
  EXPECT_EQ(LicenceRevocationDigest(r), unsigned_r);
  v1::LicenceDisclosure d = Disclosure();
  std::string unsigned_d = LicenceDisclosureDigest(d);
  EXPECT_EQ(unsigned_d, Sha256("tongban.v1.LicenceDisclosure\n" + DeterministicBytes(d)));
  ASSERT_TRUE(SignDisclosure(*sichuan_, &d).ok());
  EXPECT_EQ(LicenceDisclosureDigest(d), unsigned_d);
  // Contexts separate the kinds of record.
  EXPECT_NE(Sha256("tongban.v1.LicenceContent\n"), Sha256("tongban.v1.LicenceRevocation\n"));
}

TEST_F(LicenceSigningTest, SignVerifyRoundTrip) {
  v1::Licence l = Signed(sichuan_.get());
  EXPECT_EQ(l.signature().algorithm(), "ecdsa-p256-sha256");
  EXPECT_EQ(l.signature().signer_certificate(), sichuan_->certificate_der());
  EXPECT_FALSE(l.signature().signature().empty());
  EXPECT_TRUE(Receive(l).ok()) << Receive(l);
  EXPECT_TRUE(Historical(l).ok()) << Historical(l);
  // The derived status is not signed.
  l.set_status(v1::LICENCE_STATUS_EXPIRED);
  EXPECT_TRUE(Receive(l).ok());
  // Through the wire encoding.
  v1::Licence wire;
  ASSERT_TRUE(wire.ParseFromString(l.SerializeAsString()));
  EXPECT_TRUE(Receive(wire).ok()) << Receive(wire);
}

TEST_F(LicenceSigningTest, ChineseTextRoundTrips) {
  v1::Licence l = Signed(sichuan_.get());
  v1::Licence wire;
  ASSERT_TRUE(wire.ParseFromString(l.SerializeAsString()));
  EXPECT_EQ(wire.content().holder_name(), "李四");
  EXPECT_EQ(wire.content().issuing_authority(), "成都市武侯区民政局");
  EXPECT_EQ(wire.content().fields(0).name(), "登记日期");
  EXPECT_TRUE(Receive(wire).ok()) << Receive(wire);
  // One character changed (李四 → 李五) does not verify.
  wire.mutable_content()->set_holder_name("李五");
  EXPECT_THAT(Receive(wire), DeniedWith("signature does not verify"));
}

TEST_F(LicenceSigningTest, AlteredContentDoesNotVerify) {
  const v1::Licence good = Signed(sichuan_.get());
  struct Alteration {
    const char* what;
    std::function<void(v1::LicenceContent*)> apply;
  };
  // Fields that are part of the id are altered together with the id, as a
  // forger would, so that the signature is what refuses them.
  std::vector<Alteration> alterations = {
      {"holder_id", [](v1::LicenceContent* c) { c->set_holder_id("110105194912310037"); }},
      {"holder_name", [](v1::LicenceContent* c) { c->set_holder_name("张三"); }},
      {"holder_kind",
       [](v1::LicenceContent* c) { c->set_holder_kind(v1::HOLDER_KIND_ORGANIZATION); }},
      {"number",
       [](v1::LicenceContent* c) {
         c->set_number("J510107-2019-000124");
         c->set_licence_id(LicenceId(c->issuing_province(), c->type_code(), c->number()));
       }},
      {"type_code",
       [](v1::LicenceContent* c) {
         c->set_type_code("MZ02");
         c->set_licence_id(LicenceId(c->issuing_province(), c->type_code(), c->number()));
       }},
      {"valid_until", [](v1::LicenceContent* c) { c->set_valid_until("2099-12-31"); }},
      {"valid_from", [](v1::LicenceContent* c) { c->set_valid_from("2019-05-21"); }},
      {"field value", [](v1::LicenceContent* c) { c->mutable_fields(0)->set_value("2019-05-21"); }},
      {"field name", [](v1::LicenceContent* c) { c->mutable_fields(1)->set_name("持证人姓名"); }},
      {"field added",
       [](v1::LicenceContent* c) {
         v1::LicenceField* f = c->add_fields();
         f->set_name("备注");
         f->set_value("");
       }},
      {"field removed", [](v1::LicenceContent* c) { c->mutable_fields()->RemoveLast(); }},
      {"issuing_authority",
       [](v1::LicenceContent* c) { c->set_issuing_authority("成都市民政局"); }},
      {"issued_at",
       [](v1::LicenceContent* c) {
         c->mutable_issued_at()->set_seconds(c->issued_at().seconds() - 1);
       }},
      {"issued_by",
       [](v1::LicenceContent* c) {
         c->set_issued_by("spiffe://tongban/province/510000/officer/officer-09");
       }},
  };
  for (const Alteration& a : alterations) {
    v1::Licence l = good;
    a.apply(l.mutable_content());
    std::string id = l.content().licence_id();
    EXPECT_THAT(Receive(l), DeniedWith("licence " + id + ": signature does not verify")) << a.what;
    EXPECT_THAT(Historical(l), DeniedWith("signature does not verify")) << a.what;
  }
  // issuing_province altered (with the id): the signer no longer matches.
  v1::Licence l = good;
  l.mutable_content()->set_issuing_province("430000");
  l.mutable_content()->set_licence_id("430000-MZ01-J510107-2019-000123");
  EXPECT_THAT(Receive(l), DeniedWith("licence 430000-MZ01-J510107-2019-000123: signer certificate "
                                     "names province 510000, the record is of province 430000"));
  // A flipped bit of the signature itself.
  l = good;
  std::string sig = l.signature().signature();
  sig[sig.size() / 2] ^= 1;
  l.mutable_signature()->set_signature(sig);
  EXPECT_THAT(Receive(l),
              DeniedWith("licence " + std::string(kId) + ": signature does not verify"));
  // No signature at all.
  l = good;
  l.clear_signature();
  EXPECT_THAT(Receive(l), DeniedWith("licence " + std::string(kId) + ": not signed"));
  // No content at all.
  EXPECT_THAT(Receive(v1::Licence()), DeniedWith("no content"));
}

TEST_F(LicenceSigningTest, LicenceSignedByAnotherProvinceIsRefused) {
  // Hunan cannot sign a Sichuan licence...
  v1::Licence l = Marriage();
  absl::Status s = SignLicence(*hunan_, &l);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_FALSE(l.has_signature());
  // ...and a signature Hunan's key made over the content is refused.
  ASSERT_TRUE(
      hunan_->SignDigest("430000", LicenceContentDigest(l.content()), l.mutable_signature()).ok());
  EXPECT_THAT(Receive(l), DeniedWith("licence " + std::string(kId) +
                                     ": signer certificate names province 430000, the record is "
                                     "of province 510000"));
  EXPECT_THAT(Historical(l), DeniedWith("names province 430000"));
}

TEST_F(LicenceSigningTest, SignerNotChainingToTheCaIsRefused) {
  pki::Key other_ca = pki::MakeCa("Tongban Test CA");  // same name, other key
  auto forger = Signer("510000", pki::MakeNode(other_ca, "510000"));
  v1::Licence l = Signed(forger.get());
  EXPECT_THAT(Receive(l), DeniedWith("does not chain to the federation CA"));
  EXPECT_THAT(Historical(l), DeniedWith("does not chain to the federation CA"));
  v1::LicenceDisclosure d = Disclosure();
  ASSERT_TRUE(SignDisclosure(*forger, &d).ok());
  EXPECT_THAT(VerifyDisclosure(*verifier_, d, absl::Now(), VerifyMode::kReceiving),
              DeniedWith("does not chain to the federation CA"));
}

TEST_F(LicenceSigningTest, IdNotMatchingContentIsRefused) {
  // SignLicence refuses to sign such a licence...
  v1::Licence l = Marriage();
  l.mutable_content()->set_licence_id("510000-MZ01-J1");
  absl::Status s = SignLicence(*sichuan_, &l);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_FALSE(l.has_signature());
  // ...and the verifier refuses one signed anyway (the content signature is good).
  ASSERT_TRUE(
      sichuan_->SignDigest("510000", LicenceContentDigest(l.content()), l.mutable_signature())
          .ok());
  EXPECT_THAT(Receive(l), DeniedWith("licence 510000-MZ01-J1: the id does not match its content "
                                     "(510000-MZ01-J510107-2019-000123)"));
  EXPECT_THAT(Historical(l), DeniedWith("the id does not match its content"));
}

TEST_F(LicenceSigningTest, RevocationRoundTripAndAlteration) {
  v1::Licence l = Signed(sichuan_.get());
  v1::LicenceRevocation r = Revocation();
  ASSERT_TRUE(SignRevocation(*sichuan_, "510000", &r).ok());
  *l.mutable_revocation() = r;
  l.set_status(v1::LICENCE_STATUS_REVOKED);
  EXPECT_TRUE(Receive(l).ok()) << Receive(l);
  EXPECT_TRUE(Historical(l).ok()) << Historical(l);

  // Re-signing replaces the old signature (the digest ignores it).
  v1::LicenceRevocation again = r;
  ASSERT_TRUE(SignRevocation(*sichuan_, "510000", &again).ok());
  *l.mutable_revocation() = again;
  EXPECT_TRUE(Receive(l).ok()) << Receive(l);

  // Its signature altered.
  v1::Licence bad = l;
  std::string sig = bad.revocation().signature().signature();
  sig[sig.size() / 2] ^= 1;
  bad.mutable_revocation()->mutable_signature()->set_signature(sig);
  EXPECT_THAT(Receive(bad), DeniedWith("licence " + std::string(kId) +
                                       ": revocation: signature does not verify"));
  // Its fields altered.
  bad = l;
  bad.mutable_revocation()->set_reason("另一个理由");
  EXPECT_THAT(Receive(bad), DeniedWith("revocation: signature does not verify"));
  bad = l;
  bad.mutable_revocation()->mutable_at()->set_seconds(r.at().seconds() + 60);
  EXPECT_THAT(Historical(bad), DeniedWith("revocation: signature does not verify"));
  // Not signed.
  bad = l;
  bad.mutable_revocation()->clear_signature();
  EXPECT_THAT(Receive(bad), DeniedWith("revocation: not signed"));
  // Signed by another province.
  bad = l;
  v1::LicenceRevocation by_hunan = Revocation();
  EXPECT_EQ(SignRevocation(*hunan_, "510000", &by_hunan).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(SignRevocation(*hunan_, "430000", &by_hunan).ok());
  *bad.mutable_revocation() = by_hunan;
  EXPECT_THAT(Receive(bad), DeniedWith("revocation: signer certificate names province 430000"));
  // A good revocation of another licence moved onto this one.
  bad = l;
  v1::LicenceRevocation other = Revocation("510000-MZ01-J510107-2019-000124");
  ASSERT_TRUE(SignRevocation(*sichuan_, "510000", &other).ok());
  *bad.mutable_revocation() = other;
  EXPECT_THAT(Receive(bad),
              DeniedWith("licence " + std::string(kId) +
                         ": revocation is of licence 510000-MZ01-J510107-2019-000124"));
}

TEST_F(LicenceSigningTest, HistoricalModeChecksTheRecordsOwnTime) {
  // A signer valid from an hour ago: a licence issued two hours ago by it
  // verifies now, but not historically.
  absl::Time now = absl::Now();
  auto young =
      Signer("510000", pki::MakeNode(ca_, "510000", now - absl::Hours(1), now + absl::Hours(24)));
  v1::Licence l = Signed(young.get());
  EXPECT_TRUE(Receive(l).ok()) << Receive(l);
  EXPECT_THAT(Historical(l), DeniedWith("is not yet valid at the record's time"));
  // A licence without issued_at cannot be checked historically.
  v1::Licence timeless = Marriage();
  timeless.mutable_content()->clear_issued_at();
  timeless = Signed(sichuan_.get(), timeless);
  EXPECT_TRUE(Receive(timeless).ok());
  EXPECT_THAT(Historical(timeless), DeniedWith("has no time"));
}

TEST_F(LicenceSigningTest, DisclosureRoundTripAndAlteration) {
  v1::LicenceDisclosure d = Disclosure();
  ASSERT_TRUE(SignDisclosure(*sichuan_, &d).ok());
  EXPECT_EQ(d.signature().signer_certificate(), sichuan_->certificate_der());
  auto receive = [&](const v1::LicenceDisclosure& x) {
    return VerifyDisclosure(*verifier_, x, absl::Now(), VerifyMode::kReceiving);
  };
  auto historical = [&](const v1::LicenceDisclosure& x) {
    return VerifyDisclosure(*verifier_, x, absl::Now(), VerifyMode::kHistorical);
  };
  EXPECT_TRUE(receive(d).ok()) << receive(d);
  EXPECT_TRUE(historical(d).ok()) << historical(d);
  v1::LicenceDisclosure wire;
  ASSERT_TRUE(wire.ParseFromString(d.SerializeAsString()));
  EXPECT_TRUE(receive(wire).ok());
  EXPECT_EQ(wire.purpose(), "办理户口迁移，核验婚姻状况");

  std::vector<std::function<void(v1::LicenceDisclosure*)>> alterations = {
      [](v1::LicenceDisclosure* x) { x->set_matched(false); },
      [](v1::LicenceDisclosure* x) { x->set_status(v1::LICENCE_STATUS_REVOKED); },
      [](v1::LicenceDisclosure* x) { x->set_requester_province("310000"); },
      [](v1::LicenceDisclosure* x) { x->set_requester("citizen:11010519491231002X"); },
      [](v1::LicenceDisclosure* x) { x->set_purpose("其他"); },
      [](v1::LicenceDisclosure* x) { x->set_holder_id("110105194912310037"); },
      [](v1::LicenceDisclosure* x) { x->clear_licence_id(); },
      [](v1::LicenceDisclosure* x) { x->mutable_at()->set_seconds(x->at().seconds() + 1); },
      [](v1::LicenceDisclosure* x) {
        x->set_disclosure_id("510000-d-ffffffffffffffffffffffffffffffff");
      },
  };
  for (size_t i = 0; i < alterations.size(); ++i) {
    v1::LicenceDisclosure x = d;
    alterations[i](&x);
    EXPECT_THAT(receive(x), DeniedWith("signature does not verify")) << "alteration " << i;
  }
  v1::LicenceDisclosure x = d;
  x.set_issuing_province("430000");
  EXPECT_THAT(receive(x), DeniedWith("disclosure 510000-d-0123456789abcdef0123456789abcdef: "
                                     "signer certificate names province 510000, the record is of "
                                     "province 430000"));
  // Hunan does not sign Sichuan's disclosures.
  x = Disclosure();
  EXPECT_EQ(SignDisclosure(*hunan_, &x).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(x.has_signature());
}

TEST_F(LicenceSigningTest, SignDigestAndVerifySignature) {
  const std::string digest = Sha256("tongban.test.Record\nhello");
  v1::RecordSignature sig;
  EXPECT_EQ(sichuan_->SignDigest("430000", digest, &sig).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(sichuan_->SignDigest("510000", "short", &sig).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(sig.signature().empty());  // untouched on failure
  ASSERT_TRUE(sichuan_->SignDigest("510000", digest, &sig).ok());
  absl::Time at = absl::Now() - absl::Minutes(1);
  EXPECT_TRUE(verifier_
                  ->VerifySignature(sig, "510000", digest, at, VerifyMode::kReceiving, absl::Now(),
                                    "record r1")
                  .ok());
  EXPECT_TRUE(verifier_
                  ->VerifySignature(sig, "510000", digest, at, VerifyMode::kHistorical, absl::Now(),
                                    "record r1")
                  .ok());
  EXPECT_THAT(verifier_->VerifySignature(sig, "510000", Sha256("other"), at, VerifyMode::kReceiving,
                                         absl::Now(), "record r1"),
              DeniedWith("record r1: signature does not verify"));
  EXPECT_THAT(verifier_->VerifySignature(sig, "430000", digest, at, VerifyMode::kReceiving,
                                         absl::Now(), "record r1"),
              DeniedWith("record r1: signer certificate names province 510000"));
  EXPECT_THAT(verifier_->VerifySignature(v1::RecordSignature(), "510000", digest, at,
                                         VerifyMode::kReceiving, absl::Now(), "record r1"),
              DeniedWith("record r1: not signed"));
  v1::RecordSignature wrong_algorithm = sig;
  wrong_algorithm.set_algorithm("rsa");
  EXPECT_THAT(verifier_->VerifySignature(wrong_algorithm, "510000", digest, at,
                                         VerifyMode::kReceiving, absl::Now(), "record r1"),
              DeniedWith("record r1: unknown signature algorithm"));
  EXPECT_THAT(verifier_->VerifySignature(sig, "510000", digest, absl::InfinitePast(),
                                         VerifyMode::kHistorical, absl::Now(), "record r1"),
              DeniedWith("record r1: has no time"));
}

TEST_F(LicenceSigningTest, RevokedSignerRefusedWhenReceivingKeptHistoricallyBeforeRevocation) {
  absl::Time now = absl::Now();
  pki::Key node = pki::MakeNode(ca_, "510000");
  auto signer = Signer("510000", node);
  v1::Licence l = Signed(signer.get());  // issued two hours ago
  ASSERT_TRUE(pki::WriteCrl(dir_ + "/crl", ca_, {{&node, now - absl::Minutes(30)}}));
  EXPECT_THAT(Receive(l), DeniedWith("signer certificate revoked"));
  EXPECT_TRUE(Historical(l).ok()) << Historical(l);
  // A licence claiming issue after the revocation is refused historically.
  ASSERT_TRUE(
      pki::WriteCrl(dir_ + "/crl", ca_, {{&node, now - absl::Hours(3)}}, now - absl::Seconds(30)));
  EXPECT_THAT(Historical(l), DeniedWith("signer certificate revoked"));
}

}  // namespace
}  // namespace tongban::signing
