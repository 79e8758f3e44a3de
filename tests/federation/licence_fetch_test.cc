// 免证办 with real processes (issue 13; docs/licences.md): a Hunan (430000)
// window files Shanghai's (310000) 夫妻投靠户口迁移 using the marriage
// certificate Sichuan (510000) issued — fetch → preview → confirm → attached
// → verified at Shanghai, and its later revocation visible on the
// application; a decline releases nothing; a revoked licence is a
// typed refusal, also when revoked between preview and confirmation; another
// citizen's licence cannot be told from none; a forged or altered licence is
// refused at the accepting node and again at the handling node; Sichuan's
// disclosure log holds exactly the accesses made.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "federation.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "licence_signing.h"
#include "node_process.h"
#include "record_author.h"
#include "record_signing.h"
#include "tongban/v1/application.grpc.pb.h"
#include "tongban/v1/federation.grpc.pb.h"
#include "tongban/v1/licence.grpc.pb.h"

namespace tongban::testing {
namespace {

using grpc::StatusCode;
using std::chrono::seconds;

constexpr char kHunan[] = "430000";
constexpr char kSichuan[] = "510000";
constexpr char kShanghai[] = "310000";

// From node/demo_catalog/licences.tsv: Sichuan's marriage certificates of
// 张伟 (a Hunan resident married in Chengdu) and of his wife 王芳.
constexpr char kZhangWei[] = "430102199001011238";
constexpr char kWangFang[] = "510107198803121233";
constexpr char kNobody[] = "430102199001012249";  // holds no licence anywhere
constexpr char kItem[] = "QR00070104";             // 夫妻投靠户口迁移: M03 结婚证 takes MZ01

std::string Officer(const std::string& province) {
  return "province/" + province + "/officer/officer-01";
}

std::string ReasonOf(const grpc::Status& s) {
  google::rpc::Status rich;
  if (!rich.ParseFromString(s.error_details())) return "";
  for (const auto& any : rich.details()) {
    google::rpc::ErrorInfo info;
    if (any.UnpackTo(&info)) return info.reason();
  }
  return "";
}

v1::LicenceUse MarriageUse() {
  v1::LicenceUse use;
  use.set_item_code(kItem);
  use.set_handling_province(kShanghai);
  use.set_material_id("M03");
  return use;
}

v1::SuppliedMaterial Upload(const std::string& id) {
  v1::SuppliedMaterial m;
  m.set_material_id(id);
  m.set_content_sha256(std::string(64, 'a'));
  m.set_size_bytes(1000);
  m.set_media_type("application/pdf");
  return m;
}

class LicenceFetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FederationOptions options;
    options.name = "licence-fetch";
    options.provinces = {kHunan, kSichuan, kShanghai};
    options.catalog_cache = false;
    federation_ = std::make_unique<Federation>(options);
    std::string error;
    ASSERT_TRUE(federation_->Start(&error)) << error;
    auto verifier = signing::RecordVerifier::Create(CertsDir() + "/ca/ca.pem");
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    verifier_ = std::move(*verifier);
  }
  void TearDown() override {
    ExpectEveryNodeRunning(federation_.get());
    KeepForPostMortem(federation_.get(), HasFailure());
  }

  std::unique_ptr<v1::LicenceService::Stub> Licences(const std::string& at) {
    return v1::LicenceService::NewStub(FastChannel(federation_->node_address(at), Officer(at)));
  }

  // The Hunan window asks Sichuan for `holder`'s licence of `type`.
  grpc::Status Preview(const std::string& holder, v1::PreviewLicenceResponse* out,
                       const std::string& type = "MZ01", const std::string& issuer = kSichuan) {
    v1::PreviewLicenceRequest req;
    req.set_issuing_province(issuer);
    req.set_type_code(type);
    req.set_holder_id(holder);
    *req.mutable_use() = MarriageUse();
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    return Licences(kHunan)->PreviewLicence(&ctx, req, out);
  }

  grpc::Status Confirm(const v1::LicenceGrant& grant, bool confirm,
                       v1::ConfirmLicenceResponse* out) {
    v1::ConfirmLicenceRequest req;
    *req.mutable_grant() = grant;
    req.set_confirm(confirm);
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    return Licences(kHunan)->ConfirmLicence(&ctx, req, out);
  }

  // Sichuan's officer revokes 张伟's marriage certificate.
  grpc::Status RevokeMarriageCertificate() {
    v1::RevokeLicenceRequest revoke;
    revoke.set_licence_id("510000-MZ01-J510107-2019-000123");
    revoke.set_reason("婚姻登记撤销");
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    v1::RevokeLicenceResponse resp;
    return Licences(kSichuan)->RevokeLicence(&ctx, revoke, &resp);
  }

