// node/service/guide_resolver: own guides are kept in memory; with several
// replicas on one database (own_guide_ttl) an amendment made by another
// replica is used within the TTL, and without a TTL only after Invalidate.
#include "service/guide_resolver.h"

#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "store/sqlite_catalog_store.h"
#include "store/sqlite_database.h"

namespace tongban::node {
namespace {

constexpr char kOwn[] = "430000";
constexpr char kItem[] = "GG00020600";

v1::Guide Guide(int64_t version, int32_t promised_days) {
  v1::Guide g;
  g.set_province_code(kOwn);
  g.mutable_item()->set_item_code(kItem);
  g.mutable_item()->set_name_zh("社会保障卡申领");
  g.set_status(v1::ITEM_STATUS_ACTIVE);
  g.set_version(version);
  g.set_promised_time_limit_days(promised_days);
  return g;
}

// Two replicas: two databases (connections, writer threads) on one file.
class GuideResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/guide-resolver-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    for (auto* db : {&db_a_, &db_b_}) {
      SqliteDatabaseOptions options;
      options.path = dir_ + "/node.db";
      auto opened = SqliteDatabase::Open(std::move(options));
      ASSERT_TRUE(opened.ok()) << opened.status();
      *db = *std::move(opened);
    }
    store_a_ = std::make_unique<SqliteCatalogStore>(*db_a_);
    store_b_ = std::make_unique<SqliteCatalogStore>(*db_b_);
    ASSERT_TRUE(store_a_->PutGuides({Guide(1, 20)}).ok());
  }
  void TearDown() override {
    store_a_.reset();
    store_b_.reset();
    db_a_.reset();
    db_b_.reset();
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  // Replica B amends the guide (promised limit 10 days, version 2).
  void AmendAtB() {
    absl::StatusOr<v1::Guide> amended = store_b_->AmendGuide(Guide(1, 10), 1, 1700000000);
    ASSERT_TRUE(amended.ok()) << amended.status();
  }

  int32_t PromisedAtA(GuideResolver& resolver) {
    absl::StatusOr<GuideResolver::GuidePtr> g = resolver.Resolve(kOwn, kItem);
    EXPECT_TRUE(g.ok()) << g.status();
    return g.ok() ? (*g)->promised_time_limit_days() : -1;
  }

  std::string dir_;
  std::unique_ptr<SqliteDatabase> db_a_, db_b_;
  std::unique_ptr<SqliteCatalogStore> store_a_, store_b_;
  FakeClock clock_{absl::FromUnixSeconds(1700000000)};
};

TEST_F(GuideResolverTest, WithATtlAnotherReplicasAmendmentIsUsedOnceItRunsOut) {
  GuideResolver resolver(kOwn, store_a_.get(), nullptr, &clock_, absl::Minutes(10));
  resolver.set_own_guide_ttl(absl::Seconds(1));
  EXPECT_EQ(PromisedAtA(resolver), 20);
  AmendAtB();
  EXPECT_EQ(PromisedAtA(resolver), 20);  // kept, within the TTL
  clock_.Advance(absl::Milliseconds(1001));
  EXPECT_EQ(PromisedAtA(resolver), 10);
}

TEST_F(GuideResolverTest, WithoutATtlAnOwnGuideIsKeptUntilInvalidated) {
  GuideResolver resolver(kOwn, store_a_.get(), nullptr, &clock_, absl::Minutes(10));
  EXPECT_EQ(PromisedAtA(resolver), 20);
  AmendAtB();
  clock_.Advance(absl::Hours(24));
  EXPECT_EQ(PromisedAtA(resolver), 20);
  resolver.Invalidate(kOwn, kItem);
  EXPECT_EQ(PromisedAtA(resolver), 10);
}

}  // namespace
}  // namespace tongban::node
