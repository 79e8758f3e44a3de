// LicenceRegistry (node/service/licence_registry.h) over a real SQLite store
// and a fake clock: what a preview chooses and refuses, and every way a
// grant can come back wrong — expired, altered, another node's, another
// province's — each refused without releasing anything, and logged only
// when the holder really decided.
#include "service/licence_registry.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "clock.h"
#include "grpc_status.h"
#include "licence_signing.h"
#include "licence_types.h"
#include "record_signing.h"
#include "service/demo_licences.h"
#include "signing_test_pki.h"
#include "store/sqlite_database.h"
#include "store/sqlite_licence_store.h"

namespace tongban::node {
namespace {

namespace pki = ::tongban::testing::signing_pki;

constexpr char kSichuan[] = "510000";
constexpr char kHunan[] = "430000";
constexpr char kZhangWei[] = "430102199001011238";

v1::IssueLicenceRequest Marriage(const std::string& number, const std::string& from,
                                 const std::string& until = "") {
  v1::IssueLicenceRequest r;
  r.set_type_code("MZ01");
  r.set_number(number);
  r.set_holder_id(kZhangWei);
  r.set_holder_name("张伟");
  r.set_issuing_authority("成都市武侯区民政局");
  r.set_valid_from(from);
  r.set_valid_until(until);
  return r;
}

LicenceFetch Fetch() {
  LicenceFetch f;
  f.type_code = "MZ01";
  f.holder_id = kZhangWei;
  f.use.set_item_code("QR00070104");
  f.use.set_handling_province("310000");
  f.use.set_material_id("M03");
  f.requester_province = kHunan;
  f.requester = "spiffe://tongban/province/430000/officer/officer-01";
  return f;
}

class LicenceRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = pki::MakeTempDir("licence-registry");
    ASSERT_FALSE(dir_.empty());
    SqliteDatabaseOptions options;
    options.path = dir_ + "/node.db";
    auto db = SqliteDatabase::Open(std::move(options));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    store_ = std::make_unique<SqliteLicenceStore>(*db_);
    ca_ = pki::MakeCa("test-ca");
    ASSERT_TRUE(pki::WritePem(dir_ + "/ca.pem", ca_.cert));
    std::filesystem::create_directory(dir_ + "/510000");
    std::filesystem::create_directory(dir_ + "/other");
    ASSERT_TRUE(pki::WritePair(dir_ + "/510000", pki::MakeNode(ca_, kSichuan)));
    auto signer = signing::RecordSigner::Create(dir_ + "/510000/key.pem", dir_ + "/510000/cert.pem");
    ASSERT_TRUE(signer.ok()) << signer.status();
    signer_ = *std::move(signer);
    auto verifier = signing::RecordVerifier::Create(dir_ + "/ca.pem");
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    verifier_ = *std::move(verifier);
    LicenceRegistryDeps deps;
    deps.own_province = kSichuan;
    deps.store = store_.get();
    deps.signer = signer_.get();
    deps.clock = &clock_;
    deps.types = &LicenceTypeList::National();
    deps.verifier = verifier_.get();
    registry_ = std::make_unique<LicenceRegistry>(std::move(deps));
  }
  void TearDown() override {
    registry_.reset();
    store_.reset();
    if (db_ != nullptr) db_->Close();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  int LogSize() {
    auto log = registry_->ListDisclosures({}, 0, 100);
    return log.ok() ? static_cast<int>(log->size()) : -1;
  }

  std::string dir_;
  pki::Key ca_;
  // Near the real time: the test certificates are valid around now.
  FakeClock clock_{absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()))};
  std::unique_ptr<SqliteDatabase> db_;
  std::unique_ptr<SqliteLicenceStore> store_;
  std::unique_ptr<signing::RecordSigner> signer_;
  std::unique_ptr<signing::RecordVerifier> verifier_;
  std::unique_ptr<LicenceRegistry> registry_;
};

