// 电子证照 across provinces (issue 13; docs/licences.md) with real processes:
// Sichuan (510000) issues and signs licences; a Hunan (430000) officer checks
// them yes/no through the gateway; every check is in Sichuan's signed
// disclosure log, and nothing else is; "no" never tells whether a number
// exists; a revocation is visible to the next check; only the issuing
// province's officers manage its register.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "federation.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "licence_signing.h"
#include "node_process.h"
#include "record_signing.h"
#include "tongban/v1/federation.grpc.pb.h"
#include "tongban/v1/licence.grpc.pb.h"

namespace tongban::testing {
namespace {

using grpc::StatusCode;

constexpr char kHunan[] = "430000";
constexpr char kSichuan[] = "510000";
constexpr char kGuangdong[] = "440000";

// From node/demo_catalog/licences.tsv.
constexpr char kZhangWei[] = "430102199001011238";  // holds Sichuan's marriage certificate
constexpr char kWangFang[] = "510107198803121233";  // his wife, holds her own copy
constexpr char kMarriageNumber[] = "J510107-2019-000123";
constexpr char kMarriageId[] = "510000-MZ01-J510107-2019-000123";
constexpr char kLiuYang[] = "440305199202201232";  // Guangdong driving licence, expired 2024

std::string Officer(const std::string& province) {
  return "province/" + province + "/officer/officer-01";
}
std::string OperatorOf(const std::string& province) {
  return "province/" + province + "/operator/operator-01";
}

class LicenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FederationOptions options;
    options.name = "licences";
    options.provinces = {kHunan, kSichuan, kGuangdong};
    options.catalog_cache = false;
    federation_ = std::make_unique<Federation>(options);
    std::string error;
    ASSERT_TRUE(federation_->Start(&error)) << error;
  }
  void TearDown() override {
    ExpectEveryNodeRunning(federation_.get());
    KeepForPostMortem(federation_.get(), HasFailure());
  }

  std::unique_ptr<v1::LicenceService::Stub> Licences(const std::string& at,
                                                     const std::string& identity) {
    return v1::LicenceService::NewStub(FastChannel(federation_->node_address(at), identity));
  }

  // A Hunan officer's yes/no check of a Sichuan licence.
  grpc::Status Verify(const std::string& issuing, const std::string& type,
                      const std::string& number, const std::string& holder,
                      v1::VerifyLicenceResponse* out, const std::string& purpose = "核验纸质结婚证") {
    v1::VerifyLicenceRequest req;
    req.set_issuing_province(issuing);
    req.set_type_code(type);
    req.set_number(number);
    req.set_holder_id(holder);
    req.set_purpose(purpose);
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    return Licences(kHunan, Officer(kHunan))->VerifyLicence(&ctx, req, out);
  }

  std::vector<v1::LicenceDisclosure> SichuanLog(const v1::ListLicenceDisclosuresRequest& req) {
    std::vector<v1::LicenceDisclosure> out;
    v1::ListLicenceDisclosuresRequest page = req;
    page.set_page_size(2);  // several pages: the token is exercised too
    for (int guard = 0; guard < 50; ++guard) {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(10000));
      v1::ListLicenceDisclosuresResponse resp;
      grpc::Status s =
          Licences(kSichuan, OperatorOf(kSichuan))->ListLicenceDisclosures(&ctx, page, &resp);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      for (const auto& d : resp.disclosures()) out.push_back(d);
      if (resp.next_page_token().empty()) break;
      page.set_page_token(resp.next_page_token());
    }
    return out;
  }

  std::unique_ptr<Federation> federation_;
};