  grpc::Status File(const std::string& key, const v1::Licence& licence,
                    v1::SubmitApplicationResponse* out) {
    v1::SubmitApplicationRequest req;
    req.set_idempotency_key(key);
    req.set_item_code(kItem);
    req.set_handling_province(kShanghai);
    req.mutable_applicant()->set_id_number(kZhangWei);
    req.mutable_applicant()->set_name("张伟");
    for (const char* id : {"M01", "M02", "M09"}) *req.add_materials() = Upload(id);
    v1::LicenceMaterial* lm = req.add_licence_materials();
    lm->set_material_id("M03");
    *lm->mutable_licence() = licence;
    auto apps = v1::ApplicationService::NewStub(
        FastChannel(federation_->node_address(kHunan), Officer(kHunan)));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    return apps->SubmitApplication(&ctx, req, out);
  }

  std::vector<v1::LicenceDisclosure> SichuanLog(const std::string& holder) {
    v1::ListLicenceDisclosuresRequest req;
    req.set_holder_id(holder);
    req.set_page_size(100);
    grpc::ClientContext ctx;
    v1::ListLicenceDisclosuresResponse resp;
    grpc::Status s = Licences(kSichuan)->ListLicenceDisclosures(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.disclosures().rbegin(), resp.disclosures().rend()};  // oldest first
  }

  std::unique_ptr<Federation> federation_;
  std::unique_ptr<signing::RecordVerifier> verifier_;
};

