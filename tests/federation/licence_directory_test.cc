// 电子证照 directory (issue 13; docs/licences.md) through a real gateway and
// real nodes: which licence types satisfy which material of a province's
// guide (MaterialRequirement.licence_types, seeded from
// node/demo_catalog/material_licences.tsv), and which province a holder's
// licence of a type is suggested to come from. Asked by an officer over
// FederationQueryService.FindLicenceEvidence (mTLS) and by a citizen's app
// over the public REST edge (curl, bearer token); the gateway reads the
// handling province's guide from its node and holds no licence.
#include <cstdlib>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "child_process.h"
#include "federation.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "node_process.h"
#include "resident_id.h"
#include "tongban/v1/citizen.pb.h"
#include "tongban/v1/gateway.grpc.pb.h"

namespace tongban::testing {
namespace {

using grpc::StatusCode;

constexpr char kHunan[] = "430000";
constexpr char kShanghai[] = "310000";
constexpr char kSpouseHukou[] = "QR00070104";  // 夫妻投靠户口迁移: M02 GA01, M03 MZ01
constexpr char kSocialSecurityCard[] = "GG00020600";  // lists no licence type

// From node/demo_catalog/licences.tsv: 张伟, registered in Changsha (4301…),
// married in Chengdu, so his 结婚证 is Sichuan's although the suggestion
// for him is Hunan: the applicant names the issuing province when fetching.
constexpr char kZhangWei[] = "430102199001011238";
constexpr char kChenJing[] = "31010119850715123X";          // registered in Shanghai
constexpr char kShanghaiCompany[] = "91310000MA1K4A2B3D";   // its 营业执照 is Shanghai's

std::string Officer(const std::string& province) {
  return "province/" + province + "/officer/officer-01";
}

// (material id, name, key) and per type (code, name_zh, name_en, kind,
// ministry, suggested province), flattened for comparison.
struct Listed {
  std::string material_id;
  std::string name_zh;
  bool key = false;
  std::vector<std::vector<std::string>> licences;
  bool operator==(const Listed& o) const {
    return material_id == o.material_id && name_zh == o.name_zh && key == o.key &&
           licences == o.licences;
  }
};

std::ostream& operator<<(std::ostream& out, const Listed& l) {
  out << l.material_id << " " << l.name_zh << (l.key ? " key" : "") << " [";
  for (const auto& t : l.licences) {
    for (const std::string& f : t) out << f << "|";
    out << "; ";
  }
  return out << "]";
}

std::vector<Listed> Flatten(
    const google::protobuf::RepeatedPtrField<v1::MaterialLicenceEvidence>& materials) {
  std::vector<Listed> out;
  for (const v1::MaterialLicenceEvidence& m : materials) {
    Listed l{m.material_id(), m.name_zh(), m.key(), {}};
    for (const v1::AcceptableLicence& a : m.licences()) {
      l.licences.push_back({a.type().type_code(), a.type().name_zh(), a.type().name_en(),
                            v1::HolderKind_Name(a.type().holder_kind()), a.type().ministry_zh(),
                            a.suggested_issuing_province()});
    }
    out.push_back(std::move(l));
  }
  return out;
}

// Shanghai's 夫妻投靠 guide as the directory lists it, with `suggested` as
// the suggested issuing province of both (person-held) types.
std::vector<Listed> SpouseHukouListing(const std::string& suggested) {
  return {{"M02",
           "居民户口簿",
           true,
           {{"GA01", "居民户口簿", "Household register", "HOLDER_KIND_PERSON", "公安部", suggested}}},
          {"M03",
           "结婚证",
           true,
           {{"MZ01", "结婚证", "Marriage certificate", "HOLDER_KIND_PERSON", "民政部",
             suggested}}}};
}

struct HttpResult {
  int status = 0;  // 0 = curl failed
  std::string body;
  std::string error;
};

class LicenceDirectoryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    start_error_ = new std::string();
    FederationOptions options;
    options.name = "licence-directory";
    options.provinces = {kHunan, kShanghai};
    options.public_edge = true;
    federation_ = new Federation(options);
    if (!federation_->Start(start_error_)) return;
    if (federation_->https_address().empty()) *start_error_ = "the gateway serves no HTTPS edge";
  }
  static void TearDownTestSuite() {
    delete federation_;
    federation_ = nullptr;
    delete start_error_;
  }
  void SetUp() override {
    ASSERT_TRUE(start_error_->empty()) << "the federation did not start: " << *start_error_;
  }
  void TearDown() override {
    ExpectEveryNodeRunning(federation_);
    KeepForPostMortem(federation_, HasFailure());
  }