TEST_F(LicenceTest, OfficerChecksAnotherProvincesLicenceAndTheIssuerLogsExactlyThat) {
  // The holder's own licence: matched, valid, no end date (marriage).
  v1::VerifyLicenceResponse yes;
  grpc::Status s = Verify(kSichuan, "MZ01", kMarriageNumber, kZhangWei, &yes);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(yes.matched());
  EXPECT_EQ(yes.status(), v1::LICENCE_STATUS_VALID);
  EXPECT_EQ(yes.valid_until(), "");
  EXPECT_EQ(yes.disclosure_id().rfind("510000-d-", 0), 0u) << yes.disclosure_id();

  // Someone else's id against that number, and a number never issued: the
  // same "no", so a check cannot find out which numbers exist.
  v1::VerifyLicenceResponse other_holder, no_such;
  ASSERT_TRUE(Verify(kSichuan, "MZ01", kMarriageNumber, kWangFang, &other_holder).ok());
  ASSERT_TRUE(Verify(kSichuan, "MZ01", "J510107-2019-999999", kZhangWei, &no_such).ok());
  EXPECT_FALSE(other_holder.matched());
  EXPECT_FALSE(no_such.matched());
  other_holder.clear_disclosure_id();
  no_such.clear_disclosure_id();
  EXPECT_EQ(other_holder.SerializeAsString(), no_such.SerializeAsString());
  EXPECT_EQ(other_holder.ByteSizeLong(), 0u) << other_holder.DebugString();

  // An expired licence of a third province.
  v1::VerifyLicenceResponse expired;
  ASSERT_TRUE(Verify(kGuangdong, "GA02", kLiuYang, kLiuYang, &expired).ok());
  EXPECT_TRUE(expired.matched());
  EXPECT_EQ(expired.status(), v1::LICENCE_STATUS_EXPIRED);
  EXPECT_EQ(expired.valid_until(), "2024-01-10");

  // Sichuan's log holds exactly the three checks of its licences, newest
  // first, each naming the Hunan officer and signed by Sichuan.
  std::vector<v1::LicenceDisclosure> log = SichuanLog({});
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].number(), "J510107-2019-999999");
  EXPECT_FALSE(log[0].matched());
  EXPECT_EQ(log[0].licence_id(), "");
  EXPECT_EQ(log[1].holder_id(), kWangFang);
  EXPECT_FALSE(log[1].matched());
  EXPECT_EQ(log[2].disclosure_id(), yes.disclosure_id());
  EXPECT_TRUE(log[2].matched());
  EXPECT_EQ(log[2].licence_id(), kMarriageId);
  EXPECT_EQ(log[2].status(), v1::LICENCE_STATUS_VALID);
  auto verifier = signing::RecordVerifier::Create(CertsDir() + "/ca/ca.pem");
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  for (const v1::LicenceDisclosure& d : log) {
    EXPECT_EQ(d.kind(), v1::DISCLOSURE_KIND_CHECK);
    EXPECT_EQ(d.issuing_province(), kSichuan);
    EXPECT_EQ(d.requester_province(), kHunan);
    EXPECT_EQ(d.requester(), "spiffe://tongban/" + Officer(kHunan));
    EXPECT_EQ(d.purpose(), "核验纸质结婚证");
    EXPECT_TRUE(signing::VerifyDisclosure(**verifier, d, absl::Now(),
                                          signing::VerifyMode::kHistorical)
                    .ok());
  }
  // A record altered after the fact no longer verifies.
  v1::LicenceDisclosure altered = log[2];
  altered.set_requester_province(kGuangdong);
  EXPECT_FALSE(
      signing::VerifyDisclosure(**verifier, altered, absl::Now(), signing::VerifyMode::kHistorical)
          .ok());

  // The holder filter is what a citizen's "who looked at my licences" reads.
  v1::ListLicenceDisclosuresRequest mine;
  mine.set_holder_id(kZhangWei);
  std::vector<v1::LicenceDisclosure> his = SichuanLog(mine);
  ASSERT_EQ(his.size(), 2u);
  v1::ListLicenceDisclosuresRequest by_licence;
  by_licence.set_licence_id(kMarriageId);
  EXPECT_EQ(SichuanLog(by_licence).size(), 1u);
  // Guangdong logged its own check, and only that.
  grpc::ClientContext ctx;
  v1::ListLicenceDisclosuresResponse gd;
  ASSERT_TRUE(Licences(kGuangdong, OperatorOf(kGuangdong))
                  ->ListLicenceDisclosures(&ctx, v1::ListLicenceDisclosuresRequest(), &gd)
                  .ok());
  ASSERT_EQ(gd.disclosures_size(), 1);
  EXPECT_EQ(gd.disclosures(0).status(), v1::LICENCE_STATUS_EXPIRED);
}