TEST_F(LicenceRegistryTest, PreviewChoosesTheNewestValidLicenceAndTypesTheRefusals) {
  // Nothing held: NOT_FOUND, typed, and logged (the holder may ask who looked).
  auto none = registry_->Preview(Fetch());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReasonOf(none.status()), kReasonLicenceNotFound);
  EXPECT_EQ(LogSize(), 1);

  // Only an expired one: FAILED_PRECONDITION LICENCE_EXPIRED.
  ASSERT_TRUE(registry_->Issue(Marriage("J-OLD", "2001-01-01", "2010-12-31"), "o").ok());
  auto expired = registry_->Preview(Fetch());
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(expired.status()), kReasonLicenceExpired);

  // Two valid ones: the newer is previewed, with a grant that verifies.
  ASSERT_TRUE(registry_->Issue(Marriage("J-2015", "2015-05-01"), "o").ok());
  ASSERT_TRUE(registry_->Issue(Marriage("J-2020", "2020-05-01"), "o").ok());
  auto preview = registry_->Preview(Fetch());
  ASSERT_TRUE(preview.ok()) << preview.status();
  EXPECT_EQ(preview->preview().content().number(), "J-2020");
  EXPECT_FALSE(preview->preview().content().licence_id().empty());
  EXPECT_TRUE(signing::VerifyGrant(*verifier_, preview->preview().grant(), clock_.Now()).ok());
  EXPECT_EQ(absl::FromUnixSeconds(preview->preview().grant().expires_at().seconds()),
            clock_.Now() + absl::Minutes(10));

  // Both valid ones revoked: LICENCE_REVOKED.
  ASSERT_TRUE(registry_->Revoke("510000-MZ01-J-2015", "撤销", "o").ok());
  ASSERT_TRUE(registry_->Revoke("510000-MZ01-J-2020", "撤销", "o").ok());
  auto revoked = registry_->Preview(Fetch());
  EXPECT_EQ(revoked.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(revoked.status()), kReasonLicenceRevoked);
}

LicenceQuestion MarriageQuestion(const std::string& number) {
  LicenceQuestion q;
  q.type_code = "MZ01";
  q.number = number;
  q.holder_id = kZhangWei;
  q.purpose = "核验结婚证";
  q.requester_province = kHunan;
  q.requester = "spiffe://tongban/province/430000/officer/officer-01";
  return q;
}

// Disclosure ids keep their published shape and sort in the order the
// accesses were made (the log's unique index on them then grows at its end),
// while ids made in the same microsecond still differ.
TEST_F(LicenceRegistryTest, DisclosureIdsAreUniqueAndSortInTimeOrder) {
  ASSERT_TRUE(registry_->Issue(Marriage("J-1", "2020-05-01"), "o").ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    if (i % 2 == 0) clock_.Advance(absl::Microseconds(1));  // pairs share a microsecond
    auto answer = registry_->Check(MarriageQuestion(i % 3 == 0 ? "J-1" : "J-404"));
    ASSERT_TRUE(answer.ok()) << answer.status();
    const std::string& id = answer->disclosure_id();
    ASSERT_EQ(id.size(), std::string("510000-d-").size() + 32) << id;
    EXPECT_EQ(id.rfind("510000-d-", 0), 0u) << id;
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef", 9), std::string::npos) << id;
    ids.push_back(id);
  }
  for (size_t i = 1; i < ids.size(); ++i) {
    EXPECT_NE(ids[i], ids[i - 1]);
    // Same microsecond: same time prefix, order left to chance.
    if (i % 2 == 1) {
      EXPECT_EQ(ids[i].substr(0, 25), ids[i - 1].substr(0, 25));
    } else {
      EXPECT_LT(ids[i - 1], ids[i]);
    }
  }
  EXPECT_EQ(LogSize(), 6);
}

// The register as a replica saw it before another replica of the province
// seeded it: empty, while every other call goes to the real store.
class EmptyWhenAsked final : public LicenceStore {
 public:
  explicit EmptyWhenAsked(LicenceStore& real) : real_(real) {}
  absl::StatusOr<bool> IsEmpty() override { return true; }
  absl::Status InsertLicences(const std::vector<v1::Licence>& l) override {
    return real_.InsertLicences(l);
  }
  absl::Status UpdateLicence(const v1::Licence& l) override { return real_.UpdateLicence(l); }
  absl::StatusOr<v1::Licence> GetLicence(const std::string& id) override {
    return real_.GetLicence(id);
  }
  absl::StatusOr<std::vector<v1::Licence>> ListLicences(const LicenceFilter& f,
                                                        const std::string& after,
                                                        int limit) override {
    return real_.ListLicences(f, after, limit);
  }
  absl::StatusOr<int64_t> AppendDisclosure(const v1::LicenceDisclosure& d) override {
    return real_.AppendDisclosure(d);
  }
  absl::StatusOr<std::vector<StoredDisclosure>> ListDisclosures(const DisclosureFilter& f,
                                                                int64_t before,
                                                                int limit) override {
    return real_.ListDisclosures(f, before, limit);
  }

 private:
  LicenceStore& real_;
};