TEST_F(LicenceFetchTest, HunanWindowFilesShanghaiItemWithSichuansMarriageCertificate) {
  // Preview: what Sichuan would share, without the signature that would make
  // it usable.
  v1::PreviewLicenceResponse preview;
  grpc::Status s = Preview(kZhangWei, &preview);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const v1::LicencePreview& p = preview.preview();
  EXPECT_EQ(p.content().licence_id(), "510000-MZ01-J510107-2019-000123");
  EXPECT_EQ(p.content().holder_name(), "张伟");
  EXPECT_EQ(p.type_name_zh(), "结婚证");
  EXPECT_EQ(p.status(), v1::LICENCE_STATUS_VALID);
  EXPECT_EQ(p.grant().requester_province(), kHunan);
  EXPECT_EQ(p.grant().use().material_id(), "M03");

  // Confirmed: the signed licence comes back, verifiable by anyone.
  v1::ConfirmLicenceResponse released;
  s = Confirm(p.grant(), true, &released);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(released.has_licence());
  EXPECT_FALSE(released.declined());
  EXPECT_TRUE(signing::VerifyLicence(*verifier_, released.licence(), absl::Now(),
                                     signing::VerifyMode::kHistorical)
                  .ok());

  // An altered licence is refused at the accepting node, typed.
  v1::Licence altered = released.licence();
  altered.mutable_content()->set_valid_until("2099-12-31");
  v1::SubmitApplicationResponse refused;
  s = File("fetch-altered-01", altered, &refused);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("licence_materials[0].licence"), std::string::npos)
      << s.error_message();
  EXPECT_EQ(ReasonOf(s), "LICENCE_NOT_VERIFIED");

  // Filed with the licence as M03; the other materials uploaded.
  v1::SubmitApplicationResponse filed;
  s = File("fetch-marriage-01", released.licence(), &filed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::string id = filed.application().application_id();
  ASSERT_EQ(id.rfind("TB-430000-310000-", 0), 0u) << id;

  // Shanghai verified it on delivery and holds the licence as material M03.
  auto shanghai = v1::ApplicationService::NewStub(
      FastChannel(federation_->node_address(kShanghai), Officer(kShanghai)));
  v1::Application at_shanghai;
  ASSERT_TRUE(WaitUntil(seconds(30), [&] {
    grpc::ClientContext ctx;
    v1::GetApplicationRequest get;
    get.set_application_id(id);
    v1::GetApplicationResponse resp;
    if (!shanghai->GetApplication(&ctx, get, &resp).ok()) return false;
    at_shanghai = resp.application();
    return true;
  })) << federation_->LogTails();
  const v1::SuppliedMaterial* m03 = nullptr;
  for (const auto& m : at_shanghai.materials()) {
    if (m.material_id() == "M03") m03 = &m;
  }
  ASSERT_NE(m03, nullptr);
  ASSERT_TRUE(m03->has_licence());
  EXPECT_EQ(m03->media_type(), "application/vnd.tongban.licence+protobuf");
  EXPECT_TRUE(
      signing::VerifyLicence(*verifier_, m03->licence(), absl::Now(), signing::VerifyMode::kHistorical)
          .ok());

  // Sichuan logged exactly the preview and the release, linked by the grant.
  std::vector<v1::LicenceDisclosure> log = SichuanLog(kZhangWei);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].kind(), v1::DISCLOSURE_KIND_PREVIEW);
  EXPECT_EQ(log[1].kind(), v1::DISCLOSURE_KIND_RELEASE);
  for (const auto& d : log) {
    EXPECT_EQ(d.grant_id(), p.grant().grant_id());
    EXPECT_EQ(d.requester_province(), kHunan);
    EXPECT_EQ(d.requester(), "spiffe://tongban/" + Officer(kHunan));
    EXPECT_EQ(d.use().item_code(), kItem);
    EXPECT_EQ(d.licence_id(), "510000-MZ01-J510107-2019-000123");
    EXPECT_TRUE(
        signing::VerifyDisclosure(*verifier_, d, absl::Now(), signing::VerifyMode::kHistorical).ok());
  }
  // The grant was for Hunan: Shanghai's node cannot cash it.
  {
    auto relay = v1::FederationService::NewStub(
        FastChannel(federation_->gateway_address(), "province/310000/node"));
    v1::ReleaseLicenceRequest steal;
    steal.set_issuing_province(kSichuan);
    *steal.mutable_grant() = p.grant();
    steal.set_confirm(true);
    steal.set_requester("spiffe://tongban/province/310000/officer/officer-01");
    grpc::ClientContext ctx;
    v1::ConfirmLicenceResponse resp;
    EXPECT_EQ(relay->ReleaseLicence(&ctx, steal, &resp).error_code(),
              StatusCode::PERMISSION_DENIED);
  }
  EXPECT_EQ(SichuanLog(kZhangWei).size(), 2u);

  // Sichuan revokes the certificate after the filing: Shanghai's officer
  // sees it on the application, and Sichuan logs that check with its id.
  ASSERT_TRUE(RevokeMarriageCertificate().ok());
  v1::CheckApplicationLicencesRequest check;
  check.set_application_id(id);
  v1::CheckApplicationLicencesResponse now;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    s = Licences(kShanghai)->CheckApplicationLicences(&ctx, check, &now);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ASSERT_EQ(now.licences_size(), 1);
  EXPECT_EQ(now.licences(0).material_id(), "M03");
  EXPECT_TRUE(now.licences(0).answer().matched());
  EXPECT_EQ(now.licences(0).answer().status(), v1::LICENCE_STATUS_REVOKED);
  log = SichuanLog(kZhangWei);
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[2].kind(), v1::DISCLOSURE_KIND_CHECK);
  EXPECT_EQ(log[2].requester_province(), kShanghai);
  EXPECT_EQ(log[2].application_id(), id);
}

TEST_F(LicenceFetchTest, DeclineReleasesNothingAndRevocationIsATypedRefusal) {
  v1::PreviewLicenceResponse preview;
  ASSERT_TRUE(Preview(kZhangWei, &preview).ok());
  v1::ConfirmLicenceResponse declined;
  grpc::Status s = Confirm(preview.preview().grant(), false, &declined);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(declined.declined());
  EXPECT_FALSE(declined.has_licence());

  // Previewed again, then revoked by Sichuan before the applicant confirms.
  ASSERT_TRUE(Preview(kZhangWei, &preview).ok());
  ASSERT_TRUE(RevokeMarriageCertificate().ok());
  v1::ConfirmLicenceResponse late;
  s = Confirm(preview.preview().grant(), true, &late);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(s), "LICENCE_REVOKED") << s.error_message();
  // And the next preview says so, typed, naming the reason.
  v1::PreviewLicenceResponse again;
  s = Preview(kZhangWei, &again);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(s), "LICENCE_REVOKED");
  EXPECT_NE(s.error_message().find("婚姻登记撤销"), std::string::npos) << s.error_message();

  std::vector<v1::LicenceDisclosure> log = SichuanLog(kZhangWei);
  ASSERT_EQ(log.size(), 5u);
  const v1::DisclosureKind expected[] = {v1::DISCLOSURE_KIND_PREVIEW, v1::DISCLOSURE_KIND_DECLINE,
                                         v1::DISCLOSURE_KIND_PREVIEW, v1::DISCLOSURE_KIND_DECLINE,
                                         v1::DISCLOSURE_KIND_PREVIEW};
  for (size_t i = 0; i < log.size(); ++i) EXPECT_EQ(log[i].kind(), expected[i]) << i;
  EXPECT_EQ(log[3].status(), v1::LICENCE_STATUS_REVOKED);  // the refused release
  EXPECT_FALSE(log[4].matched());
}