TEST_F(LicenceTest, IssuedLicencesAreSignedByTheIssuerAndRevocationShowsAtTheNextCheck) {
  auto sichuan = Licences(kSichuan, Officer(kSichuan));
  v1::IssueLicenceRequest issue;
  issue.set_type_code("MZ01");
  issue.set_number("J510107-2026-000777");
  issue.set_holder_id(kZhangWei);
  issue.set_holder_name("张伟");
  issue.set_issuing_authority("成都市锦江区民政局");
  issue.set_valid_from("2026-01-05");
  auto* field = issue.add_fields();
  field->set_name("配偶");
  field->set_value("王芳");
  v1::IssueLicenceResponse issued;
  {
    grpc::ClientContext ctx;
    grpc::Status s = sichuan->IssueLicence(&ctx, issue, &issued);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  const v1::Licence& licence = issued.licence();
  EXPECT_EQ(licence.content().licence_id(), "510000-MZ01-J510107-2026-000777");
  EXPECT_EQ(licence.content().holder_name(), "张伟");
  EXPECT_EQ(licence.content().issued_by(), "spiffe://tongban/" + Officer(kSichuan));
  EXPECT_EQ(licence.status(), v1::LICENCE_STATUS_VALID);
  auto verifier = signing::RecordVerifier::Create(CertsDir() + "/ca/ca.pem");
  ASSERT_TRUE(verifier.ok());
  EXPECT_TRUE(
      signing::VerifyLicence(**verifier, licence, absl::Now(), signing::VerifyMode::kReceiving)
          .ok());
  v1::Licence forged = licence;
  forged.mutable_content()->set_holder_id(kWangFang);
  EXPECT_FALSE(
      signing::VerifyLicence(**verifier, forged, absl::Now(), signing::VerifyMode::kReceiving).ok());

  {  // The same number again: ALREADY_EXISTS, naming it.
    grpc::ClientContext ctx;
    v1::IssueLicenceResponse again;
    grpc::Status s = sichuan->IssueLicence(&ctx, issue, &again);
    EXPECT_EQ(s.error_code(), StatusCode::ALREADY_EXISTS);
    EXPECT_NE(s.error_message().find("J510107-2026-000777"), std::string::npos) << s.error_message();
  }

  v1::VerifyLicenceResponse before;
  ASSERT_TRUE(Verify(kSichuan, "MZ01", "J510107-2026-000777", kZhangWei, &before).ok());
  EXPECT_EQ(before.status(), v1::LICENCE_STATUS_VALID);

  v1::RevokeLicenceRequest revoke;
  revoke.set_licence_id(licence.content().licence_id());
  revoke.set_reason("登记错误，予以撤销");
  v1::RevokeLicenceResponse revoked;
  {
    grpc::ClientContext ctx;
    grpc::Status s = sichuan->RevokeLicence(&ctx, revoke, &revoked);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_EQ(revoked.licence().status(), v1::LICENCE_STATUS_REVOKED);
  EXPECT_EQ(revoked.licence().revocation().reason(), "登记错误，予以撤销");
  EXPECT_TRUE(signing::VerifyLicence(**verifier, revoked.licence(), absl::Now(),
                                     signing::VerifyMode::kHistorical)
                  .ok());
  {
    grpc::ClientContext ctx;
    v1::RevokeLicenceResponse twice;
    EXPECT_EQ(sichuan->RevokeLicence(&ctx, revoke, &twice).error_code(),
              StatusCode::FAILED_PRECONDITION);
  }
  v1::VerifyLicenceResponse after;
  ASSERT_TRUE(Verify(kSichuan, "MZ01", "J510107-2026-000777", kZhangWei, &after).ok());
  EXPECT_TRUE(after.matched());
  EXPECT_EQ(after.status(), v1::LICENCE_STATUS_REVOKED);

  // The register lists it as revoked; the demo licences are VALID.
  v1::ListLicencesRequest list;
  list.set_status(v1::LICENCE_STATUS_REVOKED);
  grpc::ClientContext ctx;
  v1::ListLicencesResponse listed;
  ASSERT_TRUE(sichuan->ListLicences(&ctx, list, &listed).ok());
  ASSERT_EQ(listed.licences_size(), 1);
  EXPECT_EQ(listed.licences(0).content().licence_id(), licence.content().licence_id());
}

TEST_F(LicenceTest, OnlyTheIssuingProvinceManagesItsRegisterAndBadQuestionsAreRefused) {
  // A Hunan officer at Sichuan's node: neither reads nor issues.
  auto hunan_at_sichuan = Licences(kSichuan, Officer(kHunan));
  {
    grpc::ClientContext ctx;
    v1::GetLicenceRequest get;
    get.set_licence_id(kMarriageId);
    v1::GetLicenceResponse resp;
    EXPECT_EQ(hunan_at_sichuan->GetLicence(&ctx, get, &resp).error_code(),
              StatusCode::PERMISSION_DENIED);
  }
  // A Sichuan officer sees the demo licence, signed by Sichuan.
  {
    grpc::ClientContext ctx;
    v1::GetLicenceRequest get;
    get.set_licence_id(kMarriageId);
    v1::GetLicenceResponse resp;
    ASSERT_TRUE(Licences(kSichuan, Officer(kSichuan))->GetLicence(&ctx, get, &resp).ok());
    EXPECT_EQ(resp.licence().content().holder_name(), "张伟");
  }
  // Sichuan's FederationService answers checks only from the gateway: an
  // officer calling it directly is refused (the origin would be unverified).
  {
    auto direct = v1::FederationService::NewStub(
        FastChannel(federation_->node_address(kSichuan), Officer(kHunan)));
    grpc::ClientContext ctx;
    v1::CheckLicenceRequest check;
    check.set_issuing_province(kSichuan);
    check.set_type_code("MZ01");
    check.set_number(kMarriageNumber);
    check.set_holder_id(kZhangWei);
    check.set_purpose("x");
    check.set_requester("spiffe://tongban/province/430000/officer/officer-01");
    v1::VerifyLicenceResponse resp;
    EXPECT_EQ(direct->CheckLicence(&ctx, check, &resp).error_code(),
              StatusCode::PERMISSION_DENIED);
  }
  // Bad questions: refused at the asking node, naming the field, not logged.
  v1::VerifyLicenceResponse resp;
  grpc::Status s = Verify(kSichuan, "XX99", kMarriageNumber, kZhangWei, &resp);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("type_code"), std::string::npos) << s.error_message();
  s = Verify(kSichuan, "MZ01", kMarriageNumber, "430102199001011239", &resp);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("holder_id"), std::string::npos) << s.error_message();
  s = Verify(kSichuan, "MZ01", kMarriageNumber, kZhangWei, &resp, "");
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("purpose"), std::string::npos) << s.error_message();
  s = Verify("990000", "MZ01", kMarriageNumber, kZhangWei, &resp);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(SichuanLog({}).empty());
  // A province not in this federation: UNAVAILABLE, naming it.
  s = Verify("310000", "JY02", "1024632007000456", "31010119850715123X", &resp);
  EXPECT_EQ(s.error_code(), StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_NE(s.error_message().find("310000"), std::string::npos) << s.error_message();
}

}  // namespace
}  // namespace tongban::testing