// Replicas starting together on one empty register all seed the demo rows:
// the one that comes second finds them issued and starts, rather than
// failing on its own seeding.
TEST_F(LicenceRegistryTest, DemoSeedingLeavesRowsAnotherReplicaIssuedAndStarts) {
  std::string first;
  ASSERT_TRUE(SeedDemoLicencesIfEmpty(TONGBAN_DEMO_CATALOG_DIR, *store_, *registry_, &first).ok());
  EXPECT_EQ(first.rfind("issued ", 0), 0u) << first;
  auto seeded = registry_->List({}, v1::LICENCE_STATUS_UNSPECIFIED, "", 100);
  ASSERT_TRUE(seeded.ok()) << seeded.status();
  ASSERT_FALSE(seeded->licences.empty());

  EmptyWhenAsked late(*store_);
  std::string second;
  absl::Status s = SeedDemoLicencesIfEmpty(TONGBAN_DEMO_CATALOG_DIR, late, *registry_, &second);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(second, absl::StrCat("issued 0 demo licences of province 510000 (",
                                 seeded->licences.size(), " issued already)"));
  auto after = registry_->List({}, v1::LICENCE_STATUS_UNSPECIFIED, "", 100);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->licences.size(), seeded->licences.size());
}

TEST_F(LicenceRegistryTest, ListingPagesThroughTheRegisterWithoutGapsOrRepeats) {
  for (const char* number : {"J-1", "J-2", "J-3"}) {
    ASSERT_TRUE(registry_->Issue(Marriage(number, "2020-05-01"), "o").ok());
  }
  LicenceFilter holder;
  holder.holder_id = kZhangWei;
  auto first = registry_->List(holder, v1::LICENCE_STATUS_UNSPECIFIED, "", 2);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->licences.size(), 2u);
  EXPECT_EQ(first->next_after, "510000-MZ01-J-2");
  auto second = registry_->List(holder, v1::LICENCE_STATUS_UNSPECIFIED, first->next_after, 2);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->licences.size(), 1u);
  EXPECT_EQ(second->licences[0].content().licence_id(), "510000-MZ01-J-3");
  EXPECT_EQ(second->next_after, "");
}

TEST_F(LicenceRegistryTest, AGrantIsCashedOnlyAsIssuedInTimeAndByItsProvince) {
  ASSERT_TRUE(registry_->Issue(Marriage("J-2020", "2020-05-01"), "o").ok());
  auto preview = registry_->Preview(Fetch());
  ASSERT_TRUE(preview.ok()) << preview.status();
  const v1::LicenceGrant grant = preview->preview().grant();
  const int logged = LogSize();

  // Altered (a longer lifetime, another use): its signature no longer verifies.
  v1::LicenceGrant longer = grant;
  longer.mutable_expires_at()->set_seconds(grant.expires_at().seconds() + 86400);
  EXPECT_EQ(registry_->Release(longer, true, kHunan, "x").status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::LicenceGrant other_use = grant;
  other_use.mutable_use()->set_item_code("GG00040102");
  EXPECT_EQ(registry_->Release(other_use, true, kHunan, "x").status().code(),
            absl::StatusCode::kPermissionDenied);
  // Cashed by a province it was not issued to.
  EXPECT_EQ(registry_->Release(grant, true, "310000", "x").status().code(),
            absl::StatusCode::kPermissionDenied);
  // Signed by another node of the federation claiming to be Sichuan's grant.
  ASSERT_TRUE(pki::WritePair(dir_ + "/other", pki::MakeNode(ca_, kHunan)));
  auto hunan = signing::RecordSigner::Create(dir_ + "/other/key.pem", dir_ + "/other/cert.pem");
  ASSERT_TRUE(hunan.ok());
  v1::LicenceGrant forged = grant;
  forged.set_issuing_province(kHunan);
  ASSERT_TRUE(signing::SignGrant(**hunan, &forged).ok());
  forged.set_issuing_province(kSichuan);
  EXPECT_EQ(registry_->Release(forged, true, kHunan, "x").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(LogSize(), logged);  // none of these was the holder deciding

  // In time: released, once per decision, each logged.
  auto released = registry_->Release(grant, true, kHunan, "x");
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_TRUE(signing::VerifyLicence(*verifier_, released->licence(), clock_.Now(),
                                     signing::VerifyMode::kHistorical)
                  .ok());
  EXPECT_EQ(LogSize(), logged + 1);

  // Ten minutes later the grant is spent for good.
  clock_.Advance(absl::Minutes(10) + absl::Seconds(1));
  auto late = registry_->Release(grant, true, kHunan, "x");
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(late.status()), kReasonGrantExpired);
}

}  // namespace
}  // namespace tongban::node