TEST_F(LicenceFetchTest, AnotherCitizensLicenceCannotBeToldFromNone) {
  // A citizen through the gateway (its stamp) asks for 王芳's certificate
  // while signed in as 张伟, and for their own as someone holding none.
  auto as_gateway = v1::LicenceService::NewStub(
      FastChannel(federation_->node_address(kSichuan), "gateway"));
  const auto ask = [&](const std::string& citizen, const std::string& holder) {
    v1::PreviewLicenceRequest req;
    req.set_issuing_province(kSichuan);
    req.set_type_code("MZ01");
    req.set_holder_id(holder);
    *req.mutable_use() = MarriageUse();
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-tongban-citizen-id", citizen);
    v1::PreviewLicenceResponse resp;
    return as_gateway->PreviewLicence(&ctx, req, &resp);
  };
  grpc::Status someone_elses = ask(kZhangWei, kWangFang);
  grpc::Status none = ask(kNobody, "");
  EXPECT_EQ(someone_elses.error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(none.error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(ReasonOf(someone_elses), "LICENCE_NOT_FOUND");
  EXPECT_EQ(ReasonOf(none), "LICENCE_NOT_FOUND");
  // The citizen's own, asked through the gateway, is previewed.
  grpc::Status own = ask(kWangFang, "");
  EXPECT_TRUE(own.ok()) << own.error_message();
  // 王芳's log shows only her own preview: 张伟's attempt never reached it.
  std::vector<v1::LicenceDisclosure> hers = SichuanLog(kWangFang);
  ASSERT_EQ(hers.size(), 1u);
  EXPECT_EQ(hers[0].requester(), std::string("citizen:") + kWangFang);
  // A type the handling guide does not take for M03 is refused before
  // anyone is asked.
  v1::PreviewLicenceResponse wrong;
  grpc::Status s = Preview(kZhangWei, &wrong, "GA01");
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(s), "LICENCE_TYPE_NOT_ACCEPTED") << s.error_message();
  EXPECT_TRUE(SichuanLog(kZhangWei).empty());
}

TEST_F(LicenceFetchTest, HandlingNodeRefusesAForgedLicenceEvenInASignedFiling) {
  // A real release, then a filing signed by Hunan's own node key whose
  // licence was altered after release: Shanghai checks the licence itself.
  v1::PreviewLicenceResponse preview;
  ASSERT_TRUE(Preview(kZhangWei, &preview).ok());
  v1::ConfirmLicenceResponse released;
  ASSERT_TRUE(Confirm(preview.preview().grant(), true, &released).ok());
  v1::Licence forged = released.licence();
  forged.mutable_content()->set_holder_name("李四");

  RecordAuthor hunan(kHunan);
  v1::Applicant applicant;
  applicant.set_id_number(kZhangWei);
  applicant.set_name("张伟");
  const auto deliver = [&](const std::string& id, const v1::Licence& licence) {
    std::vector<v1::SuppliedMaterial> materials = {Upload("M01"), Upload("M02"), Upload("M09")};
    v1::SuppliedMaterial m03;
    m03.set_material_id("M03");
    const std::string content = signing::DeterministicBytes(licence.content());
    m03.set_content_sha256(signing::Hex(signing::Sha256(content)));
    m03.set_size_bytes(static_cast<int64_t>(content.size()));
    m03.set_media_type("application/vnd.tongban.licence+protobuf");
    *m03.mutable_licence() = licence;
    materials.push_back(m03);
    v1::DeliverApplicationRequest req = hunan.Filing(id, kItem, applicant, materials);
    auto relay = v1::FederationService::NewStub(
        FastChannel(federation_->gateway_address(), "province/430000/node"));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    v1::DeliverApplicationResponse resp;
    return relay->DeliverApplication(&ctx, req, &resp);
  };
  grpc::Status s = deliver("TB-430000-310000-20261207-90000001", forged);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("application.filing.materials[3].licence"), std::string::npos)
      << s.error_message();
  // The genuine licence in the same kind of filing is taken.
  s = deliver("TB-430000-310000-20261207-90000002", released.licence());
  EXPECT_TRUE(s.ok()) << s.error_message();
}

}  // namespace
}  // namespace tongban::testing