  static grpc::Status Find(const std::string& province, const std::string& item,
                           const std::string& holder, v1::FindLicenceEvidenceResponse* out,
                           const std::string& identity = Officer(kHunan)) {
    v1::FindLicenceEvidenceRequest req;
    req.set_province_code(province);
    req.set_item_code(item);
    req.set_holder_id(holder);
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    return v1::FederationQueryService::NewStub(
               FastChannel(federation_->gateway_address(), identity))
        ->FindLicenceEvidence(&ctx, req, out);
  }

  // A GET on the public REST edge, as a citizen's app sends it.
  static HttpResult Get(const std::string& path, const std::string& token) {
    std::vector<std::string> args = {"curl",     "-sS", "--max-time", "30", "--cacert",
                                     CertsDir() + "/ca/ca.pem", "-w", "\n%{http_code}"};
    if (!token.empty()) args.insert(args.end(), {"-H", "Authorization: Bearer " + token});
    args.push_back("https://" + federation_->https_address() + path);
    ProcessResult p = RunProcess(args);
    HttpResult r;
    if (p.exit_code != 0) {
      r.error = "curl exit " + std::to_string(p.exit_code) + ": " + p.start_error + p.err;
      return r;
    }
    const size_t cut = p.out.rfind('\n');
    r.body = p.out.substr(0, cut);
    r.status = std::atoi(p.out.c_str() + cut + 1);
    return r;
  }

  template <typename M>
  static ::testing::AssertionResult ParseJson(const std::string& json, M* out) {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;  // the answer holds only what the API describes
    auto status = google::protobuf::util::JsonStringToMessage(json, out, options);
    if (!status.ok()) {
      return ::testing::AssertionFailure() << status.ToString() << ": " << json.substr(0, 2000);
    }
    return ::testing::AssertionSuccess();
  }

  static Federation* federation_;
  static std::string* start_error_;
};

Federation* LicenceDirectoryTest::federation_ = nullptr;
std::string* LicenceDirectoryTest::start_error_ = nullptr;

TEST_F(LicenceDirectoryTest, ShanghaiSpouseHukouListsHouseholdRegisterAndMarriageCertificate) {
  v1::FindLicenceEvidenceResponse resp;
  grpc::Status s = Find(kShanghai, kSpouseHukou, kZhangWei, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.province_code(), kShanghai);
  EXPECT_EQ(resp.item_code(), kSpouseHukou);
  EXPECT_EQ(resp.guide_version(), 1);
  // M01 居民身份证, M04 住房证明 and Shanghai's own M09 上海市居住证 list no
  // type, so they are not in the answer. 张伟's id starts 43: Hunan.
  EXPECT_EQ(Flatten(resp.materials()), SpouseHukouListing(kHunan));

  // Another province's officer asks the same; a holder registered in
  // Shanghai gets Shanghai; without a holder there is no suggestion.
  ASSERT_TRUE(Find(kShanghai, kSpouseHukou, kChenJing, &resp, Officer(kShanghai)).ok());
  EXPECT_EQ(Flatten(resp.materials()), SpouseHukouListing(kShanghai));
  ASSERT_TRUE(Find(kShanghai, kSpouseHukou, "", &resp).ok());
  EXPECT_EQ(Flatten(resp.materials()), SpouseHukouListing(""));

  // A resident id whose address code is no province of the 31 (81: Hong
  // Kong) gives no suggestion either.
  ASSERT_TRUE(Find(kShanghai, kSpouseHukou, MakeResidentId("81000019900101123"), &resp).ok());
  EXPECT_EQ(Flatten(resp.materials()), SpouseHukouListing(""));

  // Hunan's guide of the same item lists the same (the baseline).
  ASSERT_TRUE(Find(kHunan, kSpouseHukou, kZhangWei, &resp).ok());
  EXPECT_EQ(Flatten(resp.materials()), SpouseHukouListing(kHunan));
}

TEST_F(LicenceDirectoryTest, OrganisationTypesSuggestNoProvinceForAPerson) {
  // 工业产品生产许可证: M03 营业执照, held by the enterprise. No suggestion
  // for a person's id (they do not hold it) nor, here, for a credit code.
  const std::vector<Listed> expected = {
      {"M03",
       "营业执照",
       true,
       {{"SC01", "营业执照", "Business licence", "HOLDER_KIND_ORGANIZATION", "市场监管总局", ""}}}};
  for (const std::string& holder : {std::string(kZhangWei), std::string(kShanghaiCompany)}) {
    SCOPED_TRACE(holder);
    v1::FindLicenceEvidenceResponse resp;
    grpc::Status s = Find(kShanghai, "XK00000200", holder, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(Flatten(resp.materials()), expected);
  }
}

TEST_F(LicenceDirectoryTest, ItemWithoutLicenceTypesAnswersAnEmptyList) {
  v1::FindLicenceEvidenceResponse resp;
  grpc::Status s = Find(kShanghai, kSocialSecurityCard, kZhangWei, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.province_code(), kShanghai);
  EXPECT_EQ(resp.item_code(), kSocialSecurityCard);
  EXPECT_GE(resp.guide_version(), 1);
  EXPECT_EQ(resp.materials_size(), 0);
}

TEST_F(LicenceDirectoryTest, BadInputIsInvalidArgumentNamingTheField) {
  struct Bad {
    std::string province, item, holder, field;
  };
  const std::string bad_check_digit = "430102199001011230";
  for (const Bad& bad : std::vector<Bad>{
           {"990000", kSpouseHukou, kZhangWei, "province_code"},
           {"", kSpouseHukou, "", "province_code"},
           {kShanghai, "QR0007", kZhangWei, "item_code"},
           {kShanghai, "", "", "item_code"},
           {kShanghai, kSpouseHukou, bad_check_digit, "holder_id"},
           {kShanghai, kSpouseHukou, "not-an-id", "holder_id"}}) {
    SCOPED_TRACE(bad.field + " " + bad.province + " " + bad.item + " " + bad.holder);
    v1::FindLicenceEvidenceResponse resp;
    grpc::Status s = Find(bad.province, bad.item, bad.holder, &resp);
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_EQ(s.error_message().rfind(bad.field, 0), 0u) << s.error_message();
    // A holder id is personal data: never repeated in the answer.
    if (!bad.holder.empty()) {
      EXPECT_EQ(s.error_message().find(bad.holder), std::string::npos) << s.error_message();
    }
  }
  // A province that does not implement the item (Hunan's own 生育登记).
  v1::FindLicenceEvidenceResponse resp;
  grpc::Status s = Find(kShanghai, "QR43000100", kZhangWei, &resp);
  EXPECT_EQ(s.error_code(), StatusCode::NOT_FOUND) << s.error_message();
}

TEST_F(LicenceDirectoryTest, CitizenAppAsksOverRestForThemselves) {
  const std::string path = std::string("/v1/provinces/") + kShanghai + "/items/" + kSpouseHukou +
                           "/licence-evidence";
  HttpResult r = Get(path, TestCitizenToken(kZhangWei));
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  v1::FindMyLicenceEvidenceResponse mine;
  ASSERT_TRUE(ParseJson(r.body, &mine));
  EXPECT_EQ(mine.province_code(), kShanghai);
  EXPECT_EQ(mine.item_code(), kSpouseHukou);
  EXPECT_EQ(mine.guide_version(), 1);
  EXPECT_EQ(Flatten(mine.materials()), SpouseHukouListing(kHunan));  // the token's citizen

  r = Get(path, TestCitizenToken(kChenJing));
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  ASSERT_TRUE(ParseJson(r.body, &mine));
  EXPECT_EQ(Flatten(mine.materials()), SpouseHukouListing(kShanghai));

  // Nothing to fetch for this item: an empty list.
  r = Get(std::string("/v1/provinces/") + kShanghai + "/items/" + kSocialSecurityCard +
              "/licence-evidence",
          TestCitizenToken(kZhangWei));
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  v1::FindMyLicenceEvidenceResponse none;
  ASSERT_TRUE(ParseJson(r.body, &none));
  EXPECT_EQ(none.materials_size(), 0);

  // The holder is the token's citizen: no token, no answer.
  r = Get(path, "");
  EXPECT_EQ(r.status, 401) << r.body << r.error;
  v1::ErrorBody error;
  ASSERT_TRUE(ParseJson(r.body, &error));
  EXPECT_EQ(error.code(), "UNAUTHENTICATED");

  // A bad path value names the field (JSON name).
  r = Get(std::string("/v1/provinces/990000/items/") + kSpouseHukou + "/licence-evidence",
          TestCitizenToken(kZhangWei));
  EXPECT_EQ(r.status, 400) << r.body << r.error;
  error.Clear();
  ASSERT_TRUE(ParseJson(r.body, &error));
  EXPECT_EQ(error.code(), "INVALID_ARGUMENT");
  ASSERT_GE(error.details_size(), 1) << r.body;
  EXPECT_EQ(error.details(0).field(), "provinceCode") << r.body;
}

}  // namespace
}  // namespace tongban::testing
